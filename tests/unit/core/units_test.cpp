#include <catch2/catch.hpp>

#include "core/units.hpp"

using namespace zuperior::core;
using namespace std::chrono_literals;

TEST_CASE("durations parse with units and a bare number means seconds") {
  CHECK(parse_duration("250ms") == std::chrono::microseconds(250ms));
  CHECK(parse_duration("10s") == std::chrono::microseconds(10s));
  CHECK(parse_duration("10") == std::chrono::microseconds(10s));
  CHECK(parse_duration("1m") == std::chrono::microseconds(60s));
  CHECK(parse_duration("2h") == std::chrono::microseconds(2h));
  CHECK(parse_duration("7d") == std::chrono::microseconds(168h));
  CHECK(parse_duration("1.5s") == std::chrono::microseconds(1500ms));
  CHECK(parse_duration(" 5 s ") == std::chrono::microseconds(5s));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("ten"));
  CHECK_FALSE(parse_duration("10 parsecs"));
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration("1.2.3s"));
  CHECK_FALSE(parse_duration("99999999999999999999d"));
}

TEST_CASE("durations format in the largest exact unit") {
  CHECK(format_duration(10s) == "10s");
  CHECK(format_duration(1500ms) == "1500ms");
  CHECK(format_duration(60s) == "1m");
  CHECK(format_duration(0s) == "0s");
  CHECK(format_duration(std::chrono::microseconds(7)) == "7us");
}

TEST_CASE("sizes parse binary and decimal units") {
  CHECK(parse_size("1MiB") == 1048576u);
  CHECK(parse_size("16KiB") == 16384u);
  CHECK(parse_size("1kb") == 1000u);
  CHECK(parse_size("1000000") == 1000000u);
  CHECK(parse_size("2g") == 2000000000u);
  CHECK_FALSE(parse_size("MiB"));
  CHECK_FALSE(parse_size("12 apples"));
  CHECK(format_size(1048576) == "1MiB");
  CHECK(format_size(1000) == "1000B");
}
