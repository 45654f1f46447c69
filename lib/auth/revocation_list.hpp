#pragma once
// Token ids (`jti`) revoked before their expiry: a logout ends the token it was made with, on every
// instance (lib/api/revocations keeps this list in step with Redis). Read on every authenticated
// request and Socket.IO connect, so a lookup takes no lock while the list is empty and a shared one
// otherwise; entries leave once their token would have expired anyway.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace zuperior::auth {

class revocation_list {
 public:
  /// At most `max_entries` ids are kept (a bound on memory whatever the logout rate).
  explicit revocation_list(std::size_t max_entries = 1'000'000) : max_(max_entries) {}

  /// Revokes `jti` until `until` (seconds since the epoch; later of two wins). False when `jti` is
  /// empty or the list is full of ids that have not expired yet (the token then stays valid).
  /// Expired ids are dropped here too, at most once a minute (by `now`) and whenever the list is full.
  bool add(std::string_view jti, std::int64_t until, std::int64_t now);
  /// Whether `jti` is revoked (an empty id never is).
  bool contains(std::string_view jti) const;
  /// Drops the ids whose `until` has passed; returns how many.
  std::size_t prune(std::int64_t now);
  /// Ids held.
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

 private:
  // Ids are held as 64-bit hashes (44 bytes an entry measured, 1M in ~44 MB): a collision would refuse
  // one unrelated token with odds of about n / 2^64, and choosing ids to collide takes the secret.
  static std::uint64_t key(std::string_view jti) noexcept { return std::hash<std::string_view>{}(jti); }
  // Erases the ids past `now`; called with mu_ held.
  std::size_t drop_expired(std::int64_t now);
  struct identity {
    std::size_t operator()(std::uint64_t k) const noexcept { return static_cast<std::size_t>(k); }
  };
  mutable std::shared_mutex mu_;
  std::unordered_map<std::uint64_t, std::int64_t, identity> ids_;
  std::atomic<std::size_t> size_{0};
  std::size_t max_;
  std::int64_t last_prune_ = 0;
};

}  // namespace zuperior::auth
