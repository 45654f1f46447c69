#pragma once
// The composition root of `zuperior serve`: builds the components in order (metrics → database →
// redis → limiter → health → http → listeners), runs until SIGTERM/SIGINT, then drains and stops
// them in reverse. SIGHUP re-reads the reloadable keys.
#include <functional>

#include "config/settings.hpp"

namespace zuperior::daemon {

/// How to run.
struct options {
  config::settings settings;
  /// Re-reads the configuration for SIGHUP (log level, rate-limit tiers); may be empty.
  std::function<config::settings()> reload;
};

/// Runs the daemon in the calling thread until a signal ends it; returns the process exit code.
/// Throws core::command_error for start-up failures (cannot listen, bad settings).
int run(const options& opts);

}  // namespace zuperior::daemon
