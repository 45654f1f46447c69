#pragma once
// The product's Socket.IO application on the default namespace: JWT at connect, account and market
// subscriptions, the `websocket` event rate limit. Every check against the outside world (JWT,
// database, cache, rate limits) is injected, so the module stays testable without services.
#include <functional>
#include <optional>
#include <string>

#include "ws/server.hpp"

namespace zuperior::ws {

/// Who a valid token names.
struct token_identity {
  std::string user;      // the user id (`sub`)
  std::string token_id;  // the token's `jti` (empty when it has none): a logout disconnects its sockets
};

/// What the `websocket` tier says of one inbound event.
enum class event_verdict {
  allowed,
  limited,      // over the limit: counts towards max_violations
  unavailable,  // refused because the limit cannot be checked (fallback "closed"): not the client's fault
};

/// The product checks, wired by the daemon to lib/auth, the database, Redis and the rate limiter.
struct market_checks {
  /// Verifies a JWT; nullopt when invalid, expired or revoked.
  std::function<std::optional<token_identity>(const std::string& token)> authenticate;
  /// Whether the user owns the account (database); nullopt when that cannot be checked now.
  std::function<boost::asio::awaitable<std::optional<bool>>(std::string user, std::string account)> owns_account;
  /// The cached `balance:<account>` JSON, if any.
  std::function<boost::asio::awaitable<std::optional<std::string>>(std::string account)> cached_balance;
  /// Counts one inbound event against the user's `websocket` tier (in Redis, shared by every
  /// instance) from the socket's worker.
  std::function<boost::asio::awaitable<event_verdict>(std::string user, std::size_t worker)> allow_event;
  /// Counts one connect attempt from this client address; false when over the limit.
  std::function<bool(const std::string& ip)> allow_connect;
  /// Optional: whether a market symbol is known (configured symbol list); empty = any valid name.
  std::function<bool(const std::string& symbol)> known_symbol;
};

/// Limits of the product application.
struct market_limits {
  std::size_t max_symbols_per_socket = 100;
  std::uint32_t max_violations = 5;  // rate-limit refusals in a row before disconnect
  std::string cookie_name = "token";
};

/// True for a valid market symbol name (1-32 characters of A-Z a-z 0-9 . _ - / #).
bool valid_symbol(std::string_view s);
/// True for a valid account id (1-64 characters of A-Z a-z 0-9 _ -).
bool valid_account_id(std::string_view s);
/// The longest event name echoed back in an `error` event (longer ones are cut).
inline constexpr std::size_t max_echoed_event_name = 64;
/// A client's event name as the `error` event repeats it: at most max_echoed_event_name bytes,
/// cut on a UTF-8 character boundary.
std::string_view echoed_event_name(std::string_view event);
/// The account id an account event names: its first argument, a string or an integer (the
/// terminal sends MT5 logins as numbers); empty when there is none.
std::string account_arg(const json& args);
/// The room of a market symbol.
std::string market_room(std::string_view symbol);
/// The room of an account.
std::string account_room(std::string_view account);
/// The account id of an account room; empty for any other room.
std::string_view account_in_room(std::string_view room);

/// The default namespace of `serve`.
class market_app : public app {
 public:
  market_app(market_checks checks, market_limits limits);
  /// Authenticates the CONNECT (auth.token, else the token cookie) and applies the per-IP connect limit.
  boost::asio::awaitable<std::optional<std::string>> on_connect(std::shared_ptr<socket> s) override;
  /// subscribe:/unsubscribe: account and market events.
  boost::asio::awaitable<void> on_event(std::shared_ptr<socket> s, std::string event, json args,
                                        std::optional<std::uint64_t> ack) override;
  /// Ends one account subscription the server no longer allows (the account changed owner, the
  /// user is no longer active): the socket leaves the room and gets an error event naming it.
  static void end_account_subscription(const std::shared_ptr<socket>& s, std::string_view account);

 private:
  boost::asio::awaitable<void> subscribe_account(std::shared_ptr<socket> s, const json& args,
                                                 std::optional<std::uint64_t> ack);
  void market(const std::shared_ptr<socket>& s, const json& args, std::optional<std::uint64_t> ack, bool subscribe);
  /// The refusal: in the ack when the client asked for one, else an error event naming the event
  /// (and `account` when not empty).
  static void fail(const std::shared_ptr<socket>& s, std::optional<std::uint64_t> ack, std::string_view event,
                   std::string_view message, std::string_view account = {});
  market_checks checks_;
  market_limits limits_;
};

}  // namespace zuperior::ws
