#include <catch2/catch.hpp>

#include "cache/async_client.hpp"
#include "cache/cache.hpp"
#include "cache/link.hpp"

using namespace zuperior::cache;

TEST_CASE("redis URLs: host, port, database, credentials", "[cache]") {
  auto ep = detail::parse_endpoint("redis://:p%40ss@redis.internal:6380/2");
  CHECK(ep.host == "redis.internal");
  CHECK(ep.port == 6380);
  CHECK(ep.db == 2);
  CHECK(ep.has_password);
  CHECK(ep.password == "p@ss");
  CHECK(ep.user.empty());
  auto acl = detail::parse_endpoint("redis://app:secret@127.0.0.1");
  CHECK(acl.user == "app");
  CHECK(acl.port == 6379);
  CHECK(acl.db == 0);
  CHECK_FALSE(detail::parse_endpoint("redis://127.0.0.1:1/").has_password);
  CHECK_THROWS_AS(detail::parse_endpoint("redis://h/notanumber"), error);
  CHECK_THROWS_AS(detail::parse_endpoint("rediss://h:1/0"), error);
  CHECK_THROWS_AS(detail::parse_endpoint("postgres://h/0"), error);
  try {
    detail::parse_endpoint("redis://:hunter2@h/x");
    FAIL("no exception");
  } catch (const error& e) {
    CHECK(std::string(e.what()).find("hunter2") == std::string::npos);
  }
}

TEST_CASE("glob escaping keeps a key prefix literal in SCAN MATCH", "[cache]") {
  CHECK(escape_glob("app:") == "app:");
  CHECK(escape_glob("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\");
}

TEST_CASE("error codes name their cause", "[cache]") {
  boost::system::error_code ec = errc::timeout;
  CHECK(ec.category().name() == std::string("redis"));
  CHECK(ec.message() == "Redis command timed out");
  CHECK(boost::system::error_code(errc::disconnected) != boost::system::error_code(errc::timeout));
  result r;
  CHECK(static_cast<bool>(r));
  r.ec = errc::error_reply;
  CHECK_FALSE(static_cast<bool>(r));
}
