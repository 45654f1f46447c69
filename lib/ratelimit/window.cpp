#include "ratelimit/window.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace zuperior::ratelimit {

namespace {

// The estimate at `elapsed` ms into the current window (the local limiter's and Redis' counters' alike).
double estimate(double previous, double current, double window, double elapsed) {
  return previous * ((window - elapsed) / window) + current;
}

}  // namespace

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool step(window_state& s, std::uint32_t limit, std::int64_t window_ms, std::uint32_t cost, std::int64_t now_ms) {
  if (window_ms <= 0) window_ms = 1;
  std::int64_t idx = now_ms / window_ms;
  if (s.window < 0 || s.window < idx - 1) {
    s.current = s.previous = 0;  // new, or both windows over
  } else if (s.window == idx - 1) {
    s.previous = s.current;
    s.current = 0;
  } else if (s.window > idx) {
    idx = s.window;  // the clock went back: stay in the newer window rather than forget its count
  }
  s.window = idx;
  const double elapsed = std::max<double>(0, static_cast<double>(now_ms - idx * window_ms));
  const bool allowed =
      estimate(s.previous, s.current, static_cast<double>(window_ms), elapsed) + cost <= static_cast<double>(limit);
  if (allowed) s.current += cost;
  return allowed;
}

counted_decision counted(std::int64_t counted, std::int64_t previous, std::uint32_t limit, std::int64_t window_ms,
                         std::uint32_t cost, std::int64_t now_ms) {
  if (window_ms <= 0) window_ms = 1;
  constexpr std::int64_t most = std::numeric_limits<std::uint32_t>::max();
  const std::int64_t idx = now_ms / window_ms;
  const std::int64_t before = std::clamp<std::int64_t>(counted - cost, 0, most);
  previous = std::clamp<std::int64_t>(previous, 0, most);
  const double elapsed = std::max<double>(0, static_cast<double>(now_ms - idx * window_ms));
  counted_decision out;
  out.allowed =
      estimate(static_cast<double>(previous), static_cast<double>(before), static_cast<double>(window_ms), elapsed) +
          cost <=
      static_cast<double>(limit);
  out.state.window = idx;
  out.state.previous = static_cast<std::uint32_t>(previous);
  out.state.current = static_cast<std::uint32_t>(out.allowed ? std::min(before + cost, most) : before);
  return out;
}

decision describe(const window_state& s, bool allowed, std::uint32_t limit, std::int64_t window_ms, std::uint32_t cost,
                  std::int64_t now_ms) {
  if (window_ms <= 0) window_ms = 1;
  decision d;
  d.allowed = allowed;
  d.limit = limit;
  d.now_ms = now_ms;
  const double w = static_cast<double>(window_ms);
  const std::int64_t start = s.window * window_ms;
  const std::int64_t elapsed = std::clamp<std::int64_t>(now_ms - start, 0, window_ms);
  const double est = estimate(s.previous, s.current, w, static_cast<double>(elapsed));
  d.remaining = static_cast<std::uint32_t>(std::max(0.0, std::floor(static_cast<double>(limit) - est)));
  d.reset_after = std::chrono::milliseconds(window_ms - elapsed);
  if (allowed) return d;

  // The earliest moment a request of `cost` passes if nothing else arrives.
  const double room = static_cast<double>(limit) - s.current - cost;  // left once previous has decayed
  std::int64_t wait;
  if (cost > limit) {
    wait = window_ms;  // can never pass: say "a window"
  } else if (room >= 0 && s.previous > 0) {
    // previous × (w − e)/w ≤ room  ⇔  e ≥ w − room·w/previous
    const double e = w - room * w / s.previous;
    wait = static_cast<std::int64_t>(std::ceil(e)) - elapsed;
  } else if (room >= 0) {
    wait = 0;
  } else {
    // In the next window current becomes previous: current × (w − x)/w + cost ≤ limit.
    const double x = w - (static_cast<double>(limit) - cost) * w / s.current;
    wait = (window_ms - elapsed) + static_cast<std::int64_t>(std::ceil(std::max(0.0, x)));
  }
  d.retry_after = std::chrono::milliseconds(std::max<std::int64_t>(wait, 1));
  return d;
}

}  // namespace zuperior::ratelimit
