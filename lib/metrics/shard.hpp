#pragma once
#include <atomic>
#include <cstddef>

namespace zuperior::metrics::detail {

/// Number of per-thread shards a hot metric spreads its atomics over (a power of two).
inline constexpr std::size_t shard_count = 8;
inline constexpr std::size_t cache_line = 64;

/// This thread's shard, fixed at first use; threads are spread round-robin so two busy
/// network threads never bounce the same cache line on every increment.
std::size_t this_thread_shard() noexcept;

/// Adds `v` to an atomic double (CAS loop; fetch_add on atomic<double> is C++20 but not lock-free everywhere).
inline void atomic_add(std::atomic<double>& a, double v) noexcept {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

}  // namespace zuperior::metrics::detail
