#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::log {

/// Configures the default logger: stdout, "text" or "json" lines, the given level.
/// Secrets listed are masked in every line, with URL passwords and bearer tokens.
void init(std::string_view level, std::string_view format, std::vector<std::string> secrets = {});
/// Changes the level at run time (SIGHUP reload); false when the name is unknown.
bool set_level(std::string_view level);
/// Logs to stderr only (used by the command-line tools so that stdout stays a clean report).
void init_stderr(std::string_view level);

}  // namespace zuperior::log
