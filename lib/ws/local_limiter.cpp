#include "ws/local_limiter.hpp"

namespace zuperior::ws {

bool local_limiter::allow(const std::string& key, std::chrono::steady_clock::time_point now) {
  if (limit_ == 0 || window_.count() <= 0) return true;
  // Any monotonic millisecond clock works: only the distance between events matters.
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  return windows_->decide(key, limit_, window_.count(), 1, ms).allowed;
}

}  // namespace zuperior::ws
