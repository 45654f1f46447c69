#include "metrics/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace zuperior::metrics {

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01,
                                     0.025,  0.05,    0.1,    0.25,  0.5,   1,     2.5,   5,      10};
  return b;
}

histogram::histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i])) throw std::invalid_argument("histogram bounds must be finite");
    if (i > 0 && !(bounds_[i] > bounds_[i - 1])) throw std::invalid_argument("histogram bounds must be ascending");
  }
  for (auto& s : shards_) {
    s.counts = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
    for (std::size_t i = 0; i <= bounds_.size(); ++i) s.counts[i].store(0, std::memory_order_relaxed);
  }
}

void histogram::observe(double v) noexcept {
  // Buckets are "le": a value equal to a bound belongs to that bound's bucket.
  const std::size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  auto& s = shards_[detail::this_thread_shard()];
  s.counts[i].fetch_add(1, std::memory_order_relaxed);
  detail::atomic_add(s.sum, v);
}

histogram_snapshot histogram::snapshot() const {
  histogram_snapshot snap;
  snap.bounds = bounds_;
  snap.counts.assign(bounds_.size() + 1, 0);
  for (const auto& s : shards_) {
    for (std::size_t i = 0; i <= bounds_.size(); ++i) snap.counts[i] += s.counts[i].load(std::memory_order_relaxed);
    snap.sum += s.sum.load(std::memory_order_relaxed);
  }
  for (auto c : snap.counts) snap.count += c;
  return snap;
}

double histogram_snapshot::quantile(double q) const {
  if (count == 0 || bounds.empty()) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(count);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const std::uint64_t before = cumulative;
    cumulative += counts[i];
    if (static_cast<double>(cumulative) >= rank && counts[i] > 0) {
      if (i == bounds.size()) return bounds.back();  // beyond the last finite bound: that bound is all we know
      const double lower = i == 0 ? std::min(0.0, bounds[0]) : bounds[i - 1];
      const double upper = bounds[i];
      const double fraction = (rank - static_cast<double>(before)) / static_cast<double>(counts[i]);
      return lower + (upper - lower) * std::clamp(fraction, 0.0, 1.0);
    }
  }
  return bounds.back();
}

}  // namespace zuperior::metrics
