#pragma once
// The rate-limit port the handlers use: a decision per (tier, identifier) and the response headers
// it implies. The daemon plugs in the Redis-backed limiter (lib/ratelimit) when it is built; the
// in-process local_limiter here is the same sliding-window arithmetic without Redis.
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

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
  std::int64_t reset_ms = 0;       // epoch milliseconds when the window frees up (the seed's `reset`)
  std::int64_t retry_after_s = 0;  // for a denied decision: seconds until a request would pass
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
};

/// An in-process sliding-window limiter (the seed's algorithm: previous window weighted by the
/// part of it still inside the sliding window, plus the current window). Thread-safe.
class local_limiter final : public limiter {
 public:
  /// Tiers from the ratelimit section.
  explicit local_limiter(const config::ratelimit_settings& s);
  boost::asio::awaitable<decision> check(std::size_t worker, tier t, std::string identifier) override;
  /// The decision at `now_ms` (epoch milliseconds); the pure part, for tests and for the fallback.
  decision decide(tier t, const std::string& identifier, std::int64_t now_ms);
  /// Replaces the tiers (SIGHUP reload).
  void set_tiers(const config::ratelimit_settings& s);

 private:
  struct window_state {
    std::int64_t start = 0;
    std::uint32_t current = 0;
    std::uint32_t previous = 0;
  };
  config::rate_tier tier_of(tier t) const;
  std::mutex mu_;
  config::ratelimit_settings s_;
  std::unordered_map<std::string, window_state> state_;
  std::int64_t last_sweep_ = 0;
};

/// Adds X-RateLimit-Limit/Remaining/Reset and the IETF draft's RateLimit-Policy/RateLimit fields.
void add_rate_headers(http::response& res, const decision& d, tier t);
/// The 429 response with Retry-After and the seed's body.
http::response too_many(const http::request& req, const decision& d, tier t);

}  // namespace zuperior::api
