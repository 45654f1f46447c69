#include "api/limits.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace zuperior::api {

local_limiter::local_limiter(const config::ratelimit_settings& s) : s_(s) {}

void local_limiter::set_tiers(const config::ratelimit_settings& s) {
  std::lock_guard lock(mu_);
  s_ = s;
}

config::rate_tier local_limiter::tier_of(tier t) const { return ratelimit::tier_settings(s_, t); }

decision local_limiter::decide(tier t, const std::string& identifier, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto tr = tier_of(t);
  decision d;
  d.source = "local";
  d.applied = s_.enabled;
  d.limit = tr.limit;
  d.window = tr.window;
  std::int64_t w = std::max<std::int64_t>(1, tr.window.count());
  if (!s_.enabled) {
    d.remaining = tr.limit;
    return d;
  }
  // Forget idle identifiers now and then so the map does not grow without bound.
  if (now_ms - last_sweep_ > 60'000) {
    for (auto it = state_.begin(); it != state_.end();)
      it = now_ms - it->second.start > 2 * 600'000 ? state_.erase(it) : std::next(it);
    last_sweep_ = now_ms;
  }
  auto& st = state_[std::string(to_string(t)) + ":" + identifier];
  std::int64_t window_start = now_ms / w * w;
  if (st.start != window_start) {
    st.previous = st.start == window_start - w ? st.current : 0;
    st.current = 0;
    st.start = window_start;
  }
  double weight = 1.0 - static_cast<double>(now_ms - window_start) / static_cast<double>(w);
  double used = st.previous * weight + st.current;
  d.reset_ms = window_start + w;
  if (used + 1 > tr.limit) {
    d.allowed = false;
    d.remaining = 0;
    d.retry_after_s = std::max<std::int64_t>(1, (d.reset_ms - now_ms + 999) / 1000);
    return d;
  }
  ++st.current;
  d.allowed = true;
  d.remaining = static_cast<std::uint32_t>(std::max(0.0, tr.limit - (used + 1)));
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
