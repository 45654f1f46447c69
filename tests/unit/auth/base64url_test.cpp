#include <catch2/catch.hpp>

#include "auth/base64url.hpp"

using namespace zuperior::auth;

TEST_CASE("base64url round-trips every length and byte") {
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    const std::string enc = base64url_encode(bytes);
    CHECK(enc.find_first_of("+/=") == std::string::npos);
    auto dec = base64url_decode(enc);
    REQUIRE(dec);
    CHECK(*dec == bytes);
    bytes += static_cast<char>(n * 37 + 250);
  }
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  CHECK(base64url_encode("hello") == "aGVsbG8");
}

TEST_CASE("base64url decoding is strict") {
  CHECK_FALSE(base64url_decode("aGVsbG8="));  // padding
  CHECK_FALSE(base64url_decode("aGV sbG8"));  // whitespace
  CHECK_FALSE(base64url_decode("aGVs+G8"));   // standard alphabet
  CHECK_FALSE(base64url_decode("aGVs/G8"));
  CHECK_FALSE(base64url_decode("a"));        // 1 mod 4 cannot be
  CHECK_FALSE(base64url_decode("aGVsbG9"));  // non-zero unused bits: a second spelling of "hello"
  CHECK_FALSE(base64url_decode(std::string_view("aG\0s", 4)));
  CHECK_FALSE(base64url_decode("\xc3\xa9"));
  CHECK(base64url_decode("")->empty());
}
