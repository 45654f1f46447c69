#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config/loader.hpp"

namespace CLI {
class App;
}

namespace zuperior::cmd {

/// What a subcommand does once its options are parsed; returns the exit code.
using runner = std::function<int()>;

/// One row of the subcommand table: the subcommand fills `sub` and returns its runner.
struct command {
  const char* name;
  const char* summary;
  runner (*setup)(CLI::App& sub);
};

/// --config / --env-file / --profile / --set, shared by every subcommand that reads configuration.
struct config_options {
  std::string config_file;
  std::string env_file;
  std::string profile;
  std::vector<std::string> sets;  // "section.key=value"

  /// Registers the options on `app`.
  void add_to(CLI::App& app);
  /// Resolves default file locations and loads; `flags` are the subcommand's own overrides.
  config::loaded_config load(std::vector<config::flag_value> flags = {}) const;
};

/// Throws command_error (exit 2) listing the configuration errors when there are any; warnings are logged.
void require_valid(const config::loaded_config& cfg, const std::vector<std::string>& required_keys = {});

/// Prints `j` indented, then a newline, to stdout. Bytes that are not UTF-8 (a .env or a migration
/// file can hold anything) become U+FFFD instead of aborting the report.
void print_json(const nlohmann::json& j);

runner setup_envcheck(CLI::App& sub);
runner setup_migrate(CLI::App& sub);
runner setup_serve(CLI::App& sub);
runner setup_health(CLI::App& sub);
runner setup_ratelimit(CLI::App& sub);
runner setup_loadtest(CLI::App& sub);

}  // namespace zuperior::cmd
