#pragma once
#include <chrono>
#include <cstdint>

namespace zuperior::ratelimit {

// The sliding window is approximated with two fixed windows, as the seed's @upstash/ratelimit
// slidingWindow does: estimate = previous × (time left in the current window / window) + current.
// A request is allowed while estimate + cost ≤ limit. Memory is three numbers per identifier
// (not one entry per request as a sorted-set log would need: the websocket tier allows 10,000 a
// minute). Tolerance: within one fixed window no more than `limit` requests ever pass, and a burst
// into a fresh identifier gets exactly `limit`; over an arbitrary sliding interval the count can
// exceed `limit` only when the previous window's requests were bunched at its end (the estimate
// assumes they were spread evenly) — at most by the previous count × the fraction already elapsed.

/// The counters kept per identifier (locally in a map; in Redis as one counter per fixed window,
/// see counted()).
struct window_state {
  std::int64_t window = -1;    // index of the current fixed window (now / window_ms); -1 = none yet
  std::uint32_t current = 0;   // requests counted in that window
  std::uint32_t previous = 0;  // requests counted in the window before it
};

/// Where a decision came from.
enum class source { redis, local, open, closed };

/// A rate-limit decision and everything the response headers need.
struct decision {
  bool allowed = true;
  std::uint32_t limit = 0;
  std::uint32_t remaining = 0;               // requests still allowed now, after this one
  std::chrono::milliseconds reset_after{0};  // until the current fixed window ends
  std::chrono::milliseconds retry_after{0};  // 0 when allowed; else until a request would pass again
  std::int64_t now_ms = 0;                   // the clock the decision used (Unix ms; Redis' for Redis')
  ratelimit::source source = source::redis;
  /// Unix time (ms) at which the current fixed window ends (X-RateLimit-Reset).
  std::int64_t reset_at_ms() const { return now_ms + reset_after.count(); }
};

/// Advances `s` to the window containing `now_ms` and counts `cost` if allowed; returns whether it was.
bool step(window_state& s, std::uint32_t limit, std::int64_t window_ms, std::uint32_t cost, std::int64_t now_ms);

/// The decision Redis' counters give (the same as step() for the same sequence of requests): the
/// request's INCRBY made the current window's counter `counted`; the previous window's counter reads
/// `previous`. `state` is the state after the decision: a refused request is taken off again (DECRBY),
/// so it is not in `state.current`.
struct counted_decision {
  bool allowed = false;
  window_state state;
};
counted_decision counted(std::int64_t counted, std::int64_t previous, std::uint32_t limit, std::int64_t window_ms,
                         std::uint32_t cost, std::int64_t now_ms);

/// Builds the decision from the state after step(): remaining, reset_after and retry_after.
decision describe(const window_state& s, bool allowed, std::uint32_t limit, std::int64_t window_ms, std::uint32_t cost,
                  std::int64_t now_ms);

/// Unix time in milliseconds.
std::int64_t unix_ms();

}  // namespace zuperior::ratelimit
