#pragma once
#include <atomic>
#include <functional>

#include "metrics/shard.hpp"

namespace zuperior::metrics {

/// A value that goes up and down (open connections, pool in use), or is read by callback at scrape time.
class gauge {
 public:
  gauge() = default;
  gauge(const gauge&) = delete;
  gauge& operator=(const gauge&) = delete;

  /// Sets the value.
  void set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
  /// Adds `d` (default 1).
  void inc(double d = 1) noexcept { detail::atomic_add(v_, d); }
  /// Subtracts `d` (default 1).
  void dec(double d = 1) noexcept { detail::atomic_add(v_, -d); }
  /// The current value (the callback's result when one is set).
  double value() const { return callback_ ? callback_() : v_.load(std::memory_order_relaxed); }

 private:
  template <class>
  friend class family;  // sets callback_ under the family lock, so scrapes never race it
  void set_callback(std::function<double()> fn) { callback_ = std::move(fn); }
  std::atomic<double> v_{0};
  std::function<double()> callback_;
};

}  // namespace zuperior::metrics
