#pragma once
// An HDR-style log-linear histogram of non-negative integer values (microseconds in practice):
// exact below 2^sub_bits, then 2^(sub_bits-1) linear buckets per power of two, so every
// recorded value is known within a relative error of 2^-(sub_bits-1). Fixed size, no allocation
// after construction, mergeable; no per-sample storage.
#include <cstdint>
#include <vector>

namespace zuperior::loadtest {

class histogram {
 public:
  static constexpr unsigned sub_bits = 8;                     // 128 linear buckets per octave: < 0.8% error
  static constexpr std::uint64_t max_trackable = 1ULL << 40;  // ~12.7 days in microseconds; larger values clamp

  histogram();

  /// Records `count` occurrences of `value` (clamped to max_trackable).
  void record(std::uint64_t value, std::uint64_t count = 1) noexcept;
  /// Records `value` and, HdrHistogram-style, the samples a stalled closed-loop sender did not send:
  /// value - interval, value - 2*interval, … down to interval (coordinated-omission correction).
  void record_corrected(std::uint64_t value, std::uint64_t expected_interval) noexcept;
  /// Adds every count of `other`.
  void merge(const histogram& other) noexcept;
  /// Forgets everything.
  void reset() noexcept;

  /// Number of recorded values.
  std::uint64_t count() const noexcept { return count_; }
  /// Smallest recorded value (0 when empty).
  std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
  /// Largest recorded value (0 when empty).
  std::uint64_t max() const noexcept { return max_; }
  /// Exact arithmetic mean of the recorded (clamped) values.
  double mean() const noexcept { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  /// The value at quantile q in [0,1]: the highest value equivalent to the bucket holding the
  /// ceil(q*count)-th smallest sample, never above max(); 0 when empty.
  std::uint64_t percentile(double q) const noexcept;

  /// Bucket index of a value.
  static std::size_t index_of(std::uint64_t value) noexcept;
  /// Smallest value that falls into bucket `index`.
  static std::uint64_t lowest_of(std::size_t index) noexcept;
  /// Largest value that falls into bucket `index`.
  static std::uint64_t highest_of(std::size_t index) noexcept;
  /// Number of buckets.
  static std::size_t bucket_count() noexcept;
  /// Count in bucket `index`.
  std::uint64_t count_at(std::size_t index) const noexcept { return counts_[index]; }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = ~0ULL;
  std::uint64_t max_ = 0;
};

}  // namespace zuperior::loadtest
