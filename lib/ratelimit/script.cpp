#include "ratelimit/script.hpp"

#include <openssl/evp.h>

namespace zuperior::ratelimit {

namespace {

// Mirrors step() in window.cpp line by line (same floating-point expression), so the local
// fallback and Redis decide identically. Written for Redis' cost: the common case (same window, let
// through) is TIME, HMGET and one HINCRBY by the caller's own ARGV text. Lua numbers handed to
// redis.call are formatted with "%.17g", which costs more than the rest of the script, so the whole
// state and its expiry (PEXPIREAT the end of the next window, when this one stops mattering) are
// written only when the window moves. With a second key (check_and_get) an allowed request also
// reads that key (GET; a value of another type reads as nil) and returns it last, so a rate-limited
// cache read is one round trip and one command for Redis to parse.
constexpr std::string_view source = R"LUA(
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
if window <= 0 then window = 1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idx = math.floor(now / window)
local s = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w = tonumber(s[1])
local cur = tonumber(s[2]) or 0
local prev = tonumber(s[3]) or 0
local moved = true
if w == nil then
  cur, prev = 0, 0
elseif w == idx - 1 then
  prev, cur = cur, 0
elseif w < idx - 1 then
  cur, prev = 0, 0
else
  moved = false
  if w > idx then idx = w end
end
local elapsed = now - idx * window
if elapsed < 0 then elapsed = 0 end
local allowed = 0
if prev * ((window - elapsed) / window) + cur + cost <= limit then
  allowed = 1
  cur = cur + cost
  if not moved then redis.call('HINCRBY', KEYS[1], 'c', ARGV[3]) end
end
if moved then
  redis.call('HSET', KEYS[1], 'w', idx, 'c', cur, 'p', prev)
  redis.call('PEXPIREAT', KEYS[1], (idx + 2) * window)
end
local v = false
if allowed == 1 and KEYS[2] then
  local r = redis.pcall('GET', KEYS[2])
  if type(r) == 'string' then v = r end
end
return {allowed, cur, prev, idx, now, v}
)LUA";

}  // namespace

std::string_view script_source() { return source; }

std::string sha1_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha1(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(static_cast<std::size_t>(n) * 2);
  for (unsigned int i = 0; i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

const std::string& script_sha1() {
  static const std::string sha = sha1_hex(source);
  return sha;
}

}  // namespace zuperior::ratelimit
