#pragma once
// Logged-out tokens, refused by every instance until they expire. A logout adds the token's `jti`
// to the sorted set `<redis.key_prefix>revoked-tokens` in Redis (score: when the token would expire)
// and publishes it on the channel of the same name; each instance keeps the ids in memory
// (auth::revocation_list), so checking a token costs no round trip. After each (re)connection of
// its pub/sub link an instance reads the set again, so a revocation made while it was away is not
// missed. With Redis down a logout still revokes the token on the instance that served it.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace zuperior::cache {
class async_client;
class subscriber;
struct client_options;
}  // namespace zuperior::cache
namespace zuperior::metrics {
class registry;
}

namespace zuperior::api {

/// The Redis key and channel of the revoked token ids (before the key prefix).
inline constexpr std::string_view revoked_tokens_key = "revoked-tokens";

class revocations {
 public:
  /// Listens on `ex` with the configured Redis; `client` (on the same executor) reads the set.
  revocations(boost::asio::any_io_executor ex, const cache::client_options& opts,
              std::shared_ptr<cache::async_client> client, metrics::registry* registry);
  ~revocations();
  revocations(const revocations&) = delete;
  revocations& operator=(const revocations&) = delete;
  /// `fn` is told of each id newly revoked here (a logout on this instance, one announced by
  /// another, one read from the set after a reconnect), on the thread that learnt of it: the
  /// real-time layer disconnects the sockets that connected with that token. Set before start().
  void on_revoked(std::function<void(std::string_view jti)> fn);
  /// Subscribes and loads the set in the background (again after each reconnect).
  void start();
  /// Closes the pub/sub link. Idempotent.
  void stop();

  /// Whether the token with this `jti` was revoked (no I/O; for network threads).
  bool revoked(std::string_view jti) const;
  /// Revokes `jti` until `until` (seconds since the epoch) here at once and, through `client`
  /// (a worker's own connection), on every instance. False when Redis did not take it.
  /// `request_id` names the request in the log lines it writes.
  boost::asio::awaitable<bool> revoke(std::shared_ptr<cache::async_client> client, std::string jti, std::int64_t until,
                                      std::string request_id = {});

  struct state;

 private:
  std::shared_ptr<state> state_;  // shared with the callbacks, which may outlive this object briefly
  std::shared_ptr<cache::subscriber> sub_;
};

}  // namespace zuperior::api
