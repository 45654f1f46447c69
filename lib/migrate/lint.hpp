#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "migrate/migration.hpp"

namespace zuperior::migrate {

/// How bad a finding is; --fail-on picks the threshold.
enum class severity { info, warning, error };

/// "info" / "warning" / "error".
std::string_view to_string(severity s);
/// Parses "info" / "warning" / "error"; nullopt otherwise.
std::optional<severity> parse_severity(std::string_view s);

/// One lint finding: where, what and the safer form.
struct finding {
  std::string file;
  int line = 0;
  std::string rule;  // e.g. "index-not-concurrent"
  severity level = severity::warning;
  std::string message;
  std::string safer;
};

/// What lint assumes about how the files will run.
struct lint_options {
  std::chrono::milliseconds lock_timeout{5000};  // the tool's configured lock_timeout (0 = none)
};

/// Lints the files in order, as if applied to a live database holding the tables earlier files
/// created (tables created in the same file are new and empty, so most rules skip them).
/// "-- zuperior:lint-ignore RULE[,RULE]" in a statement's leading comments or the file header silences it.
std::vector<finding> lint(const std::vector<migration>& files, const lint_options& options = {});

}  // namespace zuperior::migrate
