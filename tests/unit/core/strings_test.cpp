#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>

#include "core/strings.hpp"

using zuperior::core::append_number;

TEST_CASE("append_number appends the decimal digits after what is there") {
  std::string s = "n=";
  append_number(s, 0);
  CHECK(s == "n=0");
  s.clear();
  append_number(s, -42);
  s += ',';
  append_number(s, 1234567890123);
  CHECK(s == "-42,1234567890123");
  s.clear();
  append_number(s, std::numeric_limits<std::int64_t>::min());
  CHECK(s == "-9223372036854775808");
  s.clear();
  append_number(s, std::numeric_limits<std::int64_t>::max());
  CHECK(s == "9223372036854775807");
}
