#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>

#include "metrics/shard.hpp"

namespace zuperior::metrics {

/// A monotonically increasing integer counter; inc() is one relaxed atomic add on a per-thread shard.
class counter {
 public:
  counter() = default;
  counter(const counter&) = delete;
  counter& operator=(const counter&) = delete;

  /// Adds `n` (default 1).
  void inc(std::uint64_t n = 1) noexcept {
    shards_[detail::this_thread_shard()].v.fetch_add(n, std::memory_order_relaxed);
  }
  /// The current total (sum over shards, or the callback's value).
  double value() const;

 private:
  template <class>
  friend class family;  // sets callback_ under the family lock, so scrapes never race it
  void set_callback(std::function<double()> fn) { callback_ = std::move(fn); }
  struct alignas(detail::cache_line) shard {
    std::atomic<std::uint64_t> v{0};
  };
  std::array<shard, detail::shard_count> shards_{};
  std::function<double()> callback_;
};

}  // namespace zuperior::metrics
