#include "metrics/counter.hpp"

namespace zuperior::metrics {

double counter::value() const {
  if (callback_) return callback_();
  std::uint64_t total = 0;
  for (const auto& s : shards_) total += s.v.load(std::memory_order_relaxed);
  return static_cast<double>(total);
}

}  // namespace zuperior::metrics
