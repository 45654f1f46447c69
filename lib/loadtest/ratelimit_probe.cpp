#include "loadtest/ratelimit_probe.hpp"

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <optional>
#include <thread>

#include "core/error.hpp"
#include "core/url.hpp"
#include "net/resolve_within.hpp"
#include "net/run_step.hpp"

namespace zuperior::loadtest {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct answer {
  unsigned status = 0;
  std::optional<std::int64_t> limit, remaining, reset, retry_after;
  std::string body;
};

std::optional<std::int64_t> header_int(const http::response<http::string_body>& r, std::string_view name) {
  auto it = r.find(name);
  if (it == r.end()) return std::nullopt;
  std::int64_t v = 0;
  auto s = it->value();
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

class client {
 public:
  client(const std::string& base, std::chrono::milliseconds timeout) : stream_(io_), timeout_(timeout) {
    auto u = core::parse_url(base);
    if (!u || u->scheme != "http") throw core::command_error(fmt::format("\"{}\" is not an http:// URL", base));
    host_ = u->host;
    port_ = std::to_string(u->port.value_or(80));
    host_header_ = u->port ? fmt::format("{}:{}", u->host, *u->port) : u->host;
    base_ = base;
  }
  answer send(const ratelimit_probe_options& o) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      beast::error_code ec;
      const bool reused = open_;
      if (!open_) {
        auto eps = net::resolve_within(host_, port_, timeout_, ec);
        if (ec) throw core::command_error(fmt::format("cannot resolve {}: {}", host_, net::failure_text(ec, timeout_)));
        stream_.expires_after(timeout_);
        ec = net::run_step(io_, [&](auto h) { stream_.async_connect(eps, h); });
        if (ec)
          throw core::command_error(fmt::format("cannot connect to {}: {}", base_, net::failure_text(ec, timeout_)));
        open_ = true;
      }
      http::request<http::string_body> req{http::string_to_verb(o.method), o.route, 11};
      req.set(http::field::host, host_header_);
      req.set(http::field::user_agent, "zuperior-ratelimit-test");
      for (const auto& [k, v] : o.headers) req.set(k, v);
      if (!o.body.empty()) {
        req.set(http::field::content_type, "application/json");
        req.body() = o.body;
      }
      req.prepare_payload();
      stream_.expires_after(timeout_);  // the write and the read together
      ec = net::run_step(io_, [&](auto h) { http::async_write(stream_, req, h); });
      http::response<http::string_body> res;
      if (!ec) ec = net::run_step(io_, [&](auto h) { http::async_read(stream_, buf_, res, h); });
      if (ec) {
        stream_.close();
        open_ = false;
        buf_.clear();
        // A keep-alive connection the server closed while idle: once more on a new one.
        if (attempt == 0 && reused && ec != beast::error::timeout) continue;
        throw core::command_error(
            fmt::format("request to {}{} failed: {}", base_, o.route, net::failure_text(ec, timeout_)));
      }
      if (!res.keep_alive()) {
        stream_.close();
        open_ = false;
      }
      answer a;
      a.status = res.result_int();
      a.limit = header_int(res, "X-RateLimit-Limit");
      a.remaining = header_int(res, "X-RateLimit-Remaining");
      a.reset = header_int(res, "X-RateLimit-Reset");
      a.retry_after = header_int(res, "Retry-After");
      a.body = std::move(res.body());
      return a;
    }
    throw core::command_error("unreachable");
  }

 private:
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  std::chrono::milliseconds timeout_;
  std::string host_, port_, host_header_, base_;
  bool open_ = false;
};

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool probe_result::passed() const {
  for (const auto& c : checks)
    if (!c.pass) return false;
  return !checks.empty();
}

