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

TEST_CASE("one_line folds a multi-line library message into one log line") {
  using zuperior::core::one_line;
  CHECK(
      one_line("connection to server at \"127.0.0.1\", port 5432 failed: Connection refused\n\tIs the server running "
               "on that host and accepting TCP/IP connections?\n") ==
      "connection to server at \"127.0.0.1\", port 5432 failed: Connection refused Is the server running on that host "
      "and accepting TCP/IP connections?");
  CHECK(one_line("ERROR:  duplicate key\r\nDETAIL:  Key (email)=(a) already exists.") ==
        "ERROR:  duplicate key DETAIL:  Key (email)=(a) already exists.");
  CHECK(one_line("two  spaces\tand a tab stay") == "two  spaces\tand a tab stay");
  CHECK(one_line("  \n ") == "");
  CHECK(one_line("") == "");
}
