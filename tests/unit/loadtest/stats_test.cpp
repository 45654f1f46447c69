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
