#pragma once
#include <cstddef>
#include <cstdint>
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

/// One HTTP request, as the access log writes it.
struct access_entry {
  std::string_view request_id;
  std::string_view method;
  std::string_view route;
  unsigned status = 0;
  std::size_t bytes = 0;  // response body bytes
  std::int64_t duration_us = 0;
  std::string_view identity;  // "user:<id>" or "ip:<address>"
};
/// Writes one access-log line at info: "[id] GET /route 200 12B 0.345ms ip:1.2.3.4" in text format,
/// and in JSON format an object whose fields are these (request_id, method, route, status, bytes,
/// duration_ms, identity) beside ts, level and msg "access".
void access(const access_entry& e);

}  // namespace zuperior::log
