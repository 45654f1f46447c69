#include "ws/local_limiter.hpp"

namespace zuperior::ws {

bool local_limiter::allow(const std::string& key, std::chrono::steady_clock::time_point now) {
  if (limit_ == 0 || window_.count() <= 0) return true;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::int64_t index = ms / window_.count();
  const double into = static_cast<double>(ms % window_.count()) / static_cast<double>(window_.count());
  std::lock_guard lock(mu_);
  if (index > last_sweep_ + 1) {
    // Forget keys idle for two windows so the map does not grow with every address ever seen.
    for (auto it = slots_.begin(); it != slots_.end();)
      it = it->second.window_index < index - 1 ? slots_.erase(it) : ++it;
    last_sweep_ = index;
  }
  auto& s = slots_[key];
  if (s.window_index != index) {
    s.previous = s.window_index == index - 1 ? s.current : 0;
    s.current = 0;
    s.window_index = index;
  }
  const double estimate = s.previous * (1.0 - into) + s.current;
  if (estimate + 1 > limit_) return false;
  ++s.current;
  return true;
}

}  // namespace zuperior::ws
