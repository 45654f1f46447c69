#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "command.hpp"
#include "config/schema.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"

namespace zuperior::cmd {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

void config_options::add_to(CLI::App& app) {
  app.add_option(
      "--config", config_file,
      "YAML configuration file (default: $ZUPERIOR_CONFIG, ./configs/zuperior.yaml, /etc/zuperior/zuperior.yaml)");
  app.add_option("--env-file", env_file, "dotenv file (default: $ZUPERIOR_ENV_FILE, or ./.env when present)");
  app.add_option("--profile", profile, "Override NODE_ENV")
      ->check(CLI::IsMember({"development", "production", "test"}));
  app.add_option("--set", sets, "Override one key: section.key=value (repeatable)");
}

config::loaded_config config_options::load(std::vector<config::flag_value> flags) const {
  config::load_options o;
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!config_file.empty()) {
    o.config_file = config_file;
    o.config_required = true;
  } else if (const char* v = std::getenv("ZUPERIOR_CONFIG"); v && *v) {
    o.config_file = v;
    o.config_required = true;
  } else if (fs::exists("configs/zuperior.yaml", ec)) {
    o.config_file = "configs/zuperior.yaml";
  } else if (fs::exists("/etc/zuperior/zuperior.yaml", ec)) {
    o.config_file = "/etc/zuperior/zuperior.yaml";
  }
  if (!env_file.empty()) {
    o.env_file = env_file;
    o.env_file_required = true;
  } else {
    // An empty ZUPERIOR_ENV_FILE= is unset, as ZUPERIOR_CONFIG= is: ./.env when present.
    const std::string named = env_or("ZUPERIOR_ENV_FILE", "");
    o.env_file = named.empty() ? ".env" : named;
    o.env_file_required = !named.empty();
  }
  // A file the user named and we cannot find means we cannot run at all (exit 2), not a bad config.
  if (o.config_required && !fs::exists(o.config_file, ec))
    throw core::command_error("configuration file " + core::quote(o.config_file) + " does not exist");
  if (o.env_file_required && !fs::exists(o.env_file, ec))
    throw core::command_error(".env file " + core::quote(o.env_file) + " does not exist");
  o.environment = config::process_environment();
  o.profile = profile;
  for (const auto& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos) throw core::command_error("--set takes section.key=value, got " + core::quote(s));
    o.flags.push_back({s.substr(0, eq), s.substr(eq + 1), "--set " + s.substr(0, eq)});
  }
  for (auto& f : flags) o.flags.push_back(std::move(f));
  return config::load(o);
}

void require_valid(const config::loaded_config& cfg, const std::vector<std::string>& required_keys) {
  std::string errors;
  std::size_t n = 0;
  for (const auto& d : cfg.problems) {
    if (d.severity == config::diagnostic::level::warning) {
      spdlog::warn("config: {}{}: {}", d.variable.empty() ? d.key : d.variable,
                   d.from.where == config::source::kind::default_value ? "" : " (" + d.from.describe() + ")",
                   d.message);
      continue;
    }
    ++n;
    if (n <= 5)
      errors += fmt::format("\n  {} ({}): {}", d.variable.empty() ? d.key : d.variable, d.from.describe(), d.message);
  }
  for (const auto& key : required_keys) {
    const auto* spec = config::find_key(key);
    auto it = cfg.texts.find(key);
    // Validation may already have said so (JWT_SECRET is validated as well as required).
    const bool said = std::any_of(cfg.problems.begin(), cfg.problems.end(), [&key](const config::diagnostic& d) {
      return d.key == key && d.severity == config::diagnostic::level::error;
    });
    if (spec && !said && (it == cfg.texts.end() || it->second.empty())) {
      ++n;
      if (n <= 5)
        errors += fmt::format("\n  {} is not set", spec->aliases.empty() ? spec->env_name() : spec->aliases.front());
    }
  }
  if (n)
    throw core::command_error(
        fmt::format("invalid configuration ({} error{}; run 'zuperior envcheck' for all of them):{}", n,
                    n == 1 ? "" : "s", errors));
}

}  // namespace zuperior::cmd
