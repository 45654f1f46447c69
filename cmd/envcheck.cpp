// zuperior envcheck: the whole configuration validated, every problem in one run.
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>

#include "cache/sync_client.hpp"
#include "command.hpp"
#include "config/checks.hpp"
#include "config/report.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "db/session.hpp"

namespace zuperior::cmd {
namespace {

struct envcheck_options {
  config_options config;
  std::string format = "text";
  bool print_config = false;
  bool probe = false;
  std::string probe_timeout = "5s";
};

using clock_type = std::chrono::steady_clock;

double elapsed_ms(clock_type::time_point since) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - since).count();
}

config::probe_result probe_postgres(const config::settings& s, std::chrono::milliseconds timeout) {
  config::probe_result p;
  p.name = "postgresql";
  if (s.database.url.empty()) {
    p.error = "DATABASE_URL is not set";
    return p;
  }
  auto start = clock_type::now();
  try {
    auto session = db::session::connect(s.database.url, std::min(timeout, s.database.connect_timeout));
    auto read_only = session->read_only_reason();  // a query as SELECT 1 was, and whether writes work
    p.latency_ms = elapsed_ms(start);
    p.detail = "PostgreSQL " + session->server_version();
    if (read_only) p.error = *read_only;
    auto max_conn = session->scalar("SHOW max_connections");
    if (max_conn) {
      p.detail += fmt::format(", max_connections {}", *max_conn);
      if (p.error.empty() && std::stoul(*max_conn) < s.database.pool_size)
        p.error = fmt::format("pool_size {} exceeds the server's max_connections {}", s.database.pool_size, *max_conn);
    }
    p.ok = p.error.empty();
  } catch (const std::exception& e) {
    p.latency_ms = elapsed_ms(start);
    p.error = e.what();
  }
  return p;
}

config::probe_result probe_redis(const config::settings& s, std::chrono::milliseconds timeout) {
  config::probe_result p;
  p.name = "redis";
  auto start = clock_type::now();
  try {
    auto client = cache::sync_client::connect(s.redis_url(), std::min(timeout, s.redis.connect_timeout));
    // A write, as the daemon's health check does (the key expires in 10 s): a Redis that answers
    // but refuses writes would leave every rate limit to each instance alone.
    client->write_probe(fmt::format("{}envcheck:{}", s.redis.key_prefix, getpid()));
    p.latency_ms = elapsed_ms(start);
    auto info = client->command({"INFO", "server"});
    auto pos = info.text.find("redis_version:");
    if (pos != std::string::npos)
      p.detail = "Redis " + info.text.substr(pos + 14, info.text.find('\r', pos) - pos - 14);
    p.ok = true;
  } catch (const std::exception& e) {
    p.latency_ms = elapsed_ms(start);
    p.error = e.what();
  }
  return p;
}

// The daemon raises its soft limit to the hard one; the hard limit must cover the connection target.
config::probe_result probe_open_files(const config::settings& s) {
  config::probe_result p;
  p.name = "open_files";
  p.warning = true;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  auto target = static_cast<rlim_t>(s.open_files_needed());
  auto show = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v); };
  p.detail = fmt::format("soft {} hard {}, needed {} (server.max_connections + pool + 64)", show(rl.rlim_cur),
                         show(rl.rlim_max), target);
  p.ok = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= target;
  if (!p.ok) p.error = "raise the hard limit (LimitNOFILE= in the systemd unit, or ulimit -Hn)";
  return p;
}

int run_envcheck(const envcheck_options& o) {
  auto cfg = o.config.load();
  config::check_policy(cfg);
  if (o.print_config) {
    if (o.format == "json")
      print_json(config::render_config_json(cfg));
    else if (o.format == "yaml")
      std::fputs(config::render_config_yaml(cfg).c_str(), stdout);
    else
      std::fputs(config::render_config_text(cfg).c_str(), stdout);
    return config::error_count(cfg.problems) ? core::exit_failed : core::exit_ok;
  }
  if (o.format == "yaml") throw core::command_error("--format yaml is for --print-config only");
  std::vector<config::probe_result> probes;
  if (o.probe) {
    auto timeout = core::parse_duration(o.probe_timeout);
    if (!timeout || timeout->count() <= 0) throw core::command_error("--probe-timeout takes a duration such as 5s");
    auto t = std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
    probes.push_back(probe_postgres(cfg.values, t));
    probes.push_back(probe_redis(cfg.values, t));
    probes.push_back(probe_open_files(cfg.values));
  }
  if (o.format == "json")
    print_json(config::render_report_json(cfg, probes));
  else
    std::fputs(config::render_report_text(cfg, probes).c_str(), stdout);
  return config::report_ok(cfg, probes) ? core::exit_ok : core::exit_failed;
}

}  // namespace

runner setup_envcheck(CLI::App& sub) {
  auto o = std::make_shared<envcheck_options>();
  o->config.add_to(sub);
  sub.add_option("--format", o->format, "Report format")->check(CLI::IsMember({"text", "json", "yaml"}));
  sub.add_flag("--print-config", o->print_config,
               "Print the effective configuration (secrets redacted) instead of the report");
  sub.add_flag("--probe", o->probe, "Also connect to PostgreSQL and Redis and check the open-files limit");
  sub.add_option("--probe-timeout", o->probe_timeout, "Longest wait for each probe's connection (default 5s)");
  return [o] { return run_envcheck(*o); };
}

}  // namespace zuperior::cmd
