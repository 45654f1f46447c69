#include "feed/tick.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "ws/market_app.hpp"
#include "ws/sio_codec.hpp"

namespace zuperior::feed {

namespace {
constexpr std::size_t max_update_depth = 32;
}  // namespace

std::optional<tick> parse_tick(std::string_view text) {
  auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto sym = j.find("symbol");
  auto bid = j.find("bid");
  auto ask = j.find("ask");
  auto ts = j.find("ts");
  if (sym == j.end() || !sym->is_string() || bid == j.end() || !bid->is_number() || ask == j.end() || !ask->is_number())
    return std::nullopt;
  tick t;
  t.symbol = sym->get<std::string>();
  t.bid = bid->get<double>();
  t.ask = ask->get<double>();
  if (!ws::valid_symbol(t.symbol) || !std::isfinite(t.bid) || !std::isfinite(t.ask)) return std::nullopt;
  if (ts != j.end()) {
    if (!ts->is_number()) return std::nullopt;
    const double v = ts->get<double>();
    if (!std::isfinite(v) || v < 0 || v > 9e15) return std::nullopt;
    t.ts = static_cast<std::int64_t>(v);
  } else {
    t.ts = now_us();
  }
  if (auto seq = j.find("seq"); seq != j.end()) {
    if (!seq->is_number_unsigned()) return std::nullopt;
    t.seq = seq->get<std::uint64_t>();
  }
  return t;
}

std::string tick_json(const tick& t) {
  // Symbols are validated (no characters needing escapes), so plain formatting is valid JSON.
  if (t.seq)
    return fmt::format(R"({{"symbol":"{}","bid":{},"ask":{},"ts":{},"seq":{}}})", t.symbol, t.bid, t.ask, t.ts, *t.seq);
  return fmt::format(R"({{"symbol":"{}","bid":{},"ask":{},"ts":{}}})", t.symbol, t.bid, t.ask, t.ts);
}

std::string encode_market_update(const tick& t) { return "42[\"market:update\"," + tick_json(t) + "]"; }

std::uint64_t conflation_key(std::string_view symbol) {
  // FNV-1a; collisions would only merge two symbols' backlog for a slow client.
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : symbol) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h | 1;
}

std::optional<account_update> parse_account_update(std::string_view text) {
  // The snapshot is dumped again below, and dump() recurses once per level: one PUBLISH nested a
  // million deep overflowed the stack of every instance at once. Snapshots are flat records.
  // And an object of a million distinct keys took minutes to parse (each key is compared with the
  // ones before it).
  ws::json_refusal why;
  auto j = ws::parse_bounded(text, {.max_depth = max_update_depth}, why);
  if (why != ws::json_refusal::none || !j.is_object()) return std::nullopt;
  auto id = j.find("accountId");
  if (id == j.end()) return std::nullopt;
  account_update u;
  if (id->is_string()) {
    u.account = id->get<std::string>();
  } else if (id->is_number_integer()) {
    u.account = std::to_string(id->get<std::int64_t>());
  } else {
    return std::nullopt;
  }
  if (!ws::valid_account_id(u.account)) return std::nullopt;
  u.json = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return u;
}

std::string encode_account_update(const account_update& u) { return "42[\"account:update\"," + u.json + "]"; }

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace zuperior::feed
