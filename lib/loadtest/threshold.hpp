#pragma once
// k6-style thresholds: "http.p99<100ms", "http.errors<0.1%", "ws.connect_errors==0",
// "ws.delivery.p99<100ms", "ws.lost==0", per step: "http{step:login}.p95<=250ms".
// Pure: parsing and comparison only; the run supplies the measured values.
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace zuperior::loadtest {

/// A threshold expression that cannot be parsed; what() says why.
class threshold_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Comparison operators.
enum class cmp_op { lt, le, gt, ge, eq, ne };

/// The kind of quantity a metric is, which decides which units are allowed.
enum class metric_kind { latency, ratio, count, rate };

/// One parsed threshold.
struct threshold {
  std::string text;    // as written, trimmed
  std::string metric;  // canonical name without the step tag, e.g. "http.p99", "ws.delivery.p99"
  std::string step;    // "" = overall
  cmp_op op = cmp_op::lt;
  double value = 0;  // in base units: microseconds, a fraction (0.001 for 0.1%), a count, per second
  metric_kind kind = metric_kind::count;
};

/// Parses one expression; throws threshold_error naming what is wrong.
threshold parse_threshold(std::string_view text);
/// The kind of a known metric name, or nullopt when the name is unknown.
std::optional<metric_kind> metric_kind_of(std::string_view metric);
/// True when `actual op value` holds.
bool compare(double actual, cmp_op op, double value) noexcept;
/// "<", "<=", …
std::string_view op_text(cmp_op op) noexcept;
/// A measured value in human units for its kind ("12.3ms", "0.05%", "17").
std::string format_metric_value(metric_kind kind, double value);

}  // namespace zuperior::loadtest
