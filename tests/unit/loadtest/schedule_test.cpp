#include <catch2/catch.hpp>

#include "loadtest/schedule.hpp"

using namespace zuperior::loadtest;
using std::chrono::microseconds;
using namespace std::chrono_literals;

TEST_CASE("a constant rate spaces requests evenly") {
  schedule s({{1s, 1000, 1000}});
  CHECK(s.total() == 1000);
  CHECK(s.time_of(0) == microseconds(0));
  CHECK(s.time_of(1) == microseconds(1000));
  CHECK(s.time_of(500) == microseconds(500'000));
  CHECK(s.time_of(999) == microseconds(999'000));
  CHECK_FALSE(s.time_of(1000));
  CHECK(s.duration() == 1s);
  CHECK(s.due_by(microseconds(0)) == 1);
  CHECK(s.due_by(microseconds(1500)) == 2);
  CHECK(s.due_by(10s) == 1000);
}

TEST_CASE("a linear ramp follows the integral of the rate") {
  // 0 -> 100/s over 10s: N(t) = 5 t^2, 500 requests in total; request n at sqrt(n/5).
  schedule s({{10s, 0, 100}});
  CHECK(s.total() == 500);
  CHECK(s.time_of(0) == microseconds(0));
  CHECK(s.time_of(5) == microseconds(1'000'000));
  CHECK(s.time_of(125) == microseconds(5'000'000));
  CHECK(s.time_of(499).value() < 10s);
  CHECK(s.rate_at(5s) == Approx(50));
  // Monotonic.
  for (std::uint64_t n = 1; n < s.total(); ++n) REQUIRE(*s.time_of(n) >= *s.time_of(n - 1));
  // due_by is the inverse of time_of.
  for (std::uint64_t n : {1ULL, 10ULL, 100ULL, 400ULL}) CHECK(s.due_by(*s.time_of(n)) >= n + 1);
}

TEST_CASE("phases chain: ramp down, pause, constant") {
  schedule s({{2s, 100, 100}, {2s, 100, 0}, {1s, 0, 0}, {1s, 10, 10}});
  CHECK(s.total() == 200 + 100 + 0 + 10);
  CHECK(s.time_of(199) == microseconds(1'990'000));
  CHECK(s.time_of(200) == microseconds(2'000'000));
  // The 11th-from-last request starts the constant phase after the pause.
  CHECK(s.time_of(300) == microseconds(5'000'000));
  CHECK(s.time_of(309) == microseconds(5'900'000));
  CHECK_FALSE(s.time_of(310));
  CHECK(s.duration() == 6s);
}

TEST_CASE("an empty schedule starts nothing") {
  schedule s({});
  CHECK(s.total() == 0);
  CHECK_FALSE(s.time_of(0));
  CHECK(s.due_by(1s) == 0);
}
