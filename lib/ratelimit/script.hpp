#pragma once
#include <string>
#include <string_view>

namespace zuperior::ratelimit {

/// The Lua script that makes one decision atomically in Redis.
/// KEYS[1] = the identifier's state hash; ARGV = limit, window_ms, cost.
/// Uses Redis' own clock (TIME), so instances with skewed clocks still share one window.
/// Replies {allowed (0|1), current, previous, window index, now_ms}.
std::string_view script_source();
/// SHA-1 of script_source() in lower-case hex, as SCRIPT LOAD returns it and EVALSHA takes it.
const std::string& script_sha1();
/// Lower-case hex SHA-1 of `data`.
std::string sha1_hex(std::string_view data);

}  // namespace zuperior::ratelimit
