#pragma once
#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "config/settings.hpp"
#include "ratelimit/local_limiter.hpp"
#include "ratelimit/store.hpp"
#include "ratelimit/tier.hpp"
#include "ratelimit/window.hpp"

namespace zuperior::metrics {
class registry;
class counter;
}  // namespace zuperior::metrics

namespace zuperior::ratelimit {

/// Decides requests for the four tiers: in Redis, so every daemon instance sharing the Redis shares
/// the limits; while Redis is unreachable each tier does what its fallback says (local limiter,
/// open, closed). Counts decisions in metrics. One limiter per worker thread is fine (each with its
/// own store); the local limiter is meant to be shared by all of them.
///
/// In Redis each identifier has one counter per fixed window, `<key>:<window index>` (window index =
/// Unix ms / window ms), expiring when the window after it ends. A decision is one pipeline of plain
/// commands: `INCRBY` of the current window's counter, its `PEXPIRE`, and `GET` (`MGET` with a cache
/// key) of the previous window's counter. The counter's atomic increment is the admission (of
/// requests racing in one window, never more than the limit pass); the sliding-window estimate is
/// computed here from the two counts. A refused request is taken off again (`DECRBY`, not awaited).
/// The clock is Redis': every `clock_sync_every_ms` a decision's pipeline also reads `TIME`, and this
/// host's clock runs with that offset (so instances with skewed clocks still share windows), never
/// going back. Redis spends a few µs of CPU per decision, against 11 µs for the Lua script this
/// replaced (tests/bench/http.sh, column redis/req).
class limiter {
 public:
  /// `redis` may be null (local/open/closed only). `key_prefix` is Redis' key prefix (redis.key_prefix),
  /// prepended to ratelimit.key_prefix. Metrics go to `registry` (nullptr: none). An "ip:" identifier
  /// is counted by core::client_key with `ipv6_prefix` (server.ipv6_prefix): an IPv6 client by its network.
  limiter(const config::ratelimit_settings& settings, std::shared_ptr<store> redis,
          std::shared_ptr<local_limiter> local, std::string key_prefix = {},
          metrics::registry* registry = default_metrics_registry(), unsigned ipv6_prefix = 64);
  ~limiter();

  /// Decides one request of `cost` for `identifier` ("user:<id>" / "ip:<address>") in tier `t`.
  boost::asio::awaitable<decision> check(tier t, std::string identifier, std::uint32_t cost = 1);

  /// A decision and, when Redis made it and let the request through, the value of the key read with it.
  struct checked {
    decision d;
    bool read = false;                 // the key was read (Redis decided, and allowed)
    std::optional<std::string> value;  // its value; nullopt: no such key (or not a string)
  };
  /// check(), and in the same round trip (the same MGET) reads `key` (a full Redis key, prefix
  /// included): a rate-limited cache read. `read` is false when the limiter did not ask Redis
  /// (disabled, Redis down, fallback) or refused; the caller reads the key itself then.
  boost::asio::awaitable<checked> check_and_get(tier t, std::string identifier, std::string key,
                                                std::uint32_t cost = 1);
  /// Replaces limits and fallbacks (SIGHUP); safe while other threads call check().
  void reload(const config::ratelimit_settings& settings);
  /// The settings in effect.
  std::shared_ptr<const config::ratelimit_settings> settings() const;
  /// The Redis key of `identifier` in tier `t`; its counters are `<key>:<window index>`.
  std::string redis_key(tier t, std::string_view identifier) const;
  /// The local limiter's key for the same (tier and identifier).
  std::string local_key(tier t, std::string_view identifier) const;

  /// Replaces this host's clock (Unix ms), for tests.
  void set_clock(std::int64_t (*clock)()) { clock_ = clock; }

  /// The process-wide metrics registry (a function so this header needs no metrics include).
  static metrics::registry* default_metrics_registry();

 private:
  decision fallback(tier t, const config::ratelimit_settings& s, std::string_view identifier, std::uint32_t cost);
  void count(tier t, const decision& d);
  /// The deployment's clock: this host's plus the offset to Redis' (TIME), never going back.
  std::int64_t shared_now(std::int64_t local);
  /// Sets the offset from a TIME reply read between `sent_ms` and `received_ms` (this host's clock).
  void learn_clock(const store_reply& time, std::int64_t sent_ms, std::int64_t received_ms);
  void count_failure(int reason, std::string_view detail = {});

  std::atomic<std::shared_ptr<const config::ratelimit_settings>> settings_;
  std::shared_ptr<store> redis_;
  std::shared_ptr<local_limiter> local_;
  std::string key_prefix_;
  unsigned ipv6_prefix_ = 64;
  std::int64_t (*clock_)() = &unix_ms;
  std::atomic<std::int64_t> offset_ms_{0};   // Redis' clock − this host's (0 until the first TIME)
  std::atomic<std::int64_t> high_water_{0};  // the latest shared_now() handed out
  std::atomic<std::int64_t> last_sync_{std::numeric_limits<std::int64_t>::min() / 2};
  // [tier][allowed][source]
  std::array<std::array<std::array<metrics::counter*, 4>, 2>, 4> decisions_{};
  std::array<metrics::counter*, 3> failures_{};  // unavailable, error_reply, bad_reply
};

/// How often a limiter reads Redis' clock (TIME) with a decision.
inline constexpr std::int64_t clock_sync_every_ms = 10'000;

/// The counter of window `index` under `key` (limiter::redis_key): `<key>:<index>`.
std::string window_key(std::string_view key, std::int64_t index);

/// SHA-1 of `data` in lowercase hex.
std::string sha1_hex(std::string_view data);

/// Identifiers longer than this are replaced by "sha1:<hex>" in keys (bounded key size).
inline constexpr std::size_t max_identifier_size = 200;

}  // namespace zuperior::ratelimit
