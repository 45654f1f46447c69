#pragma once
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cache/async_client.hpp"

namespace zuperior::cache {

/// The seed's cacheUtils over one async_client: string or JSON values with TTLs, the client's key
/// prefix applied to every key. Never throws and never waits for a reconnect: with Redis down a
/// get is a miss (counted as an error), a set/del returns false.
class cache {
 public:
  /// Read-through helpers over `client` (shared; it must outlive no one, it is kept alive here).
  explicit cache(std::shared_ptr<async_client> client);

  /// The cached string, or nullopt on a miss or an error.
  boost::asio::awaitable<std::optional<std::string>> get(std::string_view key);
  /// Stores `value` for `ttl` (SET key value EX ttl); false on an error.
  boost::asio::awaitable<bool> set(std::string_view key, std::string value,
                                   std::chrono::seconds ttl = std::chrono::seconds(3600));
  /// The cached JSON value (nullopt on a miss, an error, or text that is not JSON).
  boost::asio::awaitable<std::optional<nlohmann::json>> get_json(std::string_view key);
  /// Stores `value` serialised as JSON for `ttl`; false on an error.
  boost::asio::awaitable<bool> set_json(std::string_view key, const nlohmann::json& value,
                                        std::chrono::seconds ttl = std::chrono::seconds(3600));
  /// Deletes one key; true when the command ran (whether or not the key existed).
  boost::asio::awaitable<bool> del(std::string_view key);
  /// Deletes every key matching the glob `pattern` (after the prefix) by SCAN + UNLINK batches,
  /// never KEYS; returns how many were deleted (what was deleted before an error stays deleted).
  boost::asio::awaitable<std::int64_t> del_by_pattern(std::string_view pattern, unsigned batch = 500);
  /// Whether the key exists (false on an error).
  boost::asio::awaitable<bool> exists(std::string_view key);
  /// Remaining time to live in seconds: -2 no such key, -1 no expiry (or an error, as the seed).
  boost::asio::awaitable<std::int64_t> ttl(std::string_view key);

  /// Counts a lookup of this cache that someone else made (a rate-limit decision that read the
  /// entry with its counts).
  void count_lookup(bool hit) noexcept;

  /// Lookups that found a value.
  std::uint64_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }
  /// Lookups that found nothing.
  std::uint64_t misses() const noexcept { return misses_.load(std::memory_order_relaxed); }
  /// Operations that failed (Redis down, timeout, error reply).
  std::uint64_t errors() const noexcept { return errors_.load(std::memory_order_relaxed); }
  /// The client underneath.
  const std::shared_ptr<async_client>& client() const noexcept { return client_; }

 private:
  void count_error();
  std::shared_ptr<async_client> client_;
  std::atomic<std::uint64_t> hits_{0}, misses_{0}, errors_{0};
  void* metrics_ = nullptr;  // the shared metric children (see cache.cpp)
};

/// `s` with the glob metacharacters (* ? [ ] \) escaped, for a literal part of a SCAN MATCH pattern.
std::string escape_glob(std::string_view s);

}  // namespace zuperior::cache
