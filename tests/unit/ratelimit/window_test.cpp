#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "ratelimit/headers.hpp"
#include "ratelimit/window.hpp"

using namespace zuperior::ratelimit;
using std::chrono::milliseconds;

namespace {
constexpr std::int64_t W = 10'000;                      // 10 s window
constexpr std::int64_t T0 = 1'700'000'000'000 / W * W;  // a window boundary
}  // namespace

TEST_CASE("a burst into a fresh identifier gets exactly the limit") {
  window_state s;
  int ok = 0;
  for (int i = 0; i < 25; ++i) ok += step(s, 10, W, 1, T0 + 3000 + i);
  CHECK(ok == 10);
  CHECK(s.current == 10);
  CHECK(s.previous == 0);
}

TEST_CASE("the previous window weighs in proportionally to the time left") {
  window_state s;
  for (int i = 0; i < 10; ++i) REQUIRE(step(s, 10, W, 1, T0 + 5000));
  // Next window, 30% elapsed: previous weighs 0.7 -> 7; three more fit.
  int ok = 0;
  for (int i = 0; i < 10; ++i) ok += step(s, 10, W, 1, T0 + W + 3000);
  CHECK(ok == 3);
  CHECK(s.previous == 10);
  CHECK(s.current == 3);
  // Two windows later everything is forgotten.
  CHECK(step(s, 10, W, 1, T0 + 3 * W));
  CHECK(s.previous == 0);
  CHECK(s.current == 1);
}

TEST_CASE("no fixed window ever passes more than the limit, whatever the arrival pattern") {
  std::mt19937 rng(42);
  window_state s;
  std::int64_t t = T0;
  std::map<std::int64_t, int> per_window;
  for (int i = 0; i < 20000; ++i) {
    t += std::uniform_int_distribution<int>(0, 50)(rng);
    if (step(s, 100, W, 1, t)) ++per_window[t / W];
  }
  for (auto& [w, n] : per_window) CHECK(n <= 100);
}

TEST_CASE("Redis' counters decide exactly as the local arithmetic, request by request") {
  // One counter per fixed window, as in Redis: INCRBY, the previous window's count, DECRBY on a
  // refusal. Random costs, bursts and idle gaps of several windows.
  std::mt19937 rng(7);
  std::map<std::int64_t, std::int64_t> counters;
  window_state mirror;
  std::int64_t t = T0;
  int allowed = 0, refused = 0;
  for (int i = 0; i < 50000; ++i) {
    const int gap = std::uniform_int_distribution<int>(0, 99)(rng);
    t += gap < 97 ? std::uniform_int_distribution<int>(0, 30)(rng) : std::uniform_int_distribution<int>(0, 3 * W)(rng);
    const auto cost = static_cast<std::uint32_t>(std::uniform_int_distribution<int>(1, 3)(rng));
    const std::int64_t idx = t / W;
    auto& c = counters[idx];
    c += cost;
    const auto prev = counters.count(idx - 1) ? counters[idx - 1] : 0;
    const auto d = counted(c, prev, 100, W, cost, t);
    if (!d.allowed) c -= cost;
    const bool local = step(mirror, 100, W, cost, t);
    REQUIRE(d.allowed == local);
    REQUIRE(d.state.window == mirror.window);
    REQUIRE(d.state.current == mirror.current);
    REQUIRE(d.state.previous == mirror.previous);
    (d.allowed ? allowed : refused)++;
  }
  CHECK(allowed > 10000);
  CHECK(refused > 10000);
}

TEST_CASE("counted: a refused request is not in the state, and counts Redis cannot hold are clamped") {
  const auto d = counted(11, 0, 10, W, 1, T0 + 10);
  CHECK_FALSE(d.allowed);
  CHECK(d.state.current == 10);
  const auto f = counted(1, 0, 10, W, 1, T0 + 10);
  CHECK(f.allowed);
  CHECK(f.state.current == 1);
  const auto huge = counted(std::int64_t{1} << 40, -5, 10, W, 1, T0);
  CHECK_FALSE(huge.allowed);
  CHECK(huge.state.current == 0xffffffffu);
  CHECK(huge.state.previous == 0);
}

