#include "ratelimit/local_limiter.hpp"

#include <algorithm>

namespace zuperior::ratelimit {

local_limiter::local_limiter(std::size_t max_keys)
    : shard_capacity_(std::max<std::size_t>(1, (max_keys + shard_count - 1) / shard_count)) {}

namespace {
// A key is idle once both of its windows are over: its next request would start from zero anyway.
bool idle(std::int64_t window, std::int64_t window_ms, std::int64_t now_ms) {
  return window_ms <= 0 || now_ms / window_ms > window + 1;
}
}  // namespace

std::size_t local_limiter::sweep_shard(shard& sh, std::int64_t now_ms) {
  std::size_t removed = 0;
  for (auto it = sh.map.begin(); it != sh.map.end();) {
    if (idle(it->second.state.window, it->second.window_ms, now_ms)) {
      it = sh.map.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  // Sweep again when the shard has doubled, so the cost stays amortised O(1) per decision.
  sh.next_sweep = std::max<std::size_t>(1024, sh.map.size() * 2);
  return removed;
}

void local_limiter::make_room(shard& sh, std::int64_t now_ms) {
  if (sh.map.size() >= sh.next_sweep || sh.map.size() >= shard_capacity_) sweep_shard(sh, now_ms);
  if (sh.map.size() < shard_capacity_) return;
  // Still full of live keys: evict the least recently seen among a sample (bounded work per call).
  constexpr std::size_t sample = 32;
  auto victim = sh.map.begin();
  std::size_t n = 0;
  for (auto it = sh.map.begin(); it != sh.map.end() && n < sample; ++it, ++n)
    if (it->second.last_ms < victim->second.last_ms) victim = it;
  sh.map.erase(victim);
  ++sh.evictions;
}

decision local_limiter::decide(std::string_view key, std::uint32_t limit, std::int64_t window_ms, std::uint32_t cost,
                               std::int64_t now_ms) {
  thread_local std::string k;  // reused: no allocation per lookup
  k.assign(key);
  shard& sh = shards_[std::hash<std::string>{}(k) % shard_count];
  std::lock_guard lock(sh.mu);
  auto it = sh.map.find(k);
  if (it == sh.map.end()) {
    make_room(sh, now_ms);
    it = sh.map.emplace(k, entry{}).first;
  }
  entry& e = it->second;
  if (e.window_ms != window_ms) e = entry{};  // the tier's window changed (reload): start afresh
  e.window_ms = window_ms;
  e.last_ms = now_ms;
  const bool allowed = step(e.state, limit, window_ms, cost, now_ms);
  decision d = describe(e.state, allowed, limit, window_ms, cost, now_ms);
  d.source = source::local;
  return d;
}

std::size_t local_limiter::sweep(std::int64_t now_ms) {
  std::size_t removed = 0;
  for (auto& sh : shards_) {
    std::lock_guard lock(sh.mu);
    removed += sweep_shard(sh, now_ms);
  }
  return removed;
}

bool local_limiter::erase(std::string_view key) {
  const std::string k(key);
  shard& sh = shards_[std::hash<std::string>{}(k) % shard_count];
  std::lock_guard lock(sh.mu);
  auto it = sh.map.find(k);
  if (it == sh.map.end()) return false;
  sh.map.erase(it);
  return true;
}

std::size_t local_limiter::size() const {
  std::size_t n = 0;
  for (const auto& sh : shards_) {
    std::lock_guard lock(sh.mu);
    n += sh.map.size();
  }
  return n;
}

std::uint64_t local_limiter::evictions() const {
  std::uint64_t n = 0;
  for (const auto& sh : shards_) {
    std::lock_guard lock(sh.mu);
    n += sh.evictions;
  }
  return n;
}

}  // namespace zuperior::ratelimit
