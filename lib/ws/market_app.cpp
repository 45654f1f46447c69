#include "ws/market_app.hpp"

namespace zuperior::ws {

bool valid_symbol(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == '/' || c == '#';
    if (!ok) return false;
  }
  return true;
}

bool valid_account_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string account_arg(const json& args) {
  if (args.empty()) return {};
  if (args[0].is_string()) return args[0].get<std::string>();
  if (args[0].is_number_integer()) return std::to_string(args[0].get<std::int64_t>());
  return {};
}

std::string market_room(std::string_view symbol) { return "market:" + std::string(symbol); }
constexpr std::string_view account_room_prefix = "account:";

std::string account_room(std::string_view account) { return std::string(account_room_prefix) + std::string(account); }

std::string_view account_in_room(std::string_view room) {
  return room.starts_with(account_room_prefix) ? room.substr(account_room_prefix.size()) : std::string_view();
}

market_app::market_app(market_checks checks, market_limits limits)
    : checks_(std::move(checks)), limits_(std::move(limits)) {}

boost::asio::awaitable<std::optional<std::string>> market_app::on_connect(std::shared_ptr<socket> s) {
  if (checks_.allow_connect && !checks_.allow_connect(s->client_ip())) co_return "Too many connections";
  std::string token;
  if (s->auth().is_object()) {
    auto it = s->auth().find("token");
    if (it != s->auth().end() && it->is_string()) token = it->get<std::string>();
  }
  if (token.empty()) token = s->cookie(limits_.cookie_name);
  if (token.empty()) co_return "Authentication error: token missing";
  auto user = checks_.authenticate ? checks_.authenticate(token) : std::nullopt;
  if (!user) co_return "Authentication error: invalid token";
  s->user_id = std::move(user->user);
  s->token_id = std::move(user->token_id);
  co_return std::nullopt;
}

std::string_view echoed_event_name(std::string_view event) {
  // The name comes from the client and may be as long as max_payload: echoed whole, every unknown
  // event of up to 1 MB queued a 1 MB error frame, and a client that never reads grew the daemon by
  // that much per event. Cut on a UTF-8 character boundary.
  if (event.size() <= max_echoed_event_name) return event;
  std::size_t n = max_echoed_event_name;
  while (n > 0 && (static_cast<unsigned char>(event[n]) & 0xC0) == 0x80) --n;
  return event.substr(0, n);
}

void market_app::fail(const std::shared_ptr<socket>& s, std::optional<std::uint64_t> ack, std::string_view event,
                      std::string_view message, std::string_view account) {
  json body = json::object();
  body["ok"] = false;
  body["error"] = std::string(message);
  if (ack) {
    s->ack(*ack, json::array({body}));
  } else {
    body["event"] = std::string(echoed_event_name(event));
    if (!account.empty()) body["accountId"] = std::string(account);
    s->emit("error", json::array({body}));
  }
}

boost::asio::awaitable<void> market_app::on_event(std::shared_ptr<socket> s, std::string event, json args,
                                                  std::optional<std::uint64_t> ack) {
  // Plain statements around co_await: GCC 12 miscompiles co_await inside a conditional expression.
  event_verdict verdict = event_verdict::allowed;
  if (checks_.allow_event) verdict = co_await checks_.allow_event(s->user_id, s->worker());
  if (!s->connected()) co_return;
  if (verdict == event_verdict::unavailable) {
    fail(s, ack, event, "unavailable: the rate limit cannot be checked now, try again");
    co_return;
  }
  // Persistent abuse is refusals in a row: one allowed event in between starts the count again,
  // so the odd burst over a long session never adds up to a disconnect (after which the stock
  // client does not reconnect).
  if (verdict == event_verdict::limited) {
    fail(s, ack, event, "rate limit exceeded");
    if (++s->violations >= limits_.max_violations) s->disconnect();
    co_return;
  }
  s->violations = 0;
  if (event == "subscribe:account") {
    co_await subscribe_account(s, args, ack);
  } else if (event == "unsubscribe:account") {
    const std::string account = account_arg(args);
    if (!valid_account_id(account)) {
      fail(s, ack, event, "invalid account id");
      co_return;
    }
    s->leave(account_room(account));
    if (ack) s->ack(*ack, json::array({json{{"ok", true}}}));
  } else if (event == "subscribe:market") {
    market(s, args, ack, true);
  } else if (event == "unsubscribe:market") {
    market(s, args, ack, false);
  } else {
    fail(s, ack, event, "unknown event");
  }
}

