#include <catch2/catch.hpp>

#include "config/dotenv.hpp"

using zuperior::config::parse_dotenv;

TEST_CASE("dotenv: plain, exported, quoted and commented lines") {
  auto r = parse_dotenv(
      "# comment\n"
      "\n"
      "A=1\n"
      "export B = two words \n"
      "C=\"quoted # not a comment\" # a comment\n"
      "D='single $literal \\n'\n"
      "E=\"esc\\n\\t\\\"x\\\"\"\n"
      "F=pa#ss\n"
      "G=value # trailing\n"
      "H=\n");
  REQUIRE(r.errors.empty());
  REQUIRE(r.entries.size() == 8);
  CHECK(r.entries[0].key == "A");
  CHECK(r.entries[0].value == "1");
  CHECK(r.entries[0].line == 3);
  CHECK(r.entries[1].key == "B");
  CHECK(r.entries[1].value == "two words");
  CHECK(r.entries[2].value == "quoted # not a comment");
  CHECK(r.entries[3].value == "single $literal \\n");
  CHECK(r.entries[4].value == "esc\n\t\"x\"");
  CHECK(r.entries[5].value == "pa#ss");
  CHECK(r.entries[6].value == "value");
  CHECK(r.entries[7].value.empty());
}

TEST_CASE("dotenv: multi-line quoted values keep later line numbers right") {
  auto r = parse_dotenv("KEY=\"line1\nline2\"\nNEXT=x\n");
  REQUIRE(r.errors.empty());
  REQUIRE(r.entries.size() == 2);
  CHECK(r.entries[0].value == "line1\nline2");
  CHECK(r.entries[1].key == "NEXT");
  CHECK(r.entries[1].line == 3);
}

TEST_CASE("dotenv: malformed lines are errors with their line numbers, the rest still parses") {
  auto r = parse_dotenv("GOOD=1\nthis line has no equals\n1BAD=2\nQ=\"ok\" trailing\nLAST=3\n");
  REQUIRE(r.errors.size() == 3);
  CHECK(r.errors[0].line == 2);
  CHECK(r.errors[1].line == 3);
  CHECK(r.errors[2].line == 4);
  REQUIRE(r.entries.size() == 2);
  CHECK(r.entries[1].key == "LAST");
}

TEST_CASE("dotenv: an unterminated quote is reported and stops parsing") {
  auto r = parse_dotenv("A=1\nB=\"never closed\nC=3\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == 2);
  CHECK(r.errors[0].message.find("unterminated") != std::string::npos);
  CHECK(r.entries.size() == 1);
}

TEST_CASE("dotenv: BOM, CRLF and empty input") {
  auto r = parse_dotenv(
      "\xEF\xBB\xBF"
      "A=1\r\nB=2\r\n");
  REQUIRE(r.errors.empty());
  REQUIRE(r.entries.size() == 2);
  CHECK(r.entries[0].key == "A");
  CHECK(r.entries[0].value == "1");
  CHECK(parse_dotenv("").entries.empty());
}

TEST_CASE("dotenv errors never repeat a line's value: it may be a secret") {
  auto r = parse_dotenv(
      "JWT_SECRET: c2VjcmV0LXZhbHVlLWxvbmc=\n"
      "REDIS_PASSWORD='it's-TopSecret99'\n"
      "JWT_SECRET=\"abcdef\"456789SECRETTAIL\n"
      "9LIVES=x\n"
      "OK=1\n");
  REQUIRE(r.errors.size() == 4);
  for (const auto& e : r.errors) {
    CHECK(e.message.find("c2VjcmV0") == std::string::npos);
    CHECK(e.message.find("TopSecret99") == std::string::npos);
    CHECK(e.message.find("SECRETTAIL") == std::string::npos);
  }
  CHECK(r.errors[0].line == 1);
  CHECK(r.errors[0].message.find("':' at column 11") != std::string::npos);
  CHECK(r.errors[1].message.find("after the closing quote of REDIS_PASSWORD") != std::string::npos);
  CHECK(r.errors[2].message.find("after the closing quote of JWT_SECRET (16 characters)") != std::string::npos);
  CHECK(r.errors[3].message.find("cannot start with a digit") != std::string::npos);
  REQUIRE(r.entries.size() == 1);
  CHECK(r.entries[0].key == "OK");
}

TEST_CASE("dotenv: a secret wrapped onto the next line is not repeated in the error, not even its start") {
  // openssl rand -base64 64 wraps at 64 characters: the second line reads as a name with a '+'.
  auto r = parse_dotenv(
      "JWT_SECRET=q8ZtR3vLmN0pXw7YcB2dKf5HgJ1sA4eU9iO6uP0yTrEqWz\n"
      "  Xc3VbN7mQ1aS5dF8gH2jK4lZ+x/Wr9Te==\n"
      "export Ab\x01"
      "cd=1\n");
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].line == 2);
  CHECK(r.errors[0].message.find("'+' at column 27") != std::string::npos);
  CHECK(r.errors[0].message.find("Xc3V") == std::string::npos);
  CHECK(r.errors[1].line == 3);
  CHECK(r.errors[1].message.find("a non-printable character at column 10") != std::string::npos);
  CHECK(r.errors[1].message.find("Ab") == std::string::npos);
}
