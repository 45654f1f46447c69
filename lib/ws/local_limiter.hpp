#pragma once
// The per-address connect limit of the real-time endpoint: lib/ratelimit's sharded two-window
// limiter (the arithmetic of the Lua script) with one fixed limit. Thread-safe.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "ratelimit/local_limiter.hpp"

namespace zuperior::ws {

/// Allows at most `limit` events per sliding `window` per key (0 = no limit).
class local_limiter {
 public:
  local_limiter(std::uint32_t limit, std::chrono::milliseconds window) : limit_(limit), window_(window) {}
  /// Counts one event for `key` at `now`; false when it is over the limit (and then not counted).
  bool allow(const std::string& key, std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  /// Replaces the limit (SIGHUP reload); safe while other threads call allow(). The counts stay.
  void set(std::uint32_t limit, std::chrono::milliseconds window);

 private:
  std::mutex mu_;  // guards limit_ and window_ (read once per connect, written on reload)
  std::uint32_t limit_ = 0;
  std::chrono::milliseconds window_{0};
  // On the heap: its shards are cache-line aligned, which a stack or member placement may not honour.
  std::unique_ptr<ratelimit::local_limiter> windows_ = std::make_unique<ratelimit::local_limiter>();
};

}  // namespace zuperior::ws