void market_app::end_account_subscription(const std::shared_ptr<socket>& s, std::string_view account) {
  s->leave(account_room(account));
  fail(s, std::nullopt, "subscribe:account", "forbidden: the account is no longer yours to follow", account);
}

boost::asio::awaitable<void> market_app::subscribe_account(std::shared_ptr<socket> s, const json& args,
                                                           std::optional<std::uint64_t> ack) {
  const std::string_view event = "subscribe:account";
  const std::string account = account_arg(args);
  if (!valid_account_id(account)) {
    fail(s, ack, event, "invalid account id");
    co_return;
  }
  // Plain statements around co_await: GCC 12 miscompiles co_await inside a conditional expression.
  std::optional<bool> owner = false;
  if (checks_.owns_account) owner = co_await checks_.owns_account(s->user_id, account);
  if (!s->connected()) co_return;
  if (!owner) {
    // Refused either way (fail closed), but not called "not yours" when the database is away.
    fail(s, ack, event, "unavailable: cannot check the account now, try again");
    co_return;
  }
  if (!*owner) {
    fail(s, ack, event, "forbidden: not your account");
    co_return;
  }
  const std::string room = account_room(account);
  s->join(room);
  const std::uint64_t frames_before = s->room_frames(room);
  std::optional<std::string> cached;
  if (checks_.cached_balance) cached = co_await checks_.cached_balance(account);
  if (!s->connected()) co_return;
  if (!s->in(room)) {
    // The periodic re-check ended the subscription while the balance was read (it sent the error
    // event): its snapshot is not this user's to see any more.
    if (ack) fail(s, ack, event, "forbidden: the account is no longer yours to follow");
    co_return;
  }
  // An update broadcast to the room while the cached balance was read is at least as new as it:
  // the feed broadcasts before it writes balance:<id>, so the read may return the value before
  // that update, and sent after it the older balance would stay on the client's screen.
  if (cached && s->room_frames(room) != frames_before) cached.reset();
  if (cached) {
    json snapshot = json::parse(*cached, nullptr, false);
    if (!snapshot.is_discarded()) s->emit("account:update", json::array({std::move(snapshot)}));
  }
  if (ack) s->ack(*ack, json::array({json{{"ok", true}, {"accountId", account}}}));
}

void market_app::market(const std::shared_ptr<socket>& s, const json& args, std::optional<std::uint64_t> ack,
                        bool subscribe) {
  const std::string_view event = subscribe ? "subscribe:market" : "unsubscribe:market";
  std::vector<std::string> symbols;
  const json list = !args.empty() && args[0].is_array() ? args[0] : args;
  for (const auto& v : list) {
    if (!v.is_string() || !valid_symbol(v.get<std::string>())) {
      fail(s, ack, event, "invalid symbol");
      return;
    }
    if (checks_.known_symbol && subscribe && !checks_.known_symbol(v.get<std::string>())) {
      fail(s, ack, event, "unknown symbol " + v.get<std::string>());
      return;
    }
    symbols.push_back(v.get<std::string>());
  }
  if (symbols.empty() || symbols.size() > limits_.max_symbols_per_socket) {
    fail(s, ack, event, "expected an array of 1 to " + std::to_string(limits_.max_symbols_per_socket) + " symbols");
    return;
  }
  if (subscribe) {
    std::size_t have = 0;
    for (const auto& r : s->rooms())
      if (r.rfind("market:", 0) == 0) ++have;
    std::size_t adding = 0;
    for (const auto& sym : symbols)
      if (!s->in(market_room(sym))) ++adding;
    if (have + adding > limits_.max_symbols_per_socket) {
      fail(s, ack, event, "too many symbols (limit " + std::to_string(limits_.max_symbols_per_socket) + ")");
      return;
    }
    for (const auto& sym : symbols) s->join(market_room(sym));
  } else {
    for (const auto& sym : symbols) s->leave(market_room(sym));
  }
  if (ack) s->ack(*ack, json::array({json{{"ok", true}, {"symbols", symbols}}}));
}

}  // namespace zuperior::ws
