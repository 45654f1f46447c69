#pragma once
// What a run measures. Each engine thread owns its own copies (no sharing on the hot path);
// they are merged once at the end, and per-second interval snapshots feed the timeline.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "loadtest/histogram.hpp"

namespace zuperior::loadtest {

/// Why a request failed.
enum class error_kind { status, timeout, connect, protocol };

/// Counters and latency of one HTTP step (or of all steps).
struct step_stats {
  histogram latency;  // microseconds from the intended start
  std::uint64_t requests = 0;
  std::uint64_t not_sent = 0;  // of `requests`: scheduled, never sent (counted as timeouts, not as throughput)
  std::uint64_t ok = 0;
  std::array<std::uint64_t, 4> errors{};          // by error_kind
  std::array<std::uint64_t, 6> status_classes{};  // 0 = none, 1xx..5xx

  /// Total failed requests.
  std::uint64_t error_count() const noexcept { return errors[0] + errors[1] + errors[2] + errors[3]; }
  /// Requests per second that were actually sent, over `elapsed` seconds.
  double rps(double elapsed) const noexcept {
    return elapsed > 0 ? static_cast<double>(requests - not_sent) / elapsed : 0.0;
  }
  /// Counts `n` requests that were scheduled and never sent: timeouts, not throughput.
  void add_not_sent(std::uint64_t n) noexcept;
  /// Adds another step's numbers.
  void merge(const step_stats& o);
};

/// Shares `n` out in proportion to `weights` (largest remainder, the earlier part on a tie); the
/// parts sum to `n`, all of it to the first part when every weight is 0.
std::vector<std::uint64_t> split_by_weight(std::uint64_t n, const std::vector<unsigned>& weights);

/// Socket.IO client numbers.
struct ws_stats {
  histogram connect_latency;  // from the intended connect time to the Socket.IO CONNECT
  histogram ack_latency;
  histogram delivery;  // tick ts -> receipt, microseconds
  std::uint64_t attempted = 0, connected = 0, connect_errors = 0, disconnects = 0;
  std::uint64_t acks = 0, ack_timeouts = 0, ack_errors = 0;
  std::uint64_t received = 0;   // all events
  std::uint64_t delivered = 0;  // delivery events with a ts
  std::uint64_t sequenced = 0;  // delivery events with a seq: without one, loss and order are not measured
  std::uint64_t lost = 0, out_of_order = 0, duplicates = 0;
  std::uint64_t missing_events = 0;   // clients that saw fewer than an expected event's min
  std::uint64_t protocol_errors = 0;  // frames or packets from the server after the connect that are not Socket.IO
  std::map<std::string, std::uint64_t, std::less<>> events;  // received by name (see count_event)
  std::map<std::string, std::uint64_t> connect_error_kinds;  // by short reason

  /// Distinct event names kept in `events`; names past it, longer than max_event_name or not
  /// printable ASCII count under other_events, so a hostile server cannot grow the report without
  /// bound or put control characters into the terminal.
  static constexpr std::size_t max_event_names = 32;
  static constexpr std::size_t max_event_name = 64;
  static constexpr std::string_view other_events = "(other)";
  /// Counts `n` events of one name.
  void count_event(std::string_view name, std::uint64_t n = 1);
  /// Adds another thread's numbers.
  void merge(const ws_stats& o);
  /// True when some delivery event carried a seq, so lost, out_of_order and duplicates mean something.
  bool loss_measured() const noexcept { return sequenced > 0; }
};

/// The generator's own health.
struct generator_stats {
  histogram lag;                // how late the generator started scheduled work (its own fault, not the target's)
  histogram loop_delay;         // how late its event loops ran a periodic timer (CPU saturation)
  std::uint64_t scheduled = 0;  // requests the schedule asked for
  std::uint64_t started = 0;    // requests actually started
  std::uint64_t not_started = 0;
  /// Adds another thread's numbers.
  void merge(const generator_stats& o);
};

/// One second of the run.
struct timeline_point {
  double t = 0;  // seconds since start (end of the interval)
  std::uint64_t requests = 0, errors = 0;
  std::uint64_t p50 = 0, p90 = 0, p99 = 0, max = 0;  // microseconds
  std::uint64_t ws_received = 0, ws_connected = 0;
  std::uint64_t delivery_p99 = 0;
};

/// Live counters the progress line reads from other threads.
struct live_counters {
  std::atomic<std::uint64_t> requests{0}, errors{0}, ws_connected{0}, ws_received{0}, published{0};
};

/// Gathers per-second interval histograms from every thread into the timeline.
class timeline_collector {
 public:
  explicit timeline_collector(unsigned threads) : threads_(threads) {}
  /// Called by each thread once per second with what it saw in that second (then it resets them).
  void report(unsigned second, const histogram& http, std::uint64_t requests, std::uint64_t errors,
              const histogram& delivery, std::uint64_t ws_received, std::uint64_t ws_connected);
  /// The finished timeline (call after every thread stopped).
  std::vector<timeline_point> finish();

 private:
  struct pending {
    histogram http, delivery;
    std::uint64_t requests = 0, errors = 0, ws_received = 0, ws_connected = 0;
    unsigned reports = 0;
  };
  void close(unsigned second, pending& p);
  unsigned threads_;
  std::mutex mutex_;
  std::map<unsigned, pending> open_;
  std::vector<timeline_point> done_;
};

}  // namespace zuperior::loadtest
