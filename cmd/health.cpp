// zuperior health: asks a running daemon for /apis/health; the exit code says it
// (0 healthy, 1 unhealthy or degraded, 2 unreachable or bad usage).
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "command.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "core/url.hpp"
#include "net/resolve_within.hpp"
#include "net/run_step.hpp"
#include "validate/body.hpp"

namespace zuperior::cmd {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

struct health_options {
  config_options config;
  std::string url;
  std::string format = "text";
  std::string wait;
  std::string timeout = "5s";
};

struct answer {
  bool reached = false;
  std::string error;  // when not reached
  unsigned status = 0;
  nlohmann::json body;  // the answer parsed once; discarded or not an object when it is not JSON
};

// One GET, every step under the same deadline (net::run_step: Beast's synchronous calls ignore
// tcp_stream's). A failure names its step ("connect: Connection refused", "read: no answer within
// 1000 ms"), not Boost's exception text, which in 1.81 carries a source file and line.
answer fetch(const core::url& u, const std::string& target, std::chrono::milliseconds timeout) {
  answer a;
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  std::string_view step = "resolve";
  const auto fail = [&] {
    a.error = fmt::format("{}: {}", step, zuperior::net::failure_text(ec, timeout));
    return a;
  };
  // The lookup is under the same deadline: getaddrinfo itself cannot be cancelled.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto results = zuperior::net::resolve_within(u.host, std::to_string(u.port.value_or(80)), timeout, ec);
  if (ec) return fail();
  stream.expires_at(deadline);  // the whole exchange: lookup, connect, write and read
  step = "connect";
  ec = zuperior::net::run_step(ioc, [&](auto h) { stream.async_connect(results, h); });
  if (ec) return fail();
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, u.port ? fmt::format("{}:{}", u.host, *u.port) : u.host);
  req.set(bhttp::field::user_agent, "zuperior-health");
  req.set(bhttp::field::accept, "application/json");
  req.keep_alive(false);
  step = "write";
  ec = zuperior::net::run_step(ioc, [&](auto h) { bhttp::async_write(stream, req, h); });
  if (ec) return fail();
  step = "read";
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  ec = zuperior::net::run_step(ioc, [&](auto h) { bhttp::async_read(stream, buffer, res, h); });
  if (ec) return fail();
  a.reached = true;
  a.status = res.result_int();
  // As a request body is parsed: nesting is bounded (a body nested 100,000 deep parsed, and the
  // report's dump then recursed until the stack overflowed), invalid JSON is no report.
  if (auto p = validate::parse_body(res.body())) a.body = std::move(p.value);
  return a;
}

// 0 healthy (HTTP 200 and a body whose status is "healthy"), 1 unhealthy/degraded or an answer
// that is not a health report, 2 unreachable.
int verdict(const answer& a) {
  if (!a.reached) return core::exit_usage;
  if (a.status != 200) return core::exit_failed;
  const auto& body = a.body;
  // The daemon's words at HTTP 200: /apis/health "healthy", /readyz "ready", /livez "ok".
  const bool healthy = body.is_object() && body.contains("status") &&
                       (body["status"] == "healthy" || body["status"] == "ready" || body["status"] == "ok");
  return healthy ? core::exit_ok : core::exit_failed;
}

// A field of the daemon's answer as text: strings as they are, anything else as JSON. The answer
// may come from something that is not our daemon, so no field's type is taken on trust.
std::string text_of(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print(const health_options& o, const std::string& url, const answer& a) {
  const auto& body = a.body;
  const bool parsed = a.reached && body.is_object();
  const int code = verdict(a);
  if (o.format == "json") {
    nlohmann::json out;
    out["url"] = url;
    out["reachable"] = a.reached;
    if (!a.reached) out["error"] = a.error;
    if (a.reached) out["httpStatus"] = a.status;
    if (parsed) out["health"] = body;
    // The verdict in a word: the body's own word when it names a problem ("degraded"), else ours.
    std::string status = code == 0 ? "healthy" : "unhealthy";
    if (!a.reached)
      status = "unreachable";
    else if (code != 0 && parsed && body.contains("status") && body["status"].is_string() &&
             body["status"] != "healthy")
      status = body["status"].get<std::string>();
    out["status"] = status;
    print_json(out);
    return;
  }
  if (!a.reached) {
    std::printf("%s: unreachable (%s)\n", url.c_str(), a.error.c_str());
    return;
  }
  std::string overall =
      !parsed ? fmt::format("HTTP {}", a.status) : (body.contains("status") ? text_of(body["status"]) : "?");
  std::printf("%-10s %s (HTTP %u)\n", "status", overall.c_str(), a.status);
  if (!parsed) return;
  if (body.contains("checks") && body["checks"].is_object()) {
    for (auto& [name, v] : body["checks"].items()) {
      std::string extra;
      if (body.contains("details") && body["details"].contains(name)) {
        const auto& d = body["details"][name];
        if (d.contains("ageMs") && d["ageMs"].is_number()) extra += fmt::format("  age {}ms", d["ageMs"].get<double>());
        if (d.contains("latencyMs") && d["latencyMs"].is_number())
          extra += fmt::format("  latency {:.2f}ms", d["latencyMs"].get<double>());
        if (d.contains("error")) extra += "  " + text_of(d["error"]);
      }
      std::printf("%-10s %s%s\n", name.c_str(), text_of(v).c_str(), extra.c_str());
    }
  }
  if (body.contains("timestamp")) std::printf("%-10s %s\n", "timestamp", text_of(body["timestamp"]).c_str());
}

int run_health(const health_options& o) {
  std::string url = o.url;
  if (url.empty()) {
    auto cfg = o.config.load();
    auto host = cfg.values.server.host;
    if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
    if (host == "::") host = "::1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    url = fmt::format("http://{}:{}", host, cfg.values.server.port);
  }
  auto u = core::parse_url(url);
  if (!u || u->scheme != "http") throw core::command_error("--url takes http://HOST:PORT, got " + url);
  std::string target = u->path.empty() || u->path == "/" ? "/apis/health" : u->path;
  auto timeout = core::parse_duration(o.timeout);
  if (!timeout || timeout->count() <= 0) throw core::command_error("--timeout takes a duration such as 5s");
  auto t = std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
  std::chrono::milliseconds wait{0};
  if (!o.wait.empty()) {
    auto w = core::parse_duration(o.wait);
    if (!w || w->count() < 0) throw core::command_error("--wait takes a duration such as 30s");
    wait = std::chrono::duration_cast<std::chrono::milliseconds>(*w);
  }
  auto deadline = std::chrono::steady_clock::now() + wait;
  answer a;
  for (;;) {
    a = fetch(*u, target, t);
    if (verdict(a) == 0 || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  print(o, url, a);
  return verdict(a);
}

}  // namespace

runner setup_health(CLI::App& sub) {
  auto o = std::make_shared<health_options>();
  o->config.add_to(sub);
  sub.add_option("--url", o->url, "The daemon's base URL (default: http://server.host:server.port)");
  sub.add_option("--format", o->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  sub.add_option("--wait", o->wait, "Poll until healthy for up to this long (e.g. 30s)");
  sub.add_option("--timeout", o->timeout, "Deadline of one request (default 5s)");
  return [o]() { return run_health(*o); };
}

}  // namespace zuperior::cmd
