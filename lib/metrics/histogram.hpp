#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "metrics/shard.hpp"

namespace zuperior::metrics {

/// Upper bounds (seconds) suited to request latency: 100 µs … 10 s, finer below 10 ms.
const std::vector<double>& latency_buckets();

/// A point-in-time copy of a histogram: per-bucket (non-cumulative) counts, sum and count.
struct histogram_snapshot {
  std::vector<double> bounds;         // upper bounds, ascending, without +Inf
  std::vector<std::uint64_t> counts;  // bounds.size() + 1 entries, the last is (last bound, +Inf)
  double sum = 0;
  std::uint64_t count = 0;

  /// Estimates the q-quantile (0 < q < 1) by linear interpolation inside the bucket, as
  /// Prometheus' histogram_quantile does; 0 when empty, the highest finite bound when it falls in +Inf.
  double quantile(double q) const;
  /// The mean of observed values (0 when empty).
  double mean() const { return count ? sum / static_cast<double>(count) : 0; }
};

/// A fixed-bucket histogram; observe() is two relaxed atomic adds on a per-thread shard.
class histogram {
 public:
  /// `bounds` must be strictly ascending and finite (checked: throws std::invalid_argument).
  explicit histogram(std::vector<double> bounds);
  histogram(const histogram&) = delete;
  histogram& operator=(const histogram&) = delete;

  /// Records one value (seconds for latencies).
  void observe(double v) noexcept;
  /// Records a duration in seconds.
  template <class Rep, class Period>
  void observe(std::chrono::duration<Rep, Period> d) noexcept {
    observe(std::chrono::duration<double>(d).count());
  }
  /// A consistent-enough copy for rendering and quantiles (count is the sum of the bucket counts).
  histogram_snapshot snapshot() const;
  /// The bucket upper bounds.
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  struct alignas(detail::cache_line) shard {
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts;
    std::atomic<double> sum{0};
  };
  std::vector<double> bounds_;
  std::array<shard, detail::shard_count> shards_;
};

}  // namespace zuperior::metrics
