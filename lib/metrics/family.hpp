#pragma once
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "metrics/counter.hpp"
#include "metrics/gauge.hpp"
#include "metrics/histogram.hpp"

namespace zuperior::metrics {

enum class metric_type { counter, gauge, histogram };

/// What every family has: a name, help text, a type and the names of its labels.
class family_base {
 public:
  family_base(std::string name, std::string help, metric_type type, std::vector<std::string> label_names);
  virtual ~family_base() = default;
  family_base(const family_base&) = delete;
  family_base& operator=(const family_base&) = delete;

  /// The metric name.
  const std::string& name() const { return name_; }
  /// The HELP text.
  const std::string& help() const { return help_; }
  /// counter, gauge or histogram.
  metric_type type() const { return type_; }
  /// The label names, in the order label values are given.
  const std::vector<std::string>& label_names() const { return label_names_; }
  /// Appends this family in Prometheus text exposition format (HELP, TYPE, one line per sample).
  virtual void render(std::string& out) const = 0;

 private:
  std::string name_, help_;
  metric_type type_;
  std::vector<std::string> label_names_;
};

/// A metric with labels: one child (counter, gauge or histogram) per combination of label values.
/// Look a child up once and keep the reference where you can: references stay valid until remove().
/// A lookup takes a shared lock and builds no strings on the heap for short label values.
template <class T>
class family final : public family_base {
 public:
  family(std::string name, std::string help, metric_type type, std::vector<std::string> label_names,
         std::vector<double> bounds = {});
  ~family() override;

  /// The child for these label values (created on first use); throws std::invalid_argument on a wrong count.
  T& labels(std::initializer_list<std::string_view> values);
  /// Same, with values in a vector.
  T& labels(const std::vector<std::string>& values);
  /// The only child of a family declared without labels.
  T& get() { return labels({}); }
  /// Makes the child for `values` read its value from `fn` at every scrape (pool in use, CPU seconds);
  /// `fn` must be thread-safe, stay callable until remove() or the registry's end, and never
  /// register metrics itself (it runs under the registry's lock during render()).
  /// (Histograms have no callback form: throws std::logic_error.)
  void set_callback(std::initializer_list<std::string_view> values, std::function<double()> fn);
  /// Drops a child (e.g. a callback gauge whose source goes away); true if it existed.
  bool remove(std::initializer_list<std::string_view> values);
  void render(std::string& out) const override;

 private:
  struct child {
    std::vector<std::string> values;
    std::unique_ptr<T> metric;
  };
  template <class It>
  T& lookup(It begin, It end, std::size_t n);

  std::vector<double> bounds_;  // histograms only
  mutable std::shared_mutex mu_;
  std::map<std::string, child, std::less<>> children_;  // key: length-prefixed label values
};

using counter_family = family<counter>;
using gauge_family = family<gauge>;
using histogram_family = family<histogram>;

extern template class family<counter>;
extern template class family<gauge>;
extern template class family<histogram>;

}  // namespace zuperior::metrics
