#include <catch2/catch.hpp>

#include "auth/cookie.hpp"
#include "config/settings.hpp"

using namespace zuperior::auth;

TEST_CASE("the session cookie has every attribute") {
  cookie_options o;
  o.max_age = std::chrono::seconds(3600);
  CHECK(set_cookie_header(o, "abc.def-_") == "token=abc.def-_; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax");
  o.secure = true;
  o.same_site = same_site::strict;
  o.domain = "example.com";
  CHECK(set_cookie_header(o, "v") ==
        "token=v; Max-Age=3600; Path=/; Domain=example.com; HttpOnly; SameSite=Strict; Secure");
  o.secure = false;
  o.same_site = same_site::none;
  CHECK(set_cookie_header(o, "v").find("; SameSite=None; Secure") != std::string::npos);
}

TEST_CASE("clearing the cookie expires it") {
  cookie_options o;
  CHECK(clear_cookie_header(o) ==
        "token=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax");
}

TEST_CASE("values and names a cookie cannot carry are refused") {
  cookie_options o;
  for (const char* v : {"a;b", "a b", "a,b", "a\"b", "a\\b", "a\r\nSet-Cookie: x=y", "\x7f"}) {
    INFO(v);
    CHECK_THROWS_AS(set_cookie_header(o, v), std::invalid_argument);
  }
  o.name = "to ken";
  CHECK_THROWS_AS(set_cookie_header(o, "v"), std::invalid_argument);
  o.name = "";
  CHECK_THROWS_AS(set_cookie_header(o, "v"), std::invalid_argument);
  o.name = "token";
  o.path = "/;Domain=evil";
  CHECK_THROWS_AS(set_cookie_header(o, "v"), std::invalid_argument);
}

TEST_CASE("options come from the configuration") {
  zuperior::config::settings s;
  auto o = cookie_options_from(s);
  CHECK(o.name == "token");
  CHECK_FALSE(o.secure);  // development
  CHECK(o.same_site == same_site::lax);
  CHECK(o.max_age == std::chrono::seconds(7 * 24 * 3600));
  s.app.env = "production";
  CHECK(cookie_options_from(s).secure);
  s.auth.cookie_secure = "false";
  CHECK_FALSE(cookie_options_from(s).secure);
  s.auth.cookie_same_site = "STRICT";
  CHECK(cookie_options_from(s).same_site == same_site::strict);
  s.auth.cookie_same_site = "sideways";
  CHECK_THROWS_AS(cookie_options_from(s), std::invalid_argument);
  s.auth.cookie_same_site = "lax";
  s.auth.cookie_secure = "maybe";
  CHECK_THROWS_AS(cookie_options_from(s), std::invalid_argument);
}

TEST_CASE("the Cookie header parser finds the token") {
  CHECK(find_cookie("token=abc", "token") == "abc");
  CHECK(find_cookie("a=1; token=abc; b=2", "token") == "abc");
  CHECK(find_cookie("a=1;token=abc", "token") == "abc");
  CHECK(find_cookie("  token = \"abc\" ", "token") == "abc");
  CHECK(find_cookie("xtoken=1; token=2", "token") == "2");
  CHECK(find_cookie("token=1; token=2", "token") == "1");
  CHECK(find_cookie("Token=1", "token") == std::nullopt);
  CHECK(find_cookie("token=", "token") == std::nullopt);
  CHECK(find_cookie("garbage; ;;=; token", "token") == std::nullopt);
  CHECK(find_cookie("garbage; ;;=x; token=ok", "token") == "ok");
  CHECK(find_cookie("", "token") == std::nullopt);
  CHECK(find_cookie("a=b=c", "a") == "b=c");
  CHECK(find_cookie("token=x", "") == std::nullopt);
}

TEST_CASE("bearer tokens and the token of a request") {
  CHECK(bearer_token("Bearer abc.def") == "abc.def");
  CHECK(bearer_token("bearer   abc ") == "abc");
  CHECK(bearer_token("BEARER\tabc") == "abc");
  CHECK(bearer_token("Bearer") == std::nullopt);
  CHECK(bearer_token("Bearer ") == std::nullopt);
  CHECK(bearer_token("Bearerabc") == std::nullopt);
  CHECK(bearer_token("Basic dXNlcjpwYXNz") == std::nullopt);
  CHECK(bearer_token("Bearer a b") == std::nullopt);
  CHECK(bearer_token("Bearer a\tb") == std::nullopt);
  CHECK(bearer_token("") == std::nullopt);
  CHECK(request_token("Bearer h", "token=c") == "h");
  CHECK(request_token("", "token=c") == "c");
  CHECK(request_token("Basic x", "sid=c") == std::nullopt);
  CHECK(request_token("", "sid=c", "sid") == "c");
}
