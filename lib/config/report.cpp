#include "config/report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "config/schema.hpp"
#include "core/strings.hpp"

namespace zuperior::config {
namespace {

std::string shown(const loaded_config& cfg, const key_spec& spec) {
  // The normalised effective value ("7s", not the "7" of ?pool_timeout=7), whatever set it.
  std::string text = spec.render(cfg.values);
  if (spec.type == kind::secret) return text.empty() ? "" : std::string("<redacted>");
  return display_value(spec, text);
}

std::size_t count(const loaded_config& cfg, diagnostic::level level) {
  std::size_t n = 0;
  for (const auto& d : cfg.problems) n += d.severity == level;
  return n;
}

std::size_t failed_probes(const std::vector<probe_result>& probes, bool warning) {
  std::size_t n = 0;
  for (const auto& p : probes) n += !p.ok && p.warning == warning;
  return n;
}

}  // namespace

bool report_ok(const loaded_config& cfg, const std::vector<probe_result>& probes) {
  return count(cfg, diagnostic::level::error) == 0 && failed_probes(probes, false) == 0;
}

std::string render_report_text(const loaded_config& cfg, const std::vector<probe_result>& probes) {
  std::size_t errors = count(cfg, diagnostic::level::error) + failed_probes(probes, false);
  std::size_t warnings = count(cfg, diagnostic::level::warning) + failed_probes(probes, true);
  std::string out =
      fmt::format("envcheck: profile {}: {} ({} error{}, {} warning{})\n", cfg.values.app.env,
                  errors ? "INVALID" : "valid", errors, errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
  for (auto level : {diagnostic::level::error, diagnostic::level::warning}) {
    for (const auto& d : cfg.problems) {
      if (d.severity != level) continue;
      std::string name = d.variable.empty() ? d.key : d.variable;
      if (!d.key.empty() && !d.variable.empty() && d.variable != d.key) name += fmt::format(" ({})", d.key);
      out += fmt::format("{:<7} {}{}{}\n", level == diagnostic::level::error ? "error" : "warning", name,
                         name.empty() ? "" : ": ", d.message);
      out += fmt::format("        from: {}\n", d.from.describe());
      if (!d.value.empty()) out += fmt::format("        value: {}\n", d.value);
      if (!d.hint.empty()) out += fmt::format("        fix: {}\n", d.hint);
    }
  }
  for (const auto& p : probes) {
    std::string status = p.ok ? "ok" : p.warning ? "warning" : "error";
    std::string latency = p.latency_ms >= 0 ? fmt::format(" in {:.1f} ms", p.latency_ms) : "";
    out += fmt::format("{:<7} probe {}{}{}{}\n", status, p.name, latency, p.detail.empty() ? "" : ": " + p.detail,
                       p.error.empty() ? "" : (p.detail.empty() ? ": " : "; ") + p.error);
  }
  return out;
}

nlohmann::json render_report_json(const loaded_config& cfg, const std::vector<probe_result>& probes) {
  nlohmann::json problems = nlohmann::json::array();
  for (const auto& d : cfg.problems) {
    nlohmann::json from{{"kind", d.from.kind_name()}};
    if (!d.from.file.empty()) from["file"] = d.from.file;
    if (d.from.line) from["line"] = d.from.line;
    if (!d.from.name.empty()) from["name"] = d.from.name;
    problems.push_back({{"severity", d.severity == diagnostic::level::error ? "error" : "warning"},
                        {"key", d.key},
                        {"variable", d.variable},
                        {"message", d.message},
                        {"hint", d.hint},
                        {"value", d.value},
                        {"source", from}});
  }
  nlohmann::json probe_list = nlohmann::json::array();
  for (const auto& p : probes) {
    nlohmann::json j{{"name", p.name}, {"ok", p.ok}, {"severity", p.ok ? "ok" : p.warning ? "warning" : "error"}};
    if (p.latency_ms >= 0) j["latency_ms"] = p.latency_ms;
    if (!p.detail.empty()) j["detail"] = p.detail;
    if (!p.error.empty()) j["error"] = p.error;
    probe_list.push_back(std::move(j));
  }
  return {{"valid", report_ok(cfg, probes)},
          {"profile", cfg.values.app.env},
          {"errors", count(cfg, diagnostic::level::error) + failed_probes(probes, false)},
          {"warnings", count(cfg, diagnostic::level::warning) + failed_probes(probes, true)},
          {"problems", problems},
          {"probes", probe_list}};
}

std::string render_config_text(const loaded_config& cfg) {
  std::string out;
  std::string section;
  for (const auto& spec : schema()) {
    std::string sec = spec.path.substr(0, spec.path.find('.'));
    if (sec != section) {
      out += fmt::format("{}[{}]\n", section.empty() ? "" : "\n", sec);
      section = sec;
    }
    out += fmt::format("{:<36} = {:<40} # {}\n", spec.path, shown(cfg, spec), cfg.source_of(spec.path).describe());
  }
  return out;
}

nlohmann::json render_config_json(const loaded_config& cfg) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& spec : schema())
    out[spec.path] = {{"value", shown(cfg, spec)}, {"source", cfg.source_of(spec.path).describe()}};
  return out;
}

namespace {

// Plain YAML scalars stay bare; anything YAML could misread is double-quoted.
std::string yaml_scalar(const std::string& v) {
  bool plain = !v.empty() && v.find_first_of(":#,[]{}&*!|>'\"%@`") == std::string::npos && v.front() != ' ' &&
               v.back() != ' ' && v.front() != '-' && v.front() != '?';
  if (plain) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string render_config_yaml(const loaded_config& cfg) {
  std::string out;
  std::string section;
  for (const auto& spec : schema()) {
    auto dot = spec.path.find('.');
    std::string sec = spec.path.substr(0, dot);
    std::string name = spec.path.substr(dot + 1);
    if (sec != section) {
      out += fmt::format("{}{}:\n", section.empty() ? "" : "\n", sec);
      section = sec;
    }
    std::string env = spec.env_name();
    for (const auto& a : spec.aliases) env += " or " + a;
    out += fmt::format("  # {}\n  # env: {}\n", spec.help, env);
    if (!spec.choices.empty() && spec.type == kind::enumeration)
      out += fmt::format("  # one of: {}\n", fmt::join(spec.choices, ", "));
    std::string value = shown(cfg, spec);
    if (spec.type == kind::list) {
      std::vector<std::string> items;
      for (const auto& item : core::split(value, ',', true)) items.push_back(yaml_scalar(item));
      out += fmt::format("  {}: [{}]\n", name, fmt::join(items, ", "));
    } else if (value.empty()) {
      out += fmt::format("  # {}: \"\"   (unset; usually given in the environment)\n", name);
    } else {
      out += fmt::format("  {}: {}\n", name, yaml_scalar(value));
    }
  }
  return out;
}

}  // namespace zuperior::config
