#pragma once
// The open model's timetable: phases of constant or linearly ramping arrival rate. The n-th
// request (0-based) is due when the integral of the rate reaches n; latency is measured from
// that intended time, which is what corrects coordinated omission. Pure arithmetic.
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace zuperior::loadtest {

/// One phase: `duration` long, rate going linearly from `from` to `to` requests per second.
struct phase {
  std::chrono::microseconds duration{0};
  double from = 0;
  double to = 0;
};

class schedule {
 public:
  /// Builds the timetable; phases with zero duration are ignored.
  explicit schedule(std::vector<phase> phases);

  /// Offset from the start at which request `n` is due, or nullopt when the phases end first.
  std::optional<std::chrono::microseconds> time_of(std::uint64_t n) const noexcept;
  /// How many requests the whole schedule starts (floor of the rate integral).
  std::uint64_t total() const noexcept { return total_; }
  /// How many requests are due by `offset` (the count whose time_of() <= offset).
  std::uint64_t due_by(std::chrono::microseconds offset) const noexcept;
  /// Total length of all phases.
  std::chrono::microseconds duration() const noexcept { return duration_; }
  /// The rate in effect at `offset` (requests per second).
  double rate_at(std::chrono::microseconds offset) const noexcept;

 private:
  struct segment {
    double start_s;  // offset of the phase start in seconds
    double len_s;
    double from, to;
    double before;  // requests due before this phase (rate integral)
    double count;   // requests in this phase
  };
  std::vector<segment> segments_;
  std::uint64_t total_ = 0;
  std::chrono::microseconds duration_{0};
};

}  // namespace zuperior::loadtest
