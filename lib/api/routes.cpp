#include "api/routes.hpp"

#include <boost/beast/http/field.hpp>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>
#include <nlohmann/json.hpp>

#include "api/limits.hpp"
#include "core/strings.hpp"
#include "health/checker.hpp"
#include "http/client_ip.hpp"
#include "http/error.hpp"
#include "metrics/registry.hpp"

namespace zuperior::api {
namespace {

using boost::asio::awaitable;
using http::request_context;
using http::response;

// "YYYY-MM-DDTHH:MM:SS.mmmZ" for epoch milliseconds `ms`, appended to `out`. The date part is
// remembered per thread and second: no strftime/fmt per request.
void append_iso(std::string& out, std::int64_t ms) {
  thread_local std::int64_t cached_sec = INT64_MIN;
  thread_local char date[20];  // "YYYY-MM-DDTHH:MM:SS"
  std::int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  if (sec != cached_sec) {
    std::time_t secs = static_cast<std::time_t>(sec);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_sec = sec;
  }
  out.append(date, 19);
  auto milli = static_cast<unsigned>(ms - sec * 1000);
  char tail[5] = {'.', static_cast<char>('0' + milli / 100), static_cast<char>('0' + milli / 10 % 10),
                  static_cast<char>('0' + milli % 10), 'Z'};
  out.append(tail, 5);
}

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Microseconds as milliseconds with three decimals (what fmt's {:.3f} of us/1000.0 prints).
void append_ms3(std::string& out, std::int64_t us) {
  if (us < 0) {
    out += '-';
    us = -us;
  }
  core::append_number(out, us / 1000);
  auto f = static_cast<unsigned>(us % 1000);
  char tail[4] = {'.', static_cast<char>('0' + f / 100), static_cast<char>('0' + f / 10 % 10),
                  static_cast<char>('0' + f % 10)};
  out.append(tail, 4);
}

// A client whose own address is known and in server.internal_networks. A request forwarded by a
// peer that is not a trusted proxy (or with an unreadable chain) is not: its address is a proxy's
// or a NAT's, private though the client is not.
bool is_internal(const services& s, const request_context& ctx) {
  return s.internal && ctx.address_known && s.internal->contains(ctx.client_ip);
}

awaitable<response> livez(request_context& ctx) {
  co_return http::json_response(ctx.req, http::status::ok, "{\"status\":\"ok\"}");
}

// Public and cheap, but still an API route: the generous tier per client (the seed's middleware
// limits every API route; standard's 100/min per address would throttle offices behind one NAT).
awaitable<response> time_route(services& s, request_context& ctx) {
  decision d;
  if (s.limits) {
    d = co_await s.limits->check(ctx.worker, tier::generous, ctx.identity);
    if (!d.allowed) co_return too_many(ctx.req, d, tier::generous);
  }
  std::string body = "{\"serverTime\":\"";
  append_iso(body, epoch_ms());
  body += "\"}";
  auto res = http::json_response(ctx.req, http::status::ok, std::move(body));
  if (d.applied) add_rate_headers(res, d, tier::generous);
  co_return res;
}

awaitable<response> readyz(services& s, request_context& ctx) {
  bool ready = s.ready && s.ready->load(std::memory_order_relaxed);
  co_return http::json_response(ctx.req, ready ? http::status::ok : http::status::service_unavailable,
                                ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\"}");
}

awaitable<response> health_route(services& s, request_context& ctx) {
  // The body only changes with the snapshot, and its timestamp/ageMs with the millisecond: built
  // once per worker thread and millisecond, reused by the requests in between.
  // The dependencies' error texts (host names, addresses, server messages) only for internal
  // clients: the route is public, behind the proxy too.
  const bool internal = is_internal(s, ctx);
  thread_local const health::checker* cached_for[2] = {nullptr, nullptr};
  thread_local std::int64_t cached_ms[2] = {INT64_MIN, INT64_MIN};
  thread_local std::pair<std::string, bool> cached[2];
  auto now = epoch_ms();
  if (cached_for[internal] != s.health || cached_ms[internal] != now) {
    cached[internal] = health_body(*s.health, now, internal);
    cached_for[internal] = s.health;
    cached_ms[internal] = now;
  }
  const auto& body = cached[internal];
  co_return http::json_response(ctx.req, body.second ? http::status::ok : http::status::service_unavailable,
                                body.first);
}

awaitable<response> metrics_route(services& s, request_context& ctx) {
  if (!is_internal(s, ctx)) co_return http::error_response(ctx.req, http::errc::forbidden, "Forbidden");
  co_return http::text_response(ctx.req, http::status::ok, s.metrics->render(), metrics::content_type);
}

}  // namespace

std::pair<std::string, bool> health_body(const health::checker& h, std::int64_t now_ms, bool with_errors) {
  auto results = h.snapshot();
  bool ok = true;
  for (const auto& r : results)
    if (r.status != health::state::healthy) ok = false;
  std::string body;
  body.reserve(160 + results.size() * 96);
  body += "{\"timestamp\":\"";
  append_iso(body, now_ms);
  body += ok ? "\",\"status\":\"healthy\",\"checks\":{" : "\",\"status\":\"degraded\",\"checks\":{";
  for (const auto& r : results) {
    body += '"';
    body += r.name;
    body += "\":\"";
    body += health::to_string(r.status);
    body += "\",";
  }
  body += "\"api\":\"healthy\"},\"details\":{";
  bool first = true;
  for (const auto& r : results) {
    if (!first) body += ',';
    first = false;
    body += '"';
    body += r.name;
    body += "\":{\"status\":\"";
    body += health::to_string(r.status);
    body += "\",\"ageMs\":";
    core::append_number(body, r.age.count());
    body += ",\"latencyMs\":";
    append_ms3(body, r.latency.count());
    if (with_errors && !r.error.empty()) {
      // A driver's message may be in the server's encoding (a Latin-1 PostgreSQL): invalid UTF-8
      // becomes U+FFFD, or the body would not be JSON.
      body += ",\"error\":";
      body += nlohmann::json(r.error).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    body += '}';
  }
  body += "}}";
  return {std::move(body), ok};
}

std::shared_ptr<http::router> build_routes(services& s) {
  auto r = std::make_shared<http::router>();
  using http::verb;
  r->add(verb::get, "/livez", livez);
  // Non-coroutine lambdas binding the services to coroutine functions (captures in coroutine
  // lambdas would dangle).
  r->add(verb::get, "/apis/time", [&s](request_context& c) { return time_route(s, c); });
  r->add(verb::get, "/readyz", [&s](request_context& c) { return readyz(s, c); });
  r->add(verb::get, "/apis/health", [&s](request_context& c) { return health_route(s, c); });
  r->add(verb::get, "/metrics", [&s](request_context& c) { return metrics_route(s, c); });
  if (s.db && s.cpu && s.jwt && s.cookie) add_auth_routes(*r, s);
  return r;
}

}  // namespace zuperior::api
