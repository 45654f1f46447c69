#pragma once
#include <string>
#include <vector>

namespace zuperior::config {

/// Where a configuration value came from.
struct source {
  enum class kind { default_value, yaml, env_file, environment, flag, file };
  kind where = kind::default_value;
  std::string file;  // yaml / env_file / file (a file a key points at, e.g. market.symbols_path)
  int line = 0;      // 1-based, 0 when unknown
  std::string name;  // the variable, YAML key or flag that set it

  /// "default", "environment JWT_SECRET", ".env:4 (JWT_SECRET)", "configs/zuperior.yaml:12", "flag --port",
  /// "symbols.txt:3".
  std::string describe() const;
  /// "default" | "yaml" | "env_file" | "environment" | "flag" | "file".
  std::string kind_name() const;
};

/// One problem found in the configuration.
struct diagnostic {
  enum class level { error, warning };
  level severity = level::error;
  std::string key;       // "auth.jwt_secret" (may be empty for file-level problems)
  std::string variable;  // "JWT_SECRET" when the key has a seed name or came from one
  std::string message;
  std::string hint;
  std::string value;  // as shown to humans: secrets already redacted, may be empty
  source from;
};

using diagnostics = std::vector<diagnostic>;

/// Number of errors (not warnings) in `d`.
std::size_t error_count(const diagnostics& d);

}  // namespace zuperior::config
