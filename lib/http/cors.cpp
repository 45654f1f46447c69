#include "http/cors.hpp"

#include <boost/beast/http/field.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>

#include "core/strings.hpp"

namespace zuperior::http {
namespace {
std::string_view strip_slash(std::string_view s) {
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}
}  // namespace

cors_policy::cors_policy(std::vector<std::string> origins) {
  for (auto& o : origins) {
    if (o == "*")
      any_ = true;
    else if (!o.empty())
      origins_.emplace_back(strip_slash(o));
  }
}

bool cors_policy::allowed(std::string_view origin) const {
  if (origin.empty()) return false;
  if (any_) return true;
  origin = strip_slash(origin);
  for (const auto& o : origins_)
    if (o == origin) return true;
  return false;
}

namespace {
// The host of an Origin ("https://host:port") or a Host header ("host:port", "[v6]:port"), lower case.
std::string host_only(std::string_view s) {
  if (const auto scheme = s.find("://"); scheme != std::string_view::npos) s.remove_prefix(scheme + 3);
  if (!s.empty() && s.front() == '[') {
    s = s.substr(0, s.find(']') + 1);
  } else {
    s = s.substr(0, s.find_first_of(":/"));
  }
  return core::to_lower(s);
}
}  // namespace

bool cors_policy::cookie_allowed(const request& req) const {
  const auto it = req.find(boost::beast::http::field::origin);
  if (it == req.end()) return true;
  const std::string_view origin = strip_slash(std::string_view(it->value().data(), it->value().size()));
  for (const auto& o : origins_)
    if (o == origin) return true;
  const std::string_view host(req[boost::beast::http::field::host].data(), req[boost::beast::http::field::host].size());
  if (host.empty() || origin.find("://") == std::string_view::npos) return false;  // "null", garbage
  const std::string h = host_only(origin);
  if (h.empty() || h != host_only(host)) return false;
  // Served over https (the proxy says so), a plain-http page of the same host is not the same
  // site's: a network attacker can serve one where HSTS is not set.
  const auto proto = req.find("X-Forwarded-Proto");
  if (proto != req.end() && core::iequals(std::string_view(proto->value().data(), proto->value().size()), "https"))
    return core::iequals(origin.substr(0, 8), "https://");
  return true;
}

bool cors_policy::is_preflight(const request& req) {
  return req.method() == verb::options &&
         req.find(boost::beast::http::field::access_control_request_method) != req.end();
}

response cors_policy::preflight(const request& req) const {
  namespace f = boost::beast::http;
  auto origin = req[f::field::origin];
  response res{allowed(origin) ? status::no_content : status::forbidden, req.version()};
  res.keep_alive(req.keep_alive());
  if (res.result() == status::no_content) {
    decorate(req, res);
    res.set(f::field::access_control_allow_methods, "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    auto asked = req[f::field::access_control_request_headers];
    if (asked.empty())
      res.set(f::field::access_control_allow_headers, "Content-Type, Authorization, X-Request-Id");
    else
      res.set(f::field::access_control_allow_headers, asked);
    res.set(f::field::access_control_max_age, "600");
  }
  return res;
}

void cors_policy::decorate(const request& req, response& res) const {
  namespace f = boost::beast::http;
  auto origin = req[f::field::origin];
  if (!allowed(origin)) return;
  res.set(f::field::access_control_allow_origin, origin);
  res.set(f::field::access_control_allow_credentials, "true");
  res.set(f::field::access_control_expose_headers,
          "X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, RateLimit, "
          "RateLimit-Policy");
  res.set(f::field::vary, "Origin");
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string new_request_id() {
  // A random per-process base plus a counter: unique, cheap, and not guessable across restarts.
  static const std::uint64_t base = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
           static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }();
  // Each thread counts in its own stride of the sequence: no shared cache line per request.
  static std::atomic<std::uint64_t> next_thread{0};
  thread_local std::uint64_t counter = next_thread.fetch_add(1, std::memory_order_relaxed) << 40;
  std::uint64_t v = base + (counter++) * 0x9E3779B97F4A7C15ull;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = hex[v & 0xf];
  return out;
}

}  // namespace zuperior::http
