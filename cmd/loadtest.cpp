// zuperior loadtest: parse options, build the scenario, run it, report, decide the exit code.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>

#include "command.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "core/url.hpp"
#include "loadtest/report.hpp"
#include "loadtest/runner.hpp"
#include "loadtest/scenario.hpp"

namespace zuperior::cmd {
namespace {

struct loadtest_options {
  std::string scenario_file, url, method = "GET", duration = "10s", out, html, target, redis, max_lag = "25ms";
  std::string timeout;
  double rate = 0;
  unsigned connections = 0, threads = 0;
  std::vector<std::string> thresholds;
  std::vector<unsigned> expect;
  bool allow_lag = false, quiet = false, closed = false;
  unsigned progress_interval = 5;
};

std::chrono::microseconds duration_flag(const std::string& name, const std::string& v) {
  auto d = core::parse_duration(v);
  if (!d || d->count() <= 0) throw core::command_error(fmt::format("{} \"{}\" is not a duration (e.g. 10s)", name, v));
  return *d;
}

loadtest::scenario build(const loadtest_options& o) {
  using namespace loadtest;
  scenario s;
  if (!o.scenario_file.empty()) {
    if (!o.url.empty()) throw core::command_error("give either --scenario or --url, not both");
    s = load_scenario(o.scenario_file);
  } else if (!o.url.empty()) {
    auto u = core::parse_url(o.url);
    if (!u || u->scheme != "http") throw core::command_error(fmt::format("--url \"{}\" must be an http:// URL", o.url));
    s.name = "adhoc";
    s.target = u->port ? fmt::format("http://{}:{}", u->host, *u->port) : fmt::format("http://{}", u->host);
    if (u->host.find(':') != std::string::npos) s.target = fmt::format("http://[{}]:{}", u->host, u->port.value_or(80));
    http_step st;
    st.name = o.method + " " + (u->path.empty() ? "/" : u->path);
    st.method = o.method;
    std::transform(st.method.begin(), st.method.end(), st.method.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    std::string path = (u->path.empty() ? "/" : u->path) + (u->query_text.empty() ? "" : "?" + u->query_text);
    st.path = text_template(path);
    st.expect = o.expect;  // none given: any status below 400 (a scenario step's default is 200)
    s.http.enabled = true;
    s.http.steps.push_back(std::move(st));
    auto d = duration_flag("--duration", o.duration);
    if (o.closed) {
      s.http.model = load_model::closed;
      s.http.duration = d;
    } else {
      // NaN compares false: "!(rate > 0)" refuses it with the rest.
      if (!(o.rate > 0)) throw core::command_error("--url needs --rate N (requests per second), or --closed");
      if (o.rate > 10'000'000) throw core::command_error("--rate must be at most 10000000 (requests per second)");
      s.http.phases.push_back({d, o.rate, o.rate});
    }
  } else {
    throw core::command_error("give --scenario FILE or --url URL");
  }
  if (!o.target.empty()) s.target = o.target;
  if (o.connections) s.http.connections = o.connections;
  if (o.threads) s.threads = o.threads;
  if (!o.timeout.empty()) s.http.timeout = duration_flag("--timeout", o.timeout);
  if (!o.redis.empty()) s.publisher.redis_url = o.redis;
  for (const auto& t : o.thresholds) {
    try {
      s.thresholds.push_back(parse_threshold(t));
    } catch (const threshold_error& e) {
      throw core::command_error(fmt::format("--threshold: {}", e.what()));
    }
  }
  validate(s);
  return s;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) throw core::command_error(fmt::format("cannot write {}", path));
}

}  // namespace

runner setup_loadtest(CLI::App& sub) {
  auto o = std::make_shared<loadtest_options>();
  auto* scenario = sub.add_option("--scenario,-s", o->scenario_file, "Scenario YAML file (see configs/loadtest/)");
  sub.add_option("--url", o->url, "Quick run: one URL (http://host:port/path)");
  // The quick run's own flags: with --scenario they would be silently ignored, so they are refused.
  for (auto* quick : {sub.add_option("--method", o->method, "Quick run: HTTP method")->capture_default_str(),
                      sub.add_option("--rate", o->rate, "Quick run: requests per second (open model)"),
                      sub.add_option("--duration", o->duration, "Quick run: how long")->capture_default_str(),
                      sub.add_flag("--closed", o->closed, "Quick run: closed model (connections send back to back)"),
                      sub.add_option("--expect", o->expect, "Quick run: acceptable status(es); default any below 400")})
    quick->excludes(scenario);
  sub.add_option("--connections,-c", o->connections, "HTTP connections (overrides the scenario)");
  sub.add_option("--threads,-t", o->threads, "Generator threads, one event loop each (default 1)");
  sub.add_option("--timeout", o->timeout, "Per-request timeout (overrides the scenario)");
  sub.add_option("--target", o->target, "Base URL overriding the scenario's target");
  sub.add_option("--redis", o->redis, "Redis URL for the tick publisher (overrides publisher.redis)");
  sub.add_option("--threshold", o->thresholds, "Pass/fail expression, repeatable (e.g. 'http.p99<100ms')");
  sub.add_option("--out", o->out, "Write the JSON report here");
  sub.add_option("--html", o->html, "Write the self-contained HTML report here");
  sub.add_flag("--allow-lag", o->allow_lag, "Do not fail the run when the generator itself fell behind");
  sub.add_option("--max-lag", o->max_lag, "Generator lag p99 above this means it fell behind")->capture_default_str();
  sub.add_flag("--quiet,-q", o->quiet, "No progress output");
  sub.add_option("--progress-interval", o->progress_interval, "Seconds between progress lines when not a terminal")
      ->capture_default_str();
  return [o]() -> int {
    loadtest::scenario s;
    try {
      s = build(*o);
    } catch (const loadtest::scenario_error& e) {
      throw core::command_error(e.what());
    }
    loadtest::run_options ro;
    ro.max_lag = duration_flag("--max-lag", o->max_lag);
    ro.progress = !o->quiet;
    ro.tty = isatty(STDERR_FILENO) != 0;
    ro.progress_interval = std::chrono::seconds(std::max(1U, o->progress_interval));
    // A target that is down is a "cannot run", not a failed threshold.
    loadtest::preflight(s, std::chrono::milliseconds(3000));
    auto r = loadtest::run(s, ro);
    auto th = loadtest::evaluate(s.thresholds, r);
    std::fputs(loadtest::summary_text(s, r, th, o->allow_lag).c_str(), stdout);
    std::fflush(stdout);
    if (!o->out.empty()) write_file(o->out, loadtest::report_json(s, r, th, o->allow_lag));
    if (!o->html.empty()) write_file(o->html, loadtest::report_html(s, r, th, o->allow_lag));
    // Nothing answered at all (the target went away, accepts and never answers, or answers with
    // something that is not HTTP or Socket.IO): a "cannot run".
    if (loadtest::nothing_answered(r))
      throw core::command_error(fmt::format("{} {}", s.target, loadtest::nothing_answered_why(r)));
    return loadtest::verdict(r, th, o->allow_lag);
  };
}

}  // namespace zuperior::cmd
