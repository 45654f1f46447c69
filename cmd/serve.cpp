// zuperior serve: parses options, loads and checks the configuration, starts logging, then hands
// over to the composition root in daemon/.
#include <CLI/CLI.hpp>

#include <memory>

#include "command.hpp"
#include "config/checks.hpp"
#include "core/error.hpp"
#include "daemon/daemon.hpp"
#include "log/log.hpp"

namespace zuperior::cmd {
namespace {

struct serve_options {
  config_options config;
  std::string host, port, workers, log_level, log_format;
  std::string ping_interval, ping_timeout, max_payload;  // real-time endpoint (protocol test suites)
  bool protocol_test_mode = false;
};

std::vector<config::flag_value> flags_of(const serve_options& o) {
  std::vector<config::flag_value> f;
  if (!o.host.empty()) f.push_back({"server.host", o.host, "--host"});
  if (!o.port.empty()) f.push_back({"server.port", o.port, "--port"});
  if (!o.workers.empty()) f.push_back({"server.workers", o.workers, "--workers"});
  if (!o.log_level.empty()) f.push_back({"log.level", o.log_level, "--log-level"});
  if (!o.log_format.empty()) f.push_back({"log.format", o.log_format, "--log-format"});
  if (!o.ping_interval.empty()) f.push_back({"realtime.ping_interval", o.ping_interval, "--ping-interval"});
  if (!o.ping_timeout.empty()) f.push_back({"realtime.ping_timeout", o.ping_timeout, "--ping-timeout"});
  if (!o.max_payload.empty()) f.push_back({"realtime.max_payload", o.max_payload, "--max-payload"});
  return f;
}

int run_serve(const serve_options& o) {
  auto cfg = o.config.load(flags_of(o));
  config::check_policy(cfg);
  auto& s = cfg.values;
  // The log first, so that the configuration's warnings are lines of the configured format too (a
  // bad log.level or log.format is an error below and leaves the default in place here).
  std::vector<std::string> secrets{s.auth.jwt_secret, s.redis.password, s.manager.password};
  log::init(s.log.level, s.log.format, secrets);
  require_valid(cfg, {"auth.jwt_secret"});
  if (o.protocol_test_mode) s.realtime.protocol_test_mode = true;
  daemon::options d;
  d.settings = s;
  d.reload = [&o]() {
    auto fresh = o.config.load(flags_of(o));
    config::check_policy(fresh);
    require_valid(fresh);
    return fresh.values;
  };
  return daemon::run(d);
}

}  // namespace

runner setup_serve(CLI::App& sub) {
  auto o = std::make_shared<serve_options>();
  o->config.add_to(sub);
  sub.add_option("--host", o->host, "Listen address (server.host)");
  sub.add_option("--port", o->port, "Listen port, 0 for a free one (server.port)");
  sub.add_option("--workers", o->workers, "Network threads, 0 = one per core (server.workers)");
  sub.add_option("--log-level", o->log_level, "trace|debug|info|warn|error (log.level)");
  sub.add_option("--log-format", o->log_format, "text|json (log.format)");
  sub.add_option("--ping-interval", o->ping_interval,
                 "Engine.IO ping interval, e.g. 25s or 300ms (realtime.ping_interval)");
  sub.add_option("--ping-timeout", o->ping_timeout, "Engine.IO pong deadline (realtime.ping_timeout)");
  sub.add_option("--max-payload", o->max_payload, "Largest Engine.IO payload in bytes (realtime.max_payload)");
  sub.add_flag("--protocol-test-mode", o->protocol_test_mode,
               "Enable the real-time endpoint's protocol test hooks (tests only)");
  return [o]() { return run_serve(*o); };
}

}  // namespace zuperior::cmd
