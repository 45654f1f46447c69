#include "api/limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

namespace zuperior::api {

boost::asio::awaitable<limiter::checked_read> limiter::check_and_get(std::size_t worker, tier t, std::string identifier,
                                                                     std::string) {
  checked_read out;
  out.d = co_await check(worker, t, std::move(identifier));
  co_return out;
}

namespace {
// A small text built on the stack: the rate headers are set on every limited answer.
struct field_text {
  char buf[96];
  std::size_t n = 0;
  field_text& operator<<(std::string_view s) {
    auto k = std::min(s.size(), sizeof buf - n);
    std::memcpy(buf + n, s.data(), k);
    n += k;
    return *this;
  }
  field_text& operator<<(std::int64_t v) {
    auto r = std::to_chars(buf + n, buf + sizeof buf, v);
    if (r.ec == std::errc()) n = static_cast<std::size_t>(r.ptr - buf);
    return *this;
  }
  std::string_view view() const { return {buf, n}; }
};

std::string_view number(char (&buf)[24], std::int64_t v) {
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return {buf, static_cast<std::size_t>(r.ptr - buf)};
}
}  // namespace

void add_rate_headers(http::response& res, const decision& d, tier t) {
  if (!d.applied) return;
  char buf[24];
  res.set("X-RateLimit-Limit", number(buf, d.limit));
  res.set("X-RateLimit-Remaining", number(buf, d.remaining));
  res.set("X-RateLimit-Reset", number(buf, d.reset_ms));
  // From the deciding clock alone: reset_ms is Redis' TIME plus the rest of the window, and this
  // host's clock subtracted from it put the skew between the two into `t`.
  auto reset_s = std::max<std::int64_t>(0, (d.reset_after_ms + 999) / 1000);
  auto window_s = std::max<std::int64_t>(1, d.window.count() / 1000);
  auto name = to_string(t);
  field_text policy;
  policy << "\"" << name << "\";q=" << std::int64_t{d.limit} << ";w=" << window_s;
  res.set("RateLimit-Policy", policy.view());
  field_text now;
  now << "\"" << name << "\";r=" << std::int64_t{d.remaining} << ";t=" << reset_s;
  res.set("RateLimit", now.view());
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