TEST_CASE("describe reports remaining and reset") {
  window_state s;
  step(s, 10, W, 1, T0 + 2500);
  auto d = describe(s, true, 10, W, 1, T0 + 2500);
  CHECK(d.allowed);
  CHECK(d.limit == 10);
  CHECK(d.remaining == 9);
  CHECK(d.reset_after == milliseconds(7500));
  CHECK(d.reset_at_ms() == T0 + W);
  CHECK(d.retry_after == milliseconds(0));
}

TEST_CASE("retry_after is exactly when a request passes again") {
  // Property: for any denied state, a request at now + retry_after passes and one at
  // now + retry_after - 1 does not.
  std::mt19937 rng(7);
  int checked = 0;
  for (int round = 0; round < 2000; ++round) {
    const std::uint32_t limit = std::uniform_int_distribution<std::uint32_t>(1, 50)(rng);
    const std::int64_t window = std::uniform_int_distribution<std::int64_t>(100, 60000)(rng);
    window_state s;
    std::int64_t t = T0 + std::uniform_int_distribution<std::int64_t>(0, window * 3)(rng);
    for (int i = 0; i < 200; ++i) {
      t += std::uniform_int_distribution<std::int64_t>(0, window / 20)(rng);
      window_state probe = s;
      const bool allowed = step(s, limit, window, 1, t);
      if (allowed) continue;
      const auto d = describe(s, false, limit, window, 1, t);
      REQUIRE(d.retry_after.count() >= 1);
      window_state later = s;
      INFO("limit " << limit << " window " << window << " cur " << s.current << " prev " << s.previous);
      CHECK(step(later, limit, window, 1, t + d.retry_after.count()));
      if (d.retry_after.count() > 1) {
        window_state earlier = s;
        CHECK_FALSE(step(earlier, limit, window, 1, t + d.retry_after.count() - 1));
      }
      ++checked;
      (void)probe;
    }
  }
  CHECK(checked > 1000);
}

TEST_CASE("a cost larger than the limit never passes") {
  window_state s;
  CHECK_FALSE(step(s, 5, W, 6, T0));
  auto d = describe(s, false, 5, W, 6, T0);
  CHECK(d.retry_after == milliseconds(W));
}

TEST_CASE("a clock stepping back keeps the newer window's count") {
  window_state s;
  for (int i = 0; i < 10; ++i) step(s, 10, W, 1, T0 + W + 100);
  CHECK_FALSE(step(s, 10, W, 1, T0 + 100));  // earlier window: still counted against
  CHECK(s.window == (T0 + W) / W);
}

TEST_CASE("response headers and the 429 body") {
  decision d;
  d.allowed = false;
  d.limit = 10;
  d.remaining = 0;
  d.now_ms = 1'700'000'000'000;
  d.reset_after = milliseconds(4200);
  d.retry_after = milliseconds(1001);
  const auto h = response_headers(d, "strict", 10'000);
  std::map<std::string, std::string> m;
  for (auto& f : h) m[f.name] = f.value;
  CHECK(m.at("X-RateLimit-Limit") == "10");
  CHECK(m.at("X-RateLimit-Remaining") == "0");
  CHECK(m.at("X-RateLimit-Reset") == "1700000004200");
  CHECK(m.at("RateLimit-Policy") == "\"strict\";q=10;w=10");
  CHECK(m.at("RateLimit") == "\"strict\";r=0;t=2");
  CHECK(m.at("Retry-After") == "2");
  CHECK(too_many_requests_body(d) ==
        R"({"success":false,"message":"Too many requests. Please try again later.","retryAfter":2})");
  d.allowed = true;
  d.remaining = 3;
  d.retry_after = milliseconds(0);
  m.clear();
  for (auto& f : response_headers(d, "std\"ard", 60'000)) m[f.name] = f.value;
  CHECK_FALSE(m.count("Retry-After"));
  CHECK(m.at("RateLimit") == "\"stdard\";r=3;t=5");
  CHECK(m.at("RateLimit-Policy") == "\"stdard\";q=10;w=60");
}
