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

int run(int argc, char** argv) {
  CLI::App app{"zuperior — the Zuperior trading terminal's backend daemon and operations toolkit", "zuperior"};
  app.set_version_flag("--version", fmt::format("zuperior {}", core::version()));
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
    std::puts(fmt::format("zuperior {}", core::version()).c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    // CLI11 calls an unknown first word "A subcommand is required"; name it instead.
    if (argc > 1 && argv[1][0] != '-' && !is_command(argv[1])) message = fmt::format("unknown command '{}'", argv[1]);
    std::fprintf(stderr, "zuperior: %s\nRun '%s --help' for usage.\n", message.c_str(), command_path(app).c_str());
    return core::exit_usage;
  }
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
