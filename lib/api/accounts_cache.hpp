#pragma once
// The read-through cache of GET /apis/accounts in Redis: the whole JSON answer under
// `accounts:<userId>` with a TTL, plus an owner index `account-owner:<accountId>` → userId so an
// account update published on the bus (market.account_channel, by the MT5 bridge) drops exactly the
// answer that lists that account, on every instance. Dropping also sets a short fence
// (`accounts-fence:<userId>`, and `account-fence:<accountId>` for the account updated, longer than
// statement_timeout) during which nothing is stored for that user or listing that account: a read
// that took its rows before the change cannot put them back after the drop. When the pub/sub link
// (re)connects, every cached answer goes: updates published while it was down are lost.
// Redis being down only means no caching.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::cache {
class async_client;
class subscriber;
struct client_options;
}  // namespace zuperior::cache

namespace zuperior::api {

/// The cache key of a user's GET /apis/accounts answer (before the key prefix).
std::string accounts_cache_key(std::string_view user_id);

/// The owner index key of an MT5 account (before the key prefix).
std::string account_owner_key(std::string_view account_id);

/// Stores a user's answer and the owner index of its accounts for `ttl`, in one round trip; false
/// when Redis did not take it or the user's fence stands.
boost::asio::awaitable<bool> store_accounts(std::shared_ptr<cache::async_client> client, std::string user_id,
                                            std::string body, std::vector<std::string> account_ids,
                                            std::chrono::seconds ttl);

/// Drops a user's cached answer and fences it for `fence` (after a write that changes the user's
/// accounts; `fence` should exceed statement_timeout).
boost::asio::awaitable<bool> invalidate_user_accounts(std::shared_ptr<cache::async_client> client, std::string user_id,
                                                      std::chrono::milliseconds fence);

/// After an update of `account_id`: fences the account (no answer listing it is stored for
/// `fence`) and drops (and fences) the cached answer listing it, found by the owner index or else
/// by `user_id` (the owner the update names; may be empty). True when an answer was dropped.
boost::asio::awaitable<bool> invalidate_account(std::shared_ptr<cache::async_client> client, std::string account_id,
                                                std::chrono::milliseconds fence, std::string user_id = {});

/// Drops every cached answer (SCAN + UNLINK), when account updates may have been missed.
boost::asio::awaitable<void> drop_all_accounts(std::shared_ptr<cache::async_client> client);

/// How long a dropped answer stays fenced: longer than any statement that may have read old rows.
inline std::chrono::milliseconds fence_for(std::chrono::milliseconds statement_timeout) {
  return statement_timeout + std::chrono::seconds(2);
}

/// What an account-update message (a JSON object) names: `accountId` and, when given, `userId`
/// (each a string or an integer); empty strings for what it does not name.
struct account_update_ref {
  std::string account_id;
  std::string user_id;
};
account_update_ref account_update_of(std::string_view payload);

/// Listens to the account channel on its own pub/sub connection and invalidates through `client`.
class account_update_listener {
 public:
  /// Subscribes `channel` on `ex` with the configured Redis; `client` runs the invalidations,
  /// each fencing the answer for `fence`.
  account_update_listener(boost::asio::any_io_executor ex, const cache::client_options& opts, std::string channel,
                          std::shared_ptr<cache::async_client> client, std::chrono::milliseconds fence);
  ~account_update_listener();
  account_update_listener(const account_update_listener&) = delete;
  account_update_listener& operator=(const account_update_listener&) = delete;
  /// Connects and subscribes in the background (reconnecting by itself).
  void start();
  /// Closes the pub/sub connection. Idempotent.
  void stop();

 private:
  boost::asio::any_io_executor ex_;
  std::string channel_;
  std::shared_ptr<cache::subscriber> sub_;
  std::shared_ptr<cache::async_client> client_;
  std::chrono::milliseconds fence_;
};

}  // namespace zuperior::api
