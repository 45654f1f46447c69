#include <catch2/catch.hpp>

#include <string>

#include "loadtest/stats.hpp"

using namespace zuperior::loadtest;

TEST_CASE("event names are counted by name, and a hostile server cannot grow the table") {
  ws_stats a;
  a.count_event("market:update");
  a.count_event("market:update", 2);
  CHECK(a.events.at("market:update") == 3);

  SECTION("names past the cap, over-long or with control characters count as (other)") {
    for (int i = 0; i < 1000; ++i) a.count_event("e" + std::to_string(i));
    a.count_event(std::string(ws_stats::max_event_name + 1, 'x'));
    a.count_event("\x1b[2Jclear");
    CHECK(a.events.size() == ws_stats::max_event_names + 1);
    CHECK(a.events.at(std::string(ws_stats::other_events)) == 1000 - (ws_stats::max_event_names - 1) + 2);
    CHECK(a.events.at("market:update") == 3);  // a known name keeps counting past the cap
    a.count_event("market:update");
    CHECK(a.events.at("market:update") == 4);
  }

  SECTION("merging threads keeps the cap and adds counts") {
    ws_stats b;
    b.count_event("market:update", 5);  // names are kept in the order first seen
    for (int i = 0; i < 100; ++i) b.count_event("b" + std::to_string(i));
    a.merge(b);
    CHECK(a.events.size() <= ws_stats::max_event_names + 1);
    CHECK(a.events.at("market:update") == 8);
    std::uint64_t total = 0;
    for (const auto& [k, v] : a.events) total += v;
    CHECK(total == 3 + 100 + 5);  // nothing lost, only lumped
  }
}

TEST_CASE("requests never sent are shared out by weight and count as timeouts of their step") {
  CHECK(split_by_weight(71, {1}) == std::vector<std::uint64_t>{71});
  CHECK(split_by_weight(10, {3, 1}) == std::vector<std::uint64_t>{8, 2});  // 7.5 and 2.5: the tie to the first
  CHECK(split_by_weight(7, {1, 1, 1}) == std::vector<std::uint64_t>{3, 2, 2});
  CHECK(split_by_weight(2, {1, 1, 1}) == std::vector<std::uint64_t>{1, 1, 0});
  CHECK(split_by_weight(0, {5, 2}) == std::vector<std::uint64_t>{0, 0});
  CHECK(split_by_weight(5, {0, 0}) == std::vector<std::uint64_t>{5, 0});
  CHECK(split_by_weight(3, {}).empty());
  // n × weight beyond 64 bits: still exact.
  const std::uint64_t big = 30'000'000'000'000ULL;
  auto parts = split_by_weight(big, {1'000'000, 1'000'000, 1});
  CHECK(parts[0] + parts[1] + parts[2] == big);
  CHECK(parts[2] == big / 2'000'001);

  step_stats s;
  s.requests = 29;
  s.errors[static_cast<int>(error_kind::timeout)] = 1;
  s.add_not_sent(71);
  CHECK(s.requests == 100);
  CHECK(s.not_sent == 71);
  CHECK(s.error_count() == 72);
  CHECK(s.rps(2.0) == Approx(14.5));  // only what was sent
}
