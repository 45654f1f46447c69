#include "metrics/shard.hpp"

namespace zuperior::metrics::detail {

std::size_t this_thread_shard() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed) & (shard_count - 1);
  return mine;
}

}  // namespace zuperior::metrics::detail
