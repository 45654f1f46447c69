// zuperior ratelimit: `test` proves what a running deployment enforces; `inspect` and `reset`
// show or clear one identifier's state in Redis (keys from lib/ratelimit's own key function).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "auth/jwt.hpp"
#include "cache/sync_client.hpp"
#include "command.hpp"
#include "core/error.hpp"
#include "core/redact.hpp"
#include "core/strings.hpp"
#include "core/units.hpp"
#include "loadtest/ratelimit_probe.hpp"
#include "loadtest/ratelimit_probe_ws.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/local_limiter.hpp"
#include "ratelimit/tier.hpp"
#include "ratelimit/window.hpp"

namespace zuperior::cmd {
namespace {

struct ratelimit_options {
  config_options config;
  std::string url, urls, tier = "standard", route, method, body, timeout = "5s", format = "text";
  std::vector<std::string> headers;
  std::uint32_t tolerance = 0;
  bool no_wait = false;
  std::string identifier;
};

ratelimit::tier tier_of(const std::string& name) {
  auto t = ratelimit::parse_tier(name);
  if (!t) throw core::command_error(fmt::format("unknown tier \"{}\" (strict, standard, generous, websocket)", name));
  return *t;
}

std::vector<std::string> target_urls(const ratelimit_options& o) {
  std::vector<std::string> urls;
  if (!o.urls.empty())
    urls = core::split(o.urls, ',', true);
  else if (!o.url.empty())
    urls = {o.url};
  else
    throw core::command_error("give --url URL (or --urls URL1,URL2 for several instances)");
  for (auto& u : urls) {
    u = std::string(core::trim(u));
    while (u.size() > 1 && u.back() == '/') u.pop_back();
  }
  return urls;
}

std::chrono::milliseconds timeout_of(const ratelimit_options& o) {
  auto d = core::parse_duration(o.timeout);
  if (!d) throw core::command_error(fmt::format("--timeout \"{}\" is not a duration", o.timeout));
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

bool json_output(const ratelimit_options& o) { return o.format == "json"; }

// What is being tested, printed first: one line of text, or the report's opening fields in JSON.
struct test_header {
  std::string tier, target, who;  // target: "POST /apis/auth/login" or the Socket.IO path
  std::uint32_t limit = 0;
  std::chrono::milliseconds window{0};
  std::vector<std::string> urls;
};

// The fields every JSON report of `test` opens with, run or not.
nlohmann::json header_json(const test_header& h) {
  nlohmann::json out{
      {"tier", h.tier}, {"limit", h.limit}, {"window_ms", h.window.count()}, {"target", h.target}, {"urls", h.urls}};
  if (!h.who.empty()) out["as"] = h.who;
  return out;
}

int print_verdict(const ratelimit_options& o, const test_header& h, const loadtest::probe_result& r, const char* unit) {
  const int code = r.passed() ? core::exit_ok : core::exit_failed;
  if (json_output(o)) {
    nlohmann::json checks = nlohmann::json::array();
    for (const auto& c : r.checks) checks.push_back({{"name", c.name}, {"pass", c.pass}, {"detail", c.detail}});
    nlohmann::json out = header_json(h);
    out["checks"] = std::move(checks);
    out["allowed"] = r.allowed;
    out["sent"] = r.sent;
    out["unit"] = unit;
    out["verdict"] = r.passed() ? "PASS" : "FAIL";
    out["exit_code"] = code;
    print_json(out);
    return code;
  }
  for (const auto& c : r.checks)
    std::printf("  %s  %s: %s\n", c.pass ? "ok  " : "FAIL", c.name.c_str(), c.detail.c_str());
  std::printf("verdict: %s (%u %s sent)\n", r.passed() ? "PASS" : "FAIL", r.sent, unit);
  return code;
}

// The JSON report of a test that could not run: what is known of the test, the reason, the exit code.
int print_error_json(nlohmann::json out, const std::string& why, int code) {
  out["verdict"] = "ERROR";
  out["error"] = why;
  out["exit_code"] = code;
  print_json(out);
  return code;
}

// Runs a probe; with --format json a failure to run (exit 2) is a JSON report too, so a CI step
// that parses stdout always has something to parse.
template <typename Probe>
int run_probe(const ratelimit_options& o, const test_header& h, const char* unit, Probe&& probe) {
  const bool json = json_output(o);
  if (!json) {
    std::printf("ratelimit test: tier %s (%u per %s), %s on %zu instance(s)%s\n", h.tier.c_str(), h.limit,
                core::format_duration(std::chrono::duration_cast<std::chrono::microseconds>(h.window)).c_str(),
                h.target.c_str(), h.urls.size(), h.who.empty() ? "" : (" as " + h.who).c_str());
    return print_verdict(o, h, probe(), unit);
  }
  try {
    return print_verdict(o, h, probe(), unit);
  } catch (const core::command_error& e) {
    return print_error_json(header_json(h), e.what(), e.code());
  }
}

// The caller's token (-H "Authorization: Bearer ...") or one minted with the configured JWT_SECRET
// for a new user id, so the identifier (user:ID) starts with an empty window. `who` says which.
std::string bearer_token(const ratelimit_options& o, const config::loaded_config& cfg, std::string_view tier,
                         std::string& who) {
  const auto& s = cfg.values;
  for (std::string_view h : o.headers) {
    auto colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    auto value = core::trim(h.substr(colon + 1));
    if (core::iequals(core::trim(h.substr(0, colon)), "Authorization") && value.substr(0, 7) == "Bearer ") {
      who = "the token given";
      return std::string(core::trim(value.substr(7)));
    }
  }
  if (s.auth.jwt_secret.empty()) {
    // Set but refused by validation (too short, a placeholder): say why rather than "set it".
    for (const auto& d : cfg.problems)
      if (d.key == "auth.jwt_secret" && d.severity == config::diagnostic::level::error)
        throw core::command_error(fmt::format(
            "the {} tier is per user and JWT_SECRET cannot mint a token: {} (or give -H \"Authorization: Bearer ...\")",
            tier, d.message));
    throw core::command_error(fmt::format(
        "the {} tier is per user: set JWT_SECRET (to mint a token) or give -H \"Authorization: Bearer ...\"", tier));
  }
  auto codec = auth::jwt_codec::from_settings(s.auth);
  auto sub = fmt::format("ratelimit-test-{:x}", std::chrono::steady_clock::now().time_since_epoch().count());
  who = "minted user " + sub;
  return codec.issue(sub);
}

// The websocket tier counts inbound Socket.IO events per user. The token is the caller's
// (-H "Authorization: Bearer ...") or, by default, one minted with the configured JWT_SECRET for a
// fresh user id, so every run starts from an empty window.
int run_ws_test(const ratelimit_options& o, const config::loaded_config& cfg) {
  const auto& s = cfg.values;
  loadtest::ws_probe_options p;
  p.urls = target_urls(o);
  p.path = s.realtime.path;
  p.limit = s.ratelimit.websocket.limit;
  p.window = s.ratelimit.websocket.window;
  p.max_violations = s.realtime.max_violations;
  p.tolerance = o.tolerance;
  p.timeout = timeout_of(o);
  test_header h{.tier = "websocket",
                .target = fmt::format("Socket.IO events at {} (disconnect after {} refused)", p.path, p.max_violations),
                .who = {},
                .limit = p.limit,
                .window = std::chrono::duration_cast<std::chrono::milliseconds>(p.window),
                .urls = p.urls};
  p.token = bearer_token(o, cfg, "websocket", h.who);
  return run_probe(o, h, "events", [&] { return loadtest::run_ws_ratelimit_probe(p); });
}

int run_test(const ratelimit_options& o) {
  auto t = tier_of(o.tier);
  auto cfg = o.config.load();
  if (t == ratelimit::tier::websocket) return run_ws_test(o, cfg);
  const auto& ts = ratelimit::tier_settings(cfg.values.ratelimit, t);
  loadtest::ratelimit_probe_options p;
  p.urls = target_urls(o);
  p.tier = o.tier;
  p.limit = ts.limit;
  p.window = ts.window;
  // Default routes per tier: the login route is strict (an unknown email is still counted), the
  // authenticated reads standard (per user), /apis/time generous (per address).
  std::string who;
  if (t == ratelimit::tier::strict) {
    p.route = "/apis/auth/login";
    p.method = "POST";
    p.body = R"({"email":"ratelimit-test@loadtest.invalid","password":"not-a-real-password"})";
  } else if (t == ratelimit::tier::standard && o.route.empty()) {
    p.route = "/apis/auth/me";
    p.method = "GET";
    p.headers.emplace_back("Authorization", "Bearer " + bearer_token(o, cfg, "standard", who));
  } else {
    p.route = "/apis/time";
    p.method = "GET";
  }
  if (!o.route.empty()) p.route = o.route;
  if (!o.method.empty()) p.method = o.method;
  if (!o.body.empty()) p.body = o.body;
  for (const auto& h : o.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos) throw core::command_error(fmt::format("--header \"{}\" is not NAME: VALUE", h));
    std::string name(core::trim(std::string_view(h).substr(0, colon)));
    if (!who.empty() && core::iequals(name, "Authorization")) continue;  // already taken as the token
    p.headers.emplace_back(std::move(name), std::string(core::trim(std::string_view(h).substr(colon + 1))));
  }
  p.tolerance = o.tolerance;
  p.wait_retry = !o.no_wait;
  p.timeout = timeout_of(o);
  test_header h{.tier = o.tier,
                .target = p.method + " " + p.route,
                .who = who,
                .limit = p.limit,
                .window = std::chrono::duration_cast<std::chrono::milliseconds>(p.window),
                .urls = p.urls};
  return run_probe(o, h, "requests", [&] { return loadtest::run_ratelimit_probe(p); });
}

struct redis_target {
  std::unique_ptr<cache::sync_client> client;
  std::string key;
  config::rate_tier tier;
};

redis_target open_redis(const ratelimit_options& o) {
  auto t = tier_of(o.tier);
  if (o.identifier.empty()) throw core::command_error("give the identifier, e.g. ip:203.0.113.7 or user:42");
  auto cfg = o.config.load();
  const auto& s = cfg.values;
  ratelimit::limiter l(s.ratelimit, nullptr, std::make_shared<ratelimit::local_limiter>(16), s.redis.key_prefix,
                       nullptr, s.server.ipv6_prefix);
  redis_target r;
  r.key = l.redis_key(t, o.identifier);
  r.tier = ratelimit::tier_settings(s.ratelimit, t);
  try {
    r.client = cache::sync_client::connect(s.redis_url(), s.redis.connect_timeout);
  } catch (const cache::error& e) {
    throw core::command_error(fmt::format("cannot reach Redis: {}", core::redact_text(e.what())));
  }
  return r;
}

// Redis' clock (Unix ms), which the daemons' windows follow; this host's when TIME answers oddly.
std::int64_t redis_now(cache::sync_client& c) {
  auto t = c.command({"TIME"});
  if (t.kind != cache::reply::type::array || t.elements.size() != 2) return ratelimit::unix_ms();
  return std::strtoll(t.elements[0].text.c_str(), nullptr, 10) * 1000 +
         std::strtoll(t.elements[1].text.c_str(), nullptr, 10) / 1000;
}

int run_inspect(const ratelimit_options& o) {
  auto r = open_redis(o);
  // The daemons count in `<key>:<window index>`, the index from Redis' clock (Unix ms / window):
  // read the current window's counter and the one before it.
  const std::int64_t window = std::max<std::int64_t>(1, r.tier.window.count());
  const std::int64_t now_ms = redis_now(*r.client);
  const std::int64_t index = now_ms / window;
  const std::string current = ratelimit::window_key(r.key, index);
  auto h = r.client->command({"MGET", ratelimit::window_key(r.key, index - 1), current});
  if (h.kind == cache::reply::type::error) throw core::command_error(fmt::format("Redis: {}", h.text));
  const bool json = json_output(o);
  auto count_of = [&](std::size_t i) -> std::int64_t {
    if (h.elements.size() <= i || h.elements[i].kind != cache::reply::type::string) return 0;
    return std::strtoll(h.elements[i].text.c_str(), nullptr, 10);
  };
  const std::int64_t previous = count_of(0), counted = count_of(1);
  if (previous <= 0 && counted <= 0) {
    if (json)
      print_json(nlohmann::json{{"key", r.key},
                                {"limit", r.tier.limit},
                                {"window_ms", r.tier.window.count()},
                                {"state", nullptr},
                                {"next", {{"allowed", true}, {"remaining", r.tier.limit}}}});
    else
      std::printf("key       %s\nstate     none (the identifier has no requests counted: all %u allowed)\n",
                  r.key.c_str(), r.tier.limit);
    return core::exit_ok;
  }
  // When the counts are forgotten: the current window's counter, or (none yet) the previous one's.
  auto pttl = r.client->command({"PTTL", counted > 0 ? current : ratelimit::window_key(r.key, index - 1)});
  ratelimit::window_state st;
  st.window = index;
  st.current = static_cast<std::uint32_t>(std::max<std::int64_t>(0, counted));
  st.previous = static_cast<std::uint32_t>(std::max<std::int64_t>(0, previous));
  // What the next request would see, computed by the limiter's own arithmetic on a copy.
  auto copy = st;
  bool allowed = ratelimit::step(copy, r.tier.limit, r.tier.window.count(), 1, now_ms);
  auto d = ratelimit::describe(copy, allowed, r.tier.limit, r.tier.window.count(), 1, now_ms);
  if (json) {
    nlohmann::json next{
        {"allowed", allowed}, {"remaining", allowed ? d.remaining : 0}, {"reset_after_ms", d.reset_after.count()}};
    if (!allowed) next["retry_after_ms"] = d.retry_after.count();
    print_json(nlohmann::json{{"key", r.key},
                              {"limit", r.tier.limit},
                              {"window_ms", r.tier.window.count()},
                              {"state", {{"window", st.window}, {"current", st.current}, {"previous", st.previous}}},
                              {"counter", current},
                              {"next", std::move(next)},
                              {"ttl_ms", pttl.integer}});
    return core::exit_ok;
  }
  std::printf("key       %s (this window's counter: %s)\n", r.key.c_str(), current.c_str());
  std::printf("window    %lld (current %u, previous %u)\n", static_cast<long long>(st.window), st.current, st.previous);
  std::printf("limit     %u per %lldms\n", r.tier.limit, static_cast<long long>(r.tier.window.count()));
  std::printf("next      %s, remaining %u, window resets in %lldms%s\n", allowed ? "allowed" : "LIMITED",
              allowed ? d.remaining : 0, static_cast<long long>(d.reset_after.count()),
              allowed ? "" : fmt::format(", retry after {}ms", d.retry_after.count()).c_str());
  std::printf("ttl       %lldms\n", static_cast<long long>(pttl.integer));
  return core::exit_ok;
}

int run_reset(const ratelimit_options& o) {
  auto r = open_redis(o);
  // The counters of the windows around now (clocks of other hosts may differ a little), and the
  // hash an older version kept under the key itself.
  const std::int64_t window = std::max<std::int64_t>(1, r.tier.window.count());
  const std::int64_t index = redis_now(*r.client) / window;
  std::vector<std::string> del_args{"DEL", r.key};
  for (std::int64_t i = index - 2; i <= index + 1; ++i) del_args.push_back(ratelimit::window_key(r.key, i));
  auto del = r.client->command(del_args);
  if (del.kind == cache::reply::type::error) throw core::command_error(fmt::format("Redis: {}", del.text));
  if (json_output(o)) {
    print_json(nlohmann::json{{"key", r.key}, {"cleared", del.integer > 0}});
    return core::exit_ok;
  }
  std::printf("%s %s\n", del.integer ? "cleared" : "nothing to clear at", r.key.c_str());
  std::printf(
      "note: daemons running on their local fallback (Redis was down) keep their own counts until the window ends\n");
  return core::exit_ok;
}

}  // namespace

runner setup_ratelimit(CLI::App& sub) {
  auto o = std::make_shared<ratelimit_options>();
  sub.require_subcommand(1);
  o->config.add_to(sub);
  auto* test = sub.add_subcommand("test", "Drive one identifier past its limit and check what the deployment enforces");
  test->fallthrough();  // --config/--env-file/--set may follow the subcommand's name too
  test->add_option("--url", o->url, "Base URL of the deployment (http://host:port)");
  test->add_option("--urls", o->urls, "Several instances, comma-separated: the limit must hold across them");
  test->add_option("--tier", o->tier, "strict|standard|generous|websocket")->capture_default_str();
  test->add_option("--route", o->route,
                   "Path to drive (default: strict /apis/auth/login, standard /apis/auth/me, generous /apis/time)");
  test->add_option("--method", o->method, "HTTP method (default per route)");
  test->add_option("--body", o->body, "JSON body to send");
  test->add_option("--header,-H", o->headers, "Extra header NAME: VALUE (repeatable), e.g. an Authorization");
  test->add_option("--tolerance", o->tolerance, "Extra allowed requests accepted")->capture_default_str();
  test->add_flag("--no-wait", o->no_wait, "Skip waiting Retry-After to check a later request succeeds");
  test->add_option("--timeout", o->timeout, "Per-request timeout")->capture_default_str();
  test->add_option("--format", o->format, "text or json (the checks and the verdict as one JSON object)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  auto* inspect = sub.add_subcommand("inspect", "Show one identifier's rate-limit state in Redis");
  auto* reset = sub.add_subcommand("reset", "Clear one identifier's rate-limit state in Redis");
  for (auto* c : {inspect, reset}) {
    c->fallthrough();
    c->add_option("--tier", o->tier, "strict|standard|generous|websocket")->required();
    c->add_option("identifier", o->identifier, "ip:<address> or user:<id>")->required();
    c->add_option("--format", o->format, "text or json")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  }
  return [o, test, inspect, reset]() -> int {
    if (test->parsed()) {
      if (!json_output(*o)) return run_test(*o);
      // CI parsing stdout gets one JSON object even when the test cannot start (no token to be
      // had, a bad URL, a configuration that does not load); run_probe answers the later failures.
      try {
        return run_test(*o);
      } catch (const core::command_error& e) {
        return print_error_json({{"tier", o->tier}}, e.what(), e.code());
      } catch (const std::exception& e) {
        return print_error_json({{"tier", o->tier}}, core::error_text(e), core::exit_usage);
      }
    }
    if (inspect->parsed()) return run_inspect(*o);
    if (reset->parsed()) return run_reset(*o);
    throw core::command_error("ratelimit needs test, inspect or reset");
  };
}

}  // namespace zuperior::cmd
