#pragma once
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "config/loader.hpp"

namespace zuperior::config {

/// The outcome of one live check (`envcheck --probe`).
struct probe_result {
  std::string name;  // "postgresql", "redis", "open_files"
  bool ok = false;
  bool warning = false;  // a failed check that is only a warning
  double latency_ms = -1;
  std::string detail;  // e.g. server version
  std::string error;
};

/// Human-readable envcheck report: a verdict line, then one block per problem and probe.
std::string render_report_text(const loaded_config& cfg, const std::vector<probe_result>& probes);
/// Machine-readable envcheck report (stable schema, see man zuperior-envcheck).
nlohmann::json render_report_json(const loaded_config& cfg, const std::vector<probe_result>& probes);
/// The effective configuration, one `key = value  # source` line per key, secrets redacted.
std::string render_config_text(const loaded_config& cfg);
/// The effective configuration as commented YAML (configs/zuperior.yaml is this, from defaults).
std::string render_config_yaml(const loaded_config& cfg);
/// The effective configuration as {"key": {"value":…, "source":…}}, secrets redacted.
nlohmann::json render_config_json(const loaded_config& cfg);
/// True when the report has no error (problems or failed probes).
bool report_ok(const loaded_config& cfg, const std::vector<probe_result>& probes);

}  // namespace zuperior::config