probe_result run_ratelimit_probe(const ratelimit_probe_options& o) {
  if (o.urls.empty()) throw core::command_error("no URL to test");
  if (o.limit == 0) throw core::command_error("the tier's limit is 0: nothing to test");
  std::vector<std::unique_ptr<client>> clients;
  for (const auto& u : o.urls) clients.push_back(std::make_unique<client>(u, o.timeout));
  probe_result r;
  auto check = [&](std::string name, bool pass, std::string detail) {
    r.checks.push_back({std::move(name), pass, std::move(detail)});
  };

  // Drive the identifier past its limit, round-robin over the instances; stop a little past the
  // first 429 (a few more show the limit holds), bounded by limit * 2 + 10 requests.
  std::vector<answer> answers;
  const std::uint32_t cap = o.limit * 2 + 10;
  std::uint32_t denied = 0;
  const auto burst_start = std::chrono::steady_clock::now();
  for (std::uint32_t i = 0; i < cap && denied < 3; ++i) {
    auto a = clients[i % clients.size()]->send(o);
    if (i == 0 && a.status != 429 && a.remaining && a.limit && *a.remaining + 1 < *a.limit)
      throw core::command_error(fmt::format(
          "the identifier is not fresh (X-RateLimit-Remaining {} of {} on the first request): wait one window ({}s) "
          "or run 'zuperior ratelimit reset'",
          *a.remaining, *a.limit, o.window.count() / 1000));
    if (i == 0 && a.status == 429)
      throw core::command_error(
          "the first request was already limited (429): wait one window or run 'zuperior ratelimit reset'");
    if (a.status == 429)
      ++denied;
    else if (denied == 0)
      ++r.allowed;
    answers.push_back(std::move(a));
  }
  const double burst_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - burst_start).count();
  r.sent = static_cast<std::uint32_t>(answers.size());
  std::uint32_t allowed_after = 0;  // requests allowed after the first 429 (should be none)
  bool seen429 = false;
  for (const auto& a : answers) {
    if (a.status == 429)
      seen429 = true;
    else if (seen429)
      ++allowed_after;
  }

  // 1. The allowed count equals the limit. A burst crossing a fixed-window boundary may pass a
  // few more (the sliding window's documented tolerance): as many as the previous window's share.
  bool crossed = false;
  for (std::size_t i = 1; i < answers.size(); ++i)
    if (answers[i].reset && answers[i - 1].reset && *answers[i].reset != *answers[i - 1].reset &&
        answers[i].status != 429 && answers[i - 1].status != 429)
      crossed = true;
  std::uint32_t slack = o.tolerance;
  if (crossed)
    slack +=
        static_cast<std::uint32_t>(std::ceil(o.limit * burst_s * 1000.0 / std::max<double>(1, o.window.count()))) + 1;
  bool count_ok = seen429 && r.allowed >= o.limit && r.allowed <= o.limit + slack;
  check("allowed per window equals the limit", count_ok,
        seen429 ? fmt::format("{} allowed before the first 429, limit {}{}{}", r.allowed, o.limit,
                              slack ? fmt::format(" (tolerance +{})", slack) : "",
                              o.urls.size() > 1 ? fmt::format(" across {} instances", o.urls.size()) : "")
                : fmt::format("no 429 after {} requests (limit {}): the limit is not enforced", r.sent, o.limit));
  check("no request allowed after the first 429", allowed_after == 0,
        fmt::format("{} allowed after the first 429", allowed_after));

  // 2. Headers present and consistent.
  std::string missing;
  bool limit_ok = true, remaining_ok = true;
  std::optional<std::int64_t> prev_remaining;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const auto& a = answers[i];
    if (!a.limit || !a.remaining || !a.reset) {
      if (missing.empty())
        missing =
            fmt::format("response {} (status {}) lacks{}{}{}", i + 1, a.status, a.limit ? "" : " X-RateLimit-Limit",
                        a.remaining ? "" : " X-RateLimit-Remaining", a.reset ? "" : " X-RateLimit-Reset");
      continue;
    }
    if (*a.limit != o.limit) limit_ok = false;
    if (a.status != 429 && prev_remaining && !crossed && *a.remaining != *prev_remaining - 1) remaining_ok = false;
    if (a.status == 429 && *a.remaining != 0) remaining_ok = false;
    if (a.status != 429) prev_remaining = a.remaining;
  }
  check("rate-limit headers on every response", missing.empty(), missing.empty() ? "present" : missing);
  check("X-RateLimit-Limit is the configured limit", limit_ok && missing.empty(),
        fmt::format("expected {}, got {}", o.limit,
                    answers.empty() || !answers[0].limit ? std::string("none") : std::to_string(*answers[0].limit)));
  check("X-RateLimit-Remaining decreases by one per allowed request, 0 when limited", remaining_ok && missing.empty(),
        remaining_ok ? "consistent" : "inconsistent sequence");

  const answer* first429 = nullptr;
  for (const auto& a : answers)
    if (a.status == 429) {
      first429 = &a;
      break;
    }
  if (!first429) return r;

  // 3. Reset and Retry-After are plausible: in the future, within one window.
  auto now_ms = unix_ms_now();
  bool reset_ok =
      first429->reset && *first429->reset > now_ms - 2000 && *first429->reset <= now_ms + o.window.count() + 2000;
  check("X-RateLimit-Reset is when the window ends (Unix ms, within one window)", reset_ok,
        first429->reset ? fmt::format("{} ms from now", *first429->reset - now_ms) : "missing");
  // The sliding window weighs the previous fixed window: a burst at the end of one window can keep
  // the next one closed for part of it, so an honest Retry-After may exceed one window (up to
  // (1 + 1/limit) windows for a burst; two is the bound). Honesty itself is checked below.
  bool retry_ok = first429->retry_after && *first429->retry_after >= 1 &&
                  *first429->retry_after <= (2 * o.window.count() + 999) / 1000;
  check("Retry-After on 429 is between 1s and two windows", retry_ok,
        first429->retry_after ? fmt::format("{}s", *first429->retry_after) : "missing");

  // 4. The 429 body has the seed's shape.
  auto j = nlohmann::json::parse(first429->body, nullptr, false);
  bool body_ok = !j.is_discarded() && j.is_object() && j.contains("success") && j["success"] == false &&
                 j.contains("message") && j["message"].is_string() && j.contains("retryAfter") &&
                 j["retryAfter"].is_number();
  check("429 body is {\"success\":false,\"message\":…,\"retryAfter\":…}", body_ok,
        body_ok ? "ok" : fmt::format("got {}", first429->body.substr(0, 200)));

  // 5. Retry-After is honest: a request after it succeeds.
  if (o.wait_retry && retry_ok) {
    std::this_thread::sleep_for(std::chrono::seconds(*first429->retry_after) + std::chrono::milliseconds(200));
    auto a = clients[0]->send(o);
    check("a request after Retry-After succeeds", a.status != 429,
          fmt::format("waited {}s, then status {}", *first429->retry_after, a.status));
  }
  return r;
}

}  // namespace zuperior::loadtest
