#pragma once
// Internal to lib/loadtest: the per-thread context shared by the HTTP, Socket.IO and publisher
// parts. Never included outside this directory; keeps Asio out of the public headers.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "loadtest/runner.hpp"
#include "loadtest/scenario.hpp"
#include "loadtest/stats.hpp"

namespace zuperior::loadtest::detail {

using clock = std::chrono::steady_clock;

/// A duration in whole microseconds, 0 when negative.
inline std::uint64_t micros(clock::duration d) {
  auto c = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return c < 0 ? 0 : static_cast<std::uint64_t>(c);
}

/// Per virtual user state written during setup, read-only during the load.
struct vu_state {
  std::vector<std::pair<std::string, std::string>> vars;
  bool setup_ok = true;
};

/// Shared between threads, read-only once the load starts (except the atomics).
struct shared_state {
  const scenario* sc = nullptr;
  std::string run_id;
  std::string host_header;
  boost::asio::ip::tcp::resolver::results_type endpoints;
  // The publisher's Redis, looked up before the load under a deadline (an empty list and the reason
  // when that failed): a lookup on the event loop could neither be bounded nor cancelled.
  boost::asio::ip::tcp::resolver::results_type publisher_endpoints;
  std::string publisher_resolve_error;
  std::vector<vu_state> vus;
  clock::time_point start;                                      // load start
  clock::time_point end;                                        // no new work after this
  clock::time_point deadline;                                   // hard stop: end + grace
  clock::time_point setup_deadline = clock::time_point::max();  // setup requests end by then
  live_counters live;
  std::unique_ptr<timeline_collector> timeline;
  unsigned threads = 1;
  std::atomic<std::uint64_t> publisher_seq_snapshot[64] = {};  // last published seq per symbol index
  // Last seq handed to the socket per symbol index, set before the write: a received seq above it
  // was never published (the snapshot above trails the write, so it cannot tell).
  std::atomic<std::uint64_t> publisher_seq_issued[64] = {};
  std::atomic<bool> stop{false};
};

/// One generator thread's world.
struct thread_context {
  unsigned index = 0;
  boost::asio::io_context io{1};
  shared_state* shared = nullptr;
  std::vector<step_stats> setup_stats;  // by setup step
  std::vector<step_stats> step_stats_;  // by load step
  ws_stats ws;
  generator_stats gen;
  // Interval data for the timeline, reset every second.
  histogram interval_http, interval_delivery;
  std::uint64_t interval_requests = 0, interval_errors = 0, interval_ws_received = 0;
  std::uint64_t ws_open = 0;
  std::mt19937_64 rng;
  std::uint64_t published = 0, publish_errors = 0;
  std::vector<std::string> notes;
  std::vector<std::uint64_t> inflight;                   // HTTP requests in flight by load step
  unsigned active_tasks = 0;                             // coroutines still working; at 0 the thread is done
  std::vector<boost::asio::steady_timer*> wake_on_idle;  // deadline and ticker timers

  /// A task (connection, client, publisher) started.
  void task_started() { ++active_tasks; }
  /// A task finished; the last one releases the deadline timer so the thread ends early.
  void task_done() {
    if (--active_tasks == 0)
      for (auto* timer : wake_on_idle) timer->cancel();
  }
};

/// Runs the setup steps for this thread's virtual users (vu % threads == index).
void spawn_http_setup(thread_context& t);
/// Spawns this thread's HTTP connections for the load.
void spawn_http_load(thread_context& t);
/// Spawns this thread's Socket.IO clients.
void spawn_socketio(thread_context& t);
/// Spawns the Redis tick publisher (thread 0 only).
void spawn_publisher(thread_context& t);

}  // namespace zuperior::loadtest::detail
