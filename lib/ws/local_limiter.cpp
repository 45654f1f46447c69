#include "ws/local_limiter.hpp"

namespace zuperior::ws {

void local_limiter::set(std::uint32_t limit, std::chrono::milliseconds window) {
  std::lock_guard lock(mu_);
  limit_ = limit;
  window_ = window;
}

bool local_limiter::allow(const std::string& key, std::chrono::steady_clock::time_point now) {
  std::uint32_t limit;
  std::int64_t window;
  {
    std::lock_guard lock(mu_);
    limit = limit_;
    window = window_.count();
  }
  if (limit == 0 || window <= 0) return true;
  // Any monotonic millisecond clock works: only the distance between events matters.
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  return windows_->decide(key, limit, window, 1, ms).allowed;
}

}  // namespace zuperior::ws
