#include "api/limits.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace zuperior::api {

local_limiter::local_limiter(const config::ratelimit_settings& s) : s_(s) {}

void local_limiter::set_tiers(const config::ratelimit_settings& s) {
  std::lock_guard lock(mu_);
  s_ = s;
}

decision local_limiter::decide(tier t, const std::string& identifier, std::int64_t now_ms) {
  config::rate_tier tr;
  bool enabled = false;
  {
    std::lock_guard lock(mu_);
    tr = ratelimit::tier_settings(s_, t);
    enabled = s_.enabled;
  }
  decision d;
  d.source = "local";
  d.applied = enabled;
  d.limit = tr.limit;
  d.window = tr.window;
  if (!enabled) {
    d.remaining = tr.limit;
    return d;
  }
  std::string key(to_string(t));
  key += ':';
  key += identifier;
  auto r = windows_->decide(key, tr.limit, std::max<std::int64_t>(1, tr.window.count()), 1, now_ms);
  d.allowed = r.allowed;
  d.remaining = r.remaining;
  d.reset_ms = r.reset_at_ms();
  if (!r.allowed) d.retry_after_s = std::max<std::int64_t>(1, (r.retry_after.count() + 999) / 1000);
  return d;
}

boost::asio::awaitable<decision> local_limiter::check(std::size_t, tier t, std::string identifier) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  co_return decide(t, identifier, now.count());
}

void add_rate_headers(http::response& res, const decision& d, tier t) {
  if (!d.applied) return;
  res.set("X-RateLimit-Limit", std::to_string(d.limit));
  res.set("X-RateLimit-Remaining", std::to_string(d.remaining));
  res.set("X-RateLimit-Reset", std::to_string(d.reset_ms));
  auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto reset_s = std::max<std::int64_t>(0, (d.reset_ms - now_ms + 999) / 1000);
  auto window_s = std::max<std::int64_t>(1, d.window.count() / 1000);
  res.set("RateLimit-Policy", fmt::format("\"{}\";q={};w={}", to_string(t), d.limit, window_s));
  res.set("RateLimit", fmt::format("\"{}\";r={};t={}", to_string(t), d.remaining, reset_s));
}

http::response too_many(const http::request& req, const decision& d, tier t) {
  auto retry_s = std::max<std::int64_t>(1, d.retry_after_s);
  auto res = http::json_response(
      req, http::status::too_many_requests,
      fmt::format("{{\"success\":false,\"message\":\"Too many requests. Please try again later.\",\"retryAfter\":{}}}",
                  retry_s));
  add_rate_headers(res, d, t);
  res.set("Retry-After", std::to_string(retry_s));
  return res;
}

}  // namespace zuperior::api
