// zuperior: one binary, a table of subcommands. Control-plane errors end here as one line.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "command.hpp"
#include "core/error.hpp"
#include "core/version.hpp"
#include "log/log.hpp"

#ifdef ZUPERIOR_JEMALLOC
// jemalloc's defaults for this binary (MALLOC_CONF overrides them): freed pages go back to the
// kernel after a second rather than ten, so the resident size falls soon after a burst (10,000
// sockets under 210,000 msg/s: 101 MB afterwards instead of 119 MB, tests/bench/realtime.sh).
extern "C" {
// NOLINTNEXTLINE: jemalloc reads this global by name.
const char* malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0";
}
#endif

namespace zuperior::cmd {
namespace {

const command commands[] = {
    {"serve", "Run the daemon: HTTP API, Socket.IO real-time endpoint, /metrics and probes", setup_serve},
    {"migrate", "Apply, plan, lint and inspect database migrations", setup_migrate},
    {"envcheck", "Validate the whole configuration, every problem in one run", setup_envcheck},
    {"ratelimit", "Prove the rate limits a deployment enforces; inspect or reset one identifier", setup_ratelimit},
    {"loadtest", "Drive HTTP and Socket.IO load from a scenario; thresholds decide the exit code", setup_loadtest},
    {"health", "Ask a running daemon for its health; the exit code says it", setup_health},
};

bool is_command(std::string_view name) {
  for (const auto& c : commands)
    if (name == c.name) return true;
  return false;
}

// "zuperior ratelimit inspect": the words of the deepest subcommand the parser got to, so a usage
// error points at the help that describes the failing options.
std::string command_path(const CLI::App& app) {
  std::string path = app.get_name();
  const CLI::App* at = &app;
  for (;;) {
    const auto subs = at->get_subcommands();
    if (subs.empty()) return path;
    at = subs.front();
    path += ' ';
    path += at->get_name();
  }
}

// "zuperior 0.1.0 (jemalloc 5.3.0)": the allocator is part of what an operator compares between builds.
std::string version_text() { return fmt::format("zuperior {} ({})", core::version(), ZUPERIOR_ALLOCATOR_TEXT); }

int run(int argc, char** argv) {
  CLI::App app{"zuperior — the Zuperior trading terminal's backend daemon and operations toolkit", "zuperior"};
  app.set_version_flag("--version", version_text());
  app.require_subcommand(1);
  app.fallthrough(false);
  std::vector<std::pair<CLI::App*, runner>> runners;
  for (const auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.summary);
    runners.emplace_back(sub, c.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);  // help() delegates to the subcommand named
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion&) {
    std::puts(version_text().c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    // CLI11 calls an unknown first word "A subcommand is required"; name it instead.
    if (argc > 1 && argv[1][0] != '-' && !is_command(argv[1])) message = fmt::format("unknown command '{}'", argv[1]);
    std::fprintf(stderr, "zuperior: %s\nRun '%s --help' for usage.\n", message.c_str(), command_path(app).c_str());
    return core::exit_usage;
  }
  // Until serve installs its own: whatever a subcommand logs goes to stderr, redacted, so that its
  // stdout (a JSON report, `migrate plan`) stays only what it prints (spdlog's default logger
  // wrote config warnings to stdout, ahead of `--format json` output).
  log::init_stderr("info");
  for (auto& [sub, r] : runners)
    if (sub->parsed()) return r();
  return core::exit_usage;
}

}  // namespace
}  // namespace zuperior::cmd

int main(int argc, char** argv) {
  try {
    return zuperior::cmd::run(argc, argv);
  } catch (const zuperior::core::command_error& e) {
    std::fprintf(stderr, "zuperior: %s\n", e.what());
    return e.code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zuperior: %s\n", zuperior::core::error_text(e).c_str());
    return zuperior::core::exit_usage;
  }
}
