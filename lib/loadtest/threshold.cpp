#include "loadtest/threshold.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <utility>

#include "core/strings.hpp"

namespace zuperior::loadtest {
namespace {

// Latency statistics that every latency family offers.
constexpr std::array<std::string_view, 9> latency_stats = {"p50", "p90", "p95", "p99", "p99.9",
                                                           "max", "min", "avg", "med"};

bool is_latency_stat(std::string_view s) {
  for (auto l : latency_stats)
    if (s == l) return true;
  return false;
}

struct family_rule {
  std::string_view prefix;  // "http", "ws.delivery", …
  bool latency;             // offers latency stats
  std::array<std::pair<std::string_view, metric_kind>, 9> extra;
};

// The metrics a run reports; anything else is an error at parse time, not a silent pass.
const family_rule families[] = {
    {"http",
     true,
     {{{"errors", metric_kind::ratio},
       {"error_count", metric_kind::count},
       {"requests", metric_kind::count},
       {"rps", metric_kind::rate},
       {"status_errors", metric_kind::count},
       {"timeouts", metric_kind::count},
       {"connect_errors", metric_kind::count},
       {"protocol_errors", metric_kind::count}}}},
    {"ws",
     false,
     {{{"connect_errors", metric_kind::count},
       {"connected", metric_kind::count},
       {"disconnects", metric_kind::count},
       {"lost", metric_kind::count},
       {"out_of_order", metric_kind::count},
       {"received", metric_kind::count},
       {"messages_per_s", metric_kind::rate},
       {"missing_events", metric_kind::count},
       {"protocol_errors", metric_kind::count}}}},
    {"ws.connect", true, {}},
    {"ws.delivery", true, {{{"lost_ratio", metric_kind::ratio}}}},
    {"ws.ack", true, {{{"timeouts", metric_kind::count}, {"errors", metric_kind::count}}}},
    {"generator",
     false,
     {{{"lag.p99", metric_kind::latency},
       {"lag.max", metric_kind::latency},
       {"loop_delay.p99", metric_kind::latency},
       {"loop_delay.max", metric_kind::latency}}}},
};

std::optional<double> parse_number(std::string_view s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

std::optional<metric_kind> metric_kind_of(std::string_view metric) {
  // Longest family prefix first so "ws.delivery.p99" is not read as family "ws".
  const family_rule* best = nullptr;
  for (const auto& f : families)
    if (metric.size() > f.prefix.size() && metric.substr(0, f.prefix.size()) == f.prefix &&
        metric[f.prefix.size()] == '.' && (!best || f.prefix.size() > best->prefix.size()))
      best = &f;
  if (!best) return std::nullopt;
  auto stat = metric.substr(best->prefix.size() + 1);
  if (best->latency && is_latency_stat(stat)) return metric_kind::latency;
  for (const auto& [name, kind] : best->extra)
    if (!name.empty() && name == stat) return kind;
  // "ws.lost" belongs to family "ws", not "ws.delivery": retry with the shorter families.
  for (const auto& f : families) {
    if (&f == best || !(metric.size() > f.prefix.size() && metric.substr(0, f.prefix.size()) == f.prefix &&
                        metric[f.prefix.size()] == '.'))
      continue;
    auto s = metric.substr(f.prefix.size() + 1);
    if (f.latency && is_latency_stat(s)) return metric_kind::latency;
    for (const auto& [name, kind] : f.extra)
      if (!name.empty() && name == s) return kind;
  }
  return std::nullopt;
}

threshold parse_threshold(std::string_view input) {
  threshold t;
  auto text = core::trim(input);
  t.text = std::string(text);
  if (text.empty()) throw threshold_error("empty threshold expression");
  // The operator: the first of < > = ! outside the braces.
  std::size_t op_pos = std::string_view::npos;
  int depth = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{') ++depth;
    if (c == '}') --depth;
    if (depth == 0 && (c == '<' || c == '>' || c == '=' || c == '!')) {
      op_pos = i;
      break;
    }
  }
  if (op_pos == std::string_view::npos)
    throw threshold_error(fmt::format("threshold \"{}\": no comparison (use <, <=, >, >=, == or !=)", t.text));
  auto lhs = core::trim(text.substr(0, op_pos));
  auto rest = text.substr(op_pos);
  std::size_t op_len = 1;
  if (rest.starts_with("<="))
    t.op = cmp_op::le, op_len = 2;
  else if (rest.starts_with(">="))
    t.op = cmp_op::ge, op_len = 2;
  else if (rest.starts_with("=="))
    t.op = cmp_op::eq, op_len = 2;
  else if (rest.starts_with("!="))
    t.op = cmp_op::ne, op_len = 2;
  else if (rest.starts_with("<"))
    t.op = cmp_op::lt;
  else if (rest.starts_with(">"))
    t.op = cmp_op::gt;
  else
    throw threshold_error(fmt::format("threshold \"{}\": unknown comparison operator", t.text));
  auto rhs = core::trim(rest.substr(op_len));

  // Step tag: family{step:name}.stat
  std::string metric(lhs);
  if (auto open = metric.find('{'); open != std::string::npos) {
    auto close = metric.find('}', open);
    if (close == std::string::npos) throw threshold_error(fmt::format("threshold \"{}\": unclosed '{{'", t.text));
    // The tag belongs right after the family: "{step:x}http.p99" or "http.p99{step:x}" would
    // otherwise read as http{step:x}.p99.
    if (open == 0 || metric.find('.') < open || metric.compare(close + 1, 1, ".") != 0)
      throw threshold_error(
          fmt::format("threshold \"{}\": the step tag goes right after http, as in http{{step:NAME}}.p99", t.text));
    auto tag = core::trim(std::string_view(metric).substr(open + 1, close - open - 1));
    if (!tag.starts_with("step:"))
      throw threshold_error(fmt::format("threshold \"{}\": only {{step:NAME}} tags are supported", t.text));
    t.step = std::string(core::trim(tag.substr(5)));
    if (t.step.empty()) throw threshold_error(fmt::format("threshold \"{}\": empty step name", t.text));
    metric = metric.substr(0, open) + metric.substr(close + 1);
  }
  if (metric.empty()) throw threshold_error(fmt::format("threshold \"{}\": no metric before the operator", t.text));
  auto kind = metric_kind_of(metric);
  if (!kind)
    throw threshold_error(fmt::format(
        "threshold \"{}\": unknown metric \"{}\" (e.g. http.p99, http.errors, ws.connect_errors, ws.delivery.p99, "
        "ws.lost)",
        t.text, metric));
  t.metric = metric;
  t.kind = *kind;
  if (!t.step.empty() && !metric.starts_with("http."))
    throw threshold_error(fmt::format("threshold \"{}\": {{step:…}} applies to http metrics only", t.text));

  // Value and unit.
  if (rhs.empty()) throw threshold_error(fmt::format("threshold \"{}\": no value after the operator", t.text));
  std::size_t num_end = 0;
  while (num_end < rhs.size() && (std::isdigit(static_cast<unsigned char>(rhs[num_end])) || rhs[num_end] == '.' ||
                                  (num_end == 0 && (rhs[0] == '-' || rhs[0] == '+'))))
    ++num_end;
  auto num = parse_number(rhs.substr(rhs[0] == '+' ? 1 : 0, num_end - (rhs[0] == '+' ? 1 : 0)));
  if (!num) throw threshold_error(fmt::format("threshold \"{}\": \"{}\" is not a number", t.text, std::string(rhs)));
  auto unit = core::trim(rhs.substr(num_end));
  double v = *num;
  // Every metric is a latency, ratio, count or rate: none is below zero.
  if (v < 0) throw threshold_error(fmt::format("threshold \"{}\": the limit cannot be negative", t.text));
  switch (t.kind) {
    case metric_kind::latency:
      if (unit == "us" || unit == "µs")
        t.value = v;
      else if (unit == "ms")
        t.value = v * 1e3;
      else if (unit == "s")
        t.value = v * 1e6;
      else if (unit.empty() && v == 0)
        t.value = 0;
      else
        throw threshold_error(
            fmt::format("threshold \"{}\": a latency needs a unit (us, ms or s), got \"{}\"", t.text, unit));
      break;
    case metric_kind::ratio:
      if (unit == "%")
        t.value = v / 100.0;
      else if (unit.empty())
        t.value = v;
      else
        throw threshold_error(fmt::format("threshold \"{}\": a ratio takes % or a fraction", t.text));
      if (t.value < 0 || t.value > 1)
        throw threshold_error(fmt::format("threshold \"{}\": ratio out of range", t.text));
      break;
    case metric_kind::count:
      if (!unit.empty()) throw threshold_error(fmt::format("threshold \"{}\": a count takes no unit", t.text));
      if (v != std::floor(v))
        throw threshold_error(fmt::format("threshold \"{}\": a count is a whole number, got {}", t.text, v));
      t.value = v;
      break;
    case metric_kind::rate:
      if (!unit.empty() && unit != "/s")
        throw threshold_error(fmt::format("threshold \"{}\": a rate takes no unit or /s", t.text));
      t.value = v;
      break;
  }
  return t;
}

bool compare(double a, cmp_op op, double v) noexcept {
  switch (op) {
    case cmp_op::lt:
      return a < v;
    case cmp_op::le:
      return a <= v;
    case cmp_op::gt:
      return a > v;
    case cmp_op::ge:
      return a >= v;
    case cmp_op::eq:
      return a == v;
    case cmp_op::ne:
      return a != v;
  }
  return false;
}

std::string_view op_text(cmp_op op) noexcept {
  switch (op) {
    case cmp_op::lt:
      return "<";
    case cmp_op::le:
      return "<=";
    case cmp_op::gt:
      return ">";
    case cmp_op::ge:
      return ">=";
    case cmp_op::eq:
      return "==";
    case cmp_op::ne:
      return "!=";
  }
  return "?";
}

std::string format_metric_value(metric_kind kind, double v) {
  switch (kind) {
    case metric_kind::latency:
      if (v >= 1e6) return fmt::format("{:.2f}s", v / 1e6);
      if (v >= 1e3) return fmt::format("{:.2f}ms", v / 1e3);
      return fmt::format("{:.0f}us", v);
    case metric_kind::ratio:
      return fmt::format("{:.3f}%", v * 100);
    case metric_kind::count:
      return fmt::format("{:.0f}", v);
    case metric_kind::rate:
      return fmt::format("{:.1f}/s", v);
  }
  return fmt::format("{}", v);
}

}  // namespace zuperior::loadtest
