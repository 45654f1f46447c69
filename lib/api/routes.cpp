#include "api/routes.hpp"

#include <fmt/format.h>

#include <boost/beast/http/field.hpp>
#include <chrono>
#include <ctime>

#include "api/limits.hpp"
#include "core/strings.hpp"
#include "health/checker.hpp"
#include "http/error.hpp"
#include "metrics/registry.hpp"

namespace zuperior::api {
namespace {

using boost::asio::awaitable;
using http::request_context;
using http::response;

std::string iso_now() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
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
  auto res = http::json_response(ctx.req, http::status::ok, "{\"serverTime\":\"" + iso_now() + "\"}");
  if (d.applied) add_rate_headers(res, d, tier::generous);
  co_return res;
}

awaitable<response> readyz(services& s, request_context& ctx) {
  bool ready = s.ready && s.ready->load(std::memory_order_relaxed);
  co_return http::json_response(ctx.req, ready ? http::status::ok : http::status::service_unavailable,
                                ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\"}");
}

awaitable<response> health_route(services& s, request_context& ctx) {
  auto [body, ok] = health_body(*s.health);
  co_return http::json_response(ctx.req, ok ? http::status::ok : http::status::service_unavailable, std::move(body));
}

awaitable<response> metrics_route(services& s, request_context& ctx) {
  co_return http::text_response(ctx.req, http::status::ok, s.metrics->render(), metrics::content_type);
}

}  // namespace

std::pair<std::string, bool> health_body(const health::checker& h) {
  auto results = h.snapshot();
  bool ok = true;
  std::string checks, details;
  for (const auto& r : results) {
    if (r.status != health::state::healthy) ok = false;
    checks += fmt::format("\"{}\":\"{}\",", r.name, health::to_string(r.status));
    details += fmt::format("\"{}\":{{\"status\":\"{}\",\"ageMs\":{},\"latencyMs\":{:.3f}{}}},", r.name,
                           health::to_string(r.status), r.age.count(), r.latency.count() / 1000.0,
                           r.error.empty() ? std::string() : ",\"error\":" + core::quote(r.error));
  }
  std::string body = fmt::format(
      "{{\"timestamp\":\"{}\",\"status\":\"{}\",\"checks\":{{{}\"api\":\"healthy\"}},\"details\":{{{}}}}}", iso_now(),
      ok ? "healthy" : "degraded", checks, details.empty() ? details : details.substr(0, details.size() - 1));
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
