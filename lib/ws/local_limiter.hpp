#pragma once
// An in-process sliding-window limiter (two fixed windows weighted), thread-safe. Used for the
// per-IP connect limit and as the socket event limit when no shared limiter is plugged in.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace zuperior::ws {

/// Allows at most `limit` events per sliding `window` per key.
class local_limiter {
 public:
  local_limiter(std::uint32_t limit, std::chrono::milliseconds window) : limit_(limit), window_(window) {}
  /// Counts one event for `key` at `now`; false when it is over the limit (and then not counted).
  bool allow(const std::string& key, std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

 private:
  struct slot {
    std::int64_t window_index = 0;
    std::uint32_t current = 0;
    std::uint32_t previous = 0;
  };
  std::uint32_t limit_;
  std::chrono::milliseconds window_;
  std::mutex mu_;
  std::unordered_map<std::string, slot> slots_;
  std::int64_t last_sweep_ = 0;
};

}  // namespace zuperior::ws
