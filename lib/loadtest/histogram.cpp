#include "loadtest/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace zuperior::loadtest {
namespace {
constexpr std::uint64_t sub_count = 1ULL << histogram::sub_bits;  // exact range [0, sub_count)
constexpr std::uint64_t half = sub_count / 2;                     // linear buckets per octave above it
}  // namespace

std::size_t histogram::index_of(std::uint64_t v) noexcept {
  if (v < sub_count) return static_cast<std::size_t>(v);
  if (v > max_trackable) v = max_trackable;
  // shift so that v >> shift lands in [half, sub_count)
  const unsigned msb = 63U - static_cast<unsigned>(std::countl_zero(v));
  const unsigned shift = msb - sub_bits + 1;
  return static_cast<std::size_t>(sub_count + (shift - 1) * half + ((v >> shift) - half));
}

std::uint64_t histogram::lowest_of(std::size_t index) noexcept {
  if (index < sub_count) return index;
  const std::uint64_t above = index - sub_count;
  const unsigned shift = static_cast<unsigned>(above / half) + 1;
  return (half + above % half) << shift;
}

std::uint64_t histogram::highest_of(std::size_t index) noexcept {
  if (index < sub_count) return index;
  const std::uint64_t above = index - sub_count;
  const unsigned shift = static_cast<unsigned>(above / half) + 1;
  return lowest_of(index) + (1ULL << shift) - 1;
}

std::size_t histogram::bucket_count() noexcept { return index_of(max_trackable) + 1; }

histogram::histogram() : counts_(bucket_count(), 0) {}

void histogram::record(std::uint64_t value, std::uint64_t count) noexcept {
  if (count == 0) return;
  value = std::min(value, max_trackable);
  counts_[index_of(value)] += count;
  count_ += count;
  sum_ += value * count;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void histogram::record_corrected(std::uint64_t value, std::uint64_t expected_interval) noexcept {
  record(value);
  if (expected_interval == 0 || value <= expected_interval) return;
  for (std::uint64_t missing = value - expected_interval; missing >= expected_interval; missing -= expected_interval)
    record(missing);
}

void histogram::merge(const histogram& other) noexcept {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = sum_ = max_ = 0;
  min_ = ~0ULL;
}

std::uint64_t histogram::percentile(double q) const noexcept {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(std::max(highest_of(i), min_), max_);
  }
  return max_;
}

}  // namespace zuperior::loadtest
