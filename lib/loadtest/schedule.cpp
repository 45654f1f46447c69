#include "loadtest/schedule.hpp"

#include <cmath>

namespace zuperior::loadtest {

schedule::schedule(std::vector<phase> phases) {
  double t = 0, before = 0;
  for (const auto& p : phases) {
    if (p.duration.count() <= 0) continue;
    double len = static_cast<double>(p.duration.count()) / 1e6;
    double count = (p.from + p.to) / 2 * len;
    segments_.push_back({t, len, p.from, p.to, before, count});
    t += len;
    before += count;
    duration_ += p.duration;
  }
  // A tiny epsilon keeps 10/s for 1s at exactly 10 despite floating point.
  total_ = static_cast<std::uint64_t>(std::floor(before + 1e-9));
}

std::optional<std::chrono::microseconds> schedule::time_of(std::uint64_t n) const noexcept {
  if (n >= total_) return std::nullopt;
  const double k = static_cast<double>(n);
  for (const auto& s : segments_) {
    if (k >= s.before + s.count - 1e-9) continue;
    double x = k - s.before;  // requests into this phase
    double dt;
    // N(t) = from*t + (to-from)/(2*len)*t^2 = x; the positive root, written to stay exact when flat.
    double a = (s.to - s.from) / (2 * s.len_s);
    if (std::fabs(a) < 1e-12) {
      dt = s.from > 0 ? x / s.from : 0;
    } else {
      double disc = s.from * s.from + 4 * a * x;
      if (disc < 0) disc = 0;
      double denom = s.from + std::sqrt(disc);
      dt = denom > 0 ? 2 * x / denom : 0;
    }
    if (dt > s.len_s) dt = s.len_s;
    return std::chrono::microseconds(static_cast<std::int64_t>(std::llround((s.start_s + dt) * 1e6)));
  }
  return std::nullopt;
}

std::uint64_t schedule::due_by(std::chrono::microseconds offset) const noexcept {
  double t = static_cast<double>(offset.count()) / 1e6;
  if (t < 0) return 0;
  double n = 0;
  for (const auto& s : segments_) {
    if (t >= s.start_s + s.len_s) {
      n = s.before + s.count;
      continue;
    }
    double dt = t - s.start_s;
    n = s.before + s.from * dt + (s.to - s.from) / (2 * s.len_s) * dt * dt;
    break;
  }
  // Request k is due at the time the integral reaches k, so k+1 requests are due once it reaches k.
  auto due = static_cast<std::uint64_t>(std::floor(n + 1e-9)) + 1;
  return due > total_ ? total_ : due;
}

double schedule::rate_at(std::chrono::microseconds offset) const noexcept {
  double t = static_cast<double>(offset.count()) / 1e6;
  for (const auto& s : segments_)
    if (t >= s.start_s && t < s.start_s + s.len_s) return s.from + (s.to - s.from) * (t - s.start_s) / s.len_s;
  return 0;
}

}  // namespace zuperior::loadtest
