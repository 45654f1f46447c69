#pragma once
// The rate-limit port the handlers use: a decision per (tier, identifier) and the response headers
// it implies. The daemon plugs in the Redis-backed limiter (lib/ratelimit, with its in-process
// fallback), one implementation for the HTTP tiers and the websocket tier alike.
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/settings.hpp"
#include "http/message.hpp"
#include "ratelimit/tier.hpp"

namespace zuperior::api {

/// The seed's four tiers: lib/ratelimit's, so both limiters speak of the same thing.
using ratelimit::tier;
using ratelimit::to_string;

/// One rate-limit decision.
struct decision {
  bool allowed = true;
  bool applied = false;  // false when limiting is disabled: no headers
  std::uint32_t limit = 0;
  std::uint32_t remaining = 0;
  std::int64_t reset_ms = 0;        // epoch milliseconds when the window frees up (the seed's `reset`)
  std::int64_t reset_after_ms = 0;  // until then, by the deciding clock (Redis' for a Redis decision)
  std::int64_t retry_after_s = 0;   // for a denied decision: seconds until a request would pass
  std::chrono::milliseconds window{0};
  std::string source = "redis";  // "redis", "local" (fallback), "open", "closed"
};

/// Decides whether a request may proceed.
class limiter {
 public:
  virtual ~limiter() = default;
  /// The decision for one event of `identifier` ("ip:…", "user:…", "email:…") in tier `t`, asked
  /// from worker `worker` (implementations may keep per-worker Redis connections).
  virtual boost::asio::awaitable<decision> check(std::size_t worker, tier t, std::string identifier) = 0;

  /// A decision and the cache entry read along with it.
  struct checked_read {
    decision d;
    bool read = false;                 // `value` is the entry's (else the caller reads it itself)
    std::optional<std::string> value;  // nullopt: no such entry
  };
  /// check() that may also read the cache entry `redis_key` (prefix included) in the same round
  /// trip when the request is allowed. This default decides only (read stays false).
  virtual boost::asio::awaitable<checked_read> check_and_get(std::size_t worker, tier t, std::string identifier,
                                                             std::string redis_key);
};

/// Adds X-RateLimit-Limit/Remaining/Reset and the IETF draft's RateLimit-Policy/RateLimit fields.
void add_rate_headers(http::response& res, const decision& d, tier t);
/// The 429 response with Retry-After and the seed's body.
http::response too_many(const http::request& req, const decision& d, tier t);

}  // namespace zuperior::api
