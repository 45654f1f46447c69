#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/family.hpp"

namespace zuperior::metrics {

/// A set of metric families rendered together for one /metrics scrape.
/// Registration is control plane (takes a mutex, throws std::invalid_argument on a bad name, a
/// conflicting re-registration, or a `_total` name that is not a counter: Prometheus reserves the
/// suffix for counters, and rate() over a gauge is wrong on a reset); updating a registered metric
/// never takes the registry's mutex.
class registry {
 public:
  registry() = default;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  /// Registers (or returns the identical existing) counter family.
  counter_family& add_counter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  /// Registers (or returns the identical existing) gauge family.
  gauge_family& add_gauge(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
  /// Registers (or returns the identical existing) histogram family; `bounds` default to latency_buckets().
  histogram_family& add_histogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names = {},
                                  std::vector<double> bounds = latency_buckets());
  /// Shorthand: a label-less gauge whose value comes from `fn` at every scrape (e.g. pool in use).
  gauge& add_callback_gauge(const std::string& name, const std::string& help, std::function<double()> fn);
  /// Shorthand: a label-less counter read from `fn` at every scrape, for a monotonic count kept
  /// elsewhere (e.g. an atomic of a module that does not depend on metrics).
  counter& add_callback_counter(const std::string& name, const std::string& help, std::function<double()> fn);
  /// Every family, sorted by name, in Prometheus text exposition format 0.0.4.
  std::string render() const;
  /// The family with this name, or nullptr.
  const family_base* find(std::string_view name) const;

 private:
  template <class F>
  F& add(const std::string& name, const std::string& help, metric_type type, std::vector<std::string> label_names,
         std::vector<double> bounds);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<family_base>, std::less<>> families_;
};

/// The process-wide registry every module registers into and /metrics renders.
registry& default_registry();

/// The Content-Type of render()'s output.
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

/// True for a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*).
bool valid_metric_name(std::string_view name);
/// True for a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__").
bool valid_label_name(std::string_view name);
/// Appends `v` escaped for a label value (backslash, double quote, newline).
void append_label_value(std::string& out, std::string_view v);
/// Appends `v` as Prometheus writes numbers (shortest round-trip form, +Inf, -Inf, NaN).
void append_number(std::string& out, double v);

}  // namespace zuperior::metrics
