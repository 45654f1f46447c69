#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ratelimit/window.hpp"

namespace zuperior::ratelimit {

/// The in-process limiter used while Redis is unreachable: the same two-window arithmetic as with
/// Redis' counters, per process instead of per deployment. Thread-safe: keys are spread over shards,
/// each with its own mutex, so network threads rarely contend. Memory is bounded: idle keys (whose
/// windows have passed) are swept as shards grow, and a full shard evicts its stalest keys.
class local_limiter {
 public:
  /// At most `max_keys` identifiers are tracked (spread over the shards).
  explicit local_limiter(std::size_t max_keys = 100'000);
  local_limiter(const local_limiter&) = delete;
  local_limiter& operator=(const local_limiter&) = delete;

  /// Decides one request of `cost` for `key` (tier and identifier together) at `now_ms`.
  decision decide(std::string_view key, std::uint32_t limit, std::int64_t window_ms, std::uint32_t cost,
                  std::int64_t now_ms);
  /// Same at the current time.
  decision decide(std::string_view key, std::uint32_t limit, std::int64_t window_ms, std::uint32_t cost = 1) {
    return decide(key, limit, window_ms, cost, unix_ms());
  }
  /// Drops every key whose windows are over at `now_ms` (also done automatically as shards grow).
  std::size_t sweep(std::int64_t now_ms);
  /// Forgets one key (ratelimit reset); true if it was tracked.
  bool erase(std::string_view key);
  /// Number of tracked keys.
  std::size_t size() const;
  /// The key limit.
  std::size_t capacity() const { return shard_capacity_ * shard_count; }
  /// Keys evicted because a shard was full (not merely idle).
  std::uint64_t evictions() const;

  static constexpr std::size_t shard_count = 16;

 private:
  struct entry {
    window_state state;
    std::int64_t window_ms = 0;
    std::int64_t last_ms = 0;
  };
  struct alignas(64) shard {
    mutable std::mutex mu;
    // std::hash<std::string> makes the table cache hash codes; a transparent custom hash would not,
    // and every probe would rehash the keys it passes (measured: 10x slower at 50k keys).
    std::unordered_map<std::string, entry> map;
    std::size_t next_sweep = 1024;
    std::uint64_t evictions = 0;
  };
  static std::size_t sweep_shard(shard& sh, std::int64_t now_ms);
  void make_room(shard& sh, std::int64_t now_ms);

  std::size_t shard_capacity_;
  std::array<shard, shard_count> shards_;
};

}  // namespace zuperior::ratelimit
