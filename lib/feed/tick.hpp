#pragma once
// The messages of the bus: market ticks {symbol,bid,ask,ts} (ts in epoch microseconds at the source)
// and account snapshots {accountId,…}, parsed from JSON and encoded once into the Engine.IO text
// packet every receiving socket shares. Pure code.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zuperior::feed {

/// One market tick.
struct tick {
  std::string symbol;
  double bid = 0;
  double ask = 0;
  std::int64_t ts = 0;               // epoch microseconds at the source
  std::optional<std::uint64_t> seq;  // the publisher's sequence number, passed through (loss checks)
};

/// Parses a tick published on the market channel; nullopt when malformed (bad JSON, missing or
/// mistyped field, invalid symbol, non-finite price).
std::optional<tick> parse_tick(std::string_view json);
/// The tick as JSON {"symbol":…,"bid":…,"ask":…,"ts":…} (and "seq" when the publisher gave one).
std::string tick_json(const tick& t);
/// The Engine.IO packet of a `market:update` event: 42["market:update",{…}].
std::string encode_market_update(const tick& t);
/// The conflation key of a symbol (never 0).
std::uint64_t conflation_key(std::string_view symbol);

/// One account snapshot.
struct account_update {
  std::string account;  // accountId
  std::string json;     // the whole snapshot, re-serialized
};
/// Parses an account update (a JSON object with a string or integer accountId); nullopt when malformed.
std::optional<account_update> parse_account_update(std::string_view json);
/// The Engine.IO packet of an `account:update` event: 42["account:update",{…}].
std::string encode_account_update(const account_update& u);

/// Epoch microseconds now.
std::int64_t now_us();

}  // namespace zuperior::feed
