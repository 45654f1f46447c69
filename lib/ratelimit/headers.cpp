#include "ratelimit/headers.hpp"

namespace zuperior::ratelimit {

namespace {
std::int64_t ceil_seconds(std::int64_t ms) { return (ms + 999) / 1000; }

// A policy name is sent as an sf-string: keep it to printable ASCII without quotes or backslashes.
std::string sf_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s)
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') out += c;
  out += '"';
  return out;
}
}  // namespace

std::int64_t retry_after_seconds(const decision& d) {
  return std::max<std::int64_t>(1, ceil_seconds(d.retry_after.count()));
}

std::vector<header_field> response_headers(const decision& d, std::string_view policy, std::int64_t window_ms) {
  std::vector<header_field> h;
  h.reserve(6);
  h.push_back({"X-RateLimit-Limit", std::to_string(d.limit)});
  h.push_back({"X-RateLimit-Remaining", std::to_string(d.remaining)});
  h.push_back({"X-RateLimit-Reset", std::to_string(d.reset_at_ms())});
  const std::string name = sf_string(policy);
  h.push_back({"RateLimit-Policy", name + ";q=" + std::to_string(d.limit) +
                                       ";w=" + std::to_string(std::max<std::int64_t>(1, ceil_seconds(window_ms)))});
  h.push_back({"RateLimit",
               name + ";r=" + std::to_string(d.remaining) +
                   ";t=" + std::to_string(ceil_seconds(d.allowed ? d.reset_after.count() : d.retry_after.count()))});
  if (!d.allowed) h.push_back({"Retry-After", std::to_string(retry_after_seconds(d))});
  return h;
}

std::string too_many_requests_body(const decision& d) {
  return R"({"success":false,"message":")" + std::string(too_many_requests_message) + R"(","retryAfter":)" +
         std::to_string(retry_after_seconds(d)) + "}";
}

}  // namespace zuperior::ratelimit
