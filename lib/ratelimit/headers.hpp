#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ratelimit/window.hpp"

namespace zuperior::ratelimit {

/// One response header field.
struct header_field {
  std::string name;
  std::string value;
};

/// The message of the seed's 429 body.
inline constexpr std::string_view too_many_requests_message = "Too many requests. Please try again later.";

/// Retry-After in whole seconds, rounded up, at least 1 (for a denied decision).
std::int64_t retry_after_seconds(const decision& d);

/// The headers every limited route sends:
///   X-RateLimit-Limit: <limit>
///   X-RateLimit-Remaining: <remaining>
///   X-RateLimit-Reset: <Unix time in ms when the current window ends>  (the seed's value, as Upstash returns it)
///   RateLimit-Policy: "<policy>";q=<limit>;w=<window seconds>          (IETF draft-ietf-httpapi-ratelimit-headers)
///   RateLimit: "<policy>";r=<remaining>;t=<seconds until reset>
/// plus, when denied, Retry-After: <seconds>.
std::vector<header_field> response_headers(const decision& d, std::string_view policy, std::int64_t window_ms);

/// The seed's 429 body: {"success":false,"message":"Too many requests. Please try again
/// later.","retryAfter":<seconds>}. (The seed put Upstash's reset timestamp there; seconds, as in Retry-After, is what
/// a client can act on.)
std::string too_many_requests_body(const decision& d);

}  // namespace zuperior::ratelimit
