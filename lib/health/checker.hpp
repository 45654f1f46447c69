#pragma once
// Background health checks: each dependency (database, redis) is probed on its own thread on an
// interval with its own deadline, so a burst of /apis/health requests reads a snapshot and never
// becomes a burst of queries. A probe that overruns its deadline is reported unhealthy at once.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace zuperior::health {

/// The state of one check.
enum class state { unknown, healthy, unhealthy };

/// "unknown", "healthy" or "unhealthy" (the seed's words).
std::string_view to_string(state s) noexcept;

/// One check's latest result.
struct check_result {
  std::string name;
  state status = state::unknown;
  std::chrono::milliseconds age{0};      // since the result was obtained (or since the probe started, when overdue)
  std::chrono::microseconds latency{0};  // how long the probe took
  std::string error;                     // why it is unhealthy (no secrets)
};

/// The probes and their results.
class checker {
 public:
  /// A probe returns normally when healthy and throws (any std::exception) when not.
  using probe = std::function<void()>;

  /// `interval` between probes of one check.
  explicit checker(std::chrono::milliseconds interval);
  ~checker();
  checker(const checker&) = delete;
  checker& operator=(const checker&) = delete;

  /// Adds a check; must be called before start().
  void add(std::string name, probe p, std::chrono::milliseconds timeout);
  /// Starts one thread per check (the first probe runs immediately).
  void start();
  /// Stops and joins the threads (a probe in progress is waited for).
  void stop();
  /// The latest results, in the order the checks were added.
  std::vector<check_result> snapshot() const;
  /// True when every check is healthy.
  bool healthy() const;
  /// Asks every check to probe again now (e.g. after a failure was observed elsewhere).
  void poke();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace zuperior::health
