#include "auth/revocation_list.hpp"

#include <mutex>

namespace zuperior::auth {

bool revocation_list::add(std::string_view jti, std::int64_t until, std::int64_t now) {
  if (jti.empty()) return false;
  std::unique_lock lock(mu_);
  const auto k = key(jti);
  if (auto it = ids_.find(k); it != ids_.end()) {
    if (until > it->second) it->second = until;
    return true;
  }
  if (ids_.size() >= max_ || now >= last_prune_ + 60) {
    drop_expired(now);
    if (ids_.size() >= max_) return false;
  }
  ids_.emplace(k, until);
  size_.store(ids_.size(), std::memory_order_relaxed);
  return true;
}

bool revocation_list::contains(std::string_view jti) const {
  if (jti.empty() || size_.load(std::memory_order_relaxed) == 0) return false;
  std::shared_lock lock(mu_);
  return ids_.find(key(jti)) != ids_.end();
}

std::size_t revocation_list::prune(std::int64_t now) {
  std::unique_lock lock(mu_);
  return drop_expired(now);
}

std::size_t revocation_list::drop_expired(std::int64_t now) {
  last_prune_ = now;
  auto n = std::erase_if(ids_, [now](const auto& e) { return e.second <= now; });
  size_.store(ids_.size(), std::memory_order_relaxed);
  return n;
}

}  // namespace zuperior::auth
