#pragma once
// Runs a scenario: one single-threaded io_context per generator thread, HTTP connections and
// Socket.IO clients spread across them, an optional Redis tick publisher, a progress line, and
// the merged results.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "loadtest/scenario.hpp"
#include "loadtest/stats.hpp"

namespace zuperior::loadtest {

struct run_options {
  std::chrono::microseconds max_lag{25'000};  // generator lag p99 above this marks the run as lagging
  bool progress = true;
  bool tty = false;                           // one live line (\r) instead of periodic lines
  std::chrono::seconds progress_interval{5};  // plain lines
  std::string run_id;                         // for {{run}}/{{email}}; random when empty
};

/// Everything a run measured.
struct run_result {
  std::string run_id;
  std::chrono::system_clock::time_point started_at;
  double elapsed_s = 0;  // wall time of the load (setup excluded)
  double setup_s = 0;
  std::vector<std::pair<std::string, step_stats>> setup_steps;
  std::vector<std::pair<std::string, step_stats>> steps;
  step_stats overall;  // load steps only
  ws_stats ws;
  bool ws_enabled = false;
  generator_stats generator;
  std::uint64_t published = 0, publish_errors = 0;
  std::vector<timeline_point> timeline;
  bool lagging = false;
  std::vector<std::string> lag_reasons;
  // The run did not do what the scenario asks, through no fault of the target (e.g. its publisher
  // could not reach Redis): a failure even with --allow-lag.
  std::vector<std::string> failures;
  std::vector<std::string> notes;  // e.g. "payload carries no seq: loss counted by totals"
};

/// Checks the target answers a TCP connect within `timeout`; throws core::command_error (exit 2) if not.
void preflight(const scenario& s, std::chrono::milliseconds timeout);
/// Runs the scenario to completion (bounded by its duration plus grace). Throws command_error
/// (exit 2) when it cannot start.
run_result run(const scenario& s, const run_options& options);

}  // namespace zuperior::loadtest
