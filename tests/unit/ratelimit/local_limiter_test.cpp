#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ratelimit/local_limiter.hpp"

using namespace zuperior::ratelimit;

namespace {
constexpr std::int64_t W = 60'000;
constexpr std::int64_t T0 = 1'700'000'000'000 / W * W;
}  // namespace

TEST_CASE("the local limiter keeps identifiers apart and reports the local source") {
  local_limiter l;
  int a = 0, b = 0;
  for (int i = 0; i < 15; ++i) {
    a += l.decide("standard:ip:1.1.1.1", 10, W, 1, T0 + i).allowed;
    b += l.decide("standard:ip:2.2.2.2", 10, W, 1, T0 + i).allowed;
  }
  CHECK(a == 10);
  CHECK(b == 10);
  const auto d = l.decide("standard:ip:1.1.1.1", 10, W, 1, T0 + 20);
  CHECK_FALSE(d.allowed);
  CHECK(d.source == source::local);
  CHECK(d.remaining == 0);
  CHECK(l.size() == 2);
  CHECK(l.erase("standard:ip:1.1.1.1"));
  CHECK_FALSE(l.erase("standard:ip:1.1.1.1"));
  CHECK(l.decide("standard:ip:1.1.1.1", 10, W, 1, T0 + 21).allowed);
}

TEST_CASE("idle identifiers are swept and memory stays bounded") {
  local_limiter l(1600);  // 100 per shard
  for (int i = 0; i < 1000; ++i) l.decide("k" + std::to_string(i), 5, W, 1, T0);
  CHECK(l.size() == 1000);
  CHECK(l.sweep(T0 + W) == 0);  // previous window still counts
  CHECK(l.sweep(T0 + 2 * W) == 1000);
  CHECK(l.size() == 0);
  // Far more live identifiers than capacity: never more than capacity kept.
  for (int i = 0; i < 20000; ++i) l.decide("live" + std::to_string(i), 5, W, 1, T0 + 3 * W);
  CHECK(l.size() <= l.capacity());
  CHECK(l.evictions() > 0);
  // Idle keys are also removed automatically as new ones arrive later.
  for (int i = 0; i < 20000; ++i) l.decide("new" + std::to_string(i), 5, W, 1, T0 + 10 * W);
  CHECK(l.size() <= l.capacity());
}

TEST_CASE("a changed window (reload) starts the identifier afresh") {
  local_limiter l;
  for (int i = 0; i < 5; ++i) l.decide("k", 5, W, 1, T0);
  CHECK_FALSE(l.decide("k", 5, W, 1, T0).allowed);
  CHECK(l.decide("k", 5, 10'000, 1, T0).allowed);
}

TEST_CASE("concurrent decisions on one identifier never exceed the limit") {
  local_limiter l;
  std::atomic<int> allowed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) allowed += l.decide("hot", 1000, W, 1, T0 + 5).allowed;
    });
  for (auto& t : ts) t.join();
  CHECK(allowed == 1000);
}
