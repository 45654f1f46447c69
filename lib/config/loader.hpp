#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "config/diagnostic.hpp"
#include "config/settings.hpp"

namespace zuperior::config {

/// One value given on the command line: `path` is a dotted key such as "server.port".
struct flag_value {
  std::string path;
  std::string text;
  std::string flag;  // how the user spelled it, e.g. "--port"
};

/// What to load, lowest precedence first: defaults < YAML < .env < environment < flags.
struct load_options {
  std::string config_file;         // empty: none
  bool config_required = false;    // true when the user named it (--config): missing is an error
  std::string env_file;            // empty: none
  bool env_file_required = false;  // true when the user named it (--env-file)
  std::vector<std::pair<std::string, std::string>> environment;  // usually the process's
  std::vector<flag_value> flags;
  std::string profile;  // --profile; overrides NODE_ENV
};

/// The effective configuration, where each key came from, and every problem found.
struct loaded_config {
  settings values;
  std::map<std::string, source> sources;     // by key path; absent = default
  std::map<std::string, std::string> texts;  // by key path: the text that set it (may be secret)
  diagnostics problems;

  /// The source of `path` (default when never set).
  source source_of(const std::string& path) const;
};

/// Loads and validates types and ranges; never throws for bad input (it becomes a diagnostic).
loaded_config load(const load_options& options);
/// The current process environment as name/value pairs.
std::vector<std::pair<std::string, std::string>> process_environment();

}  // namespace zuperior::config
