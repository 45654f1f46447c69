#include <catch2/catch.hpp>

#include "core/redact.hpp"
#include "core/url.hpp"

using namespace zuperior::core;

TEST_CASE("URLs parse into their parts with decoded credentials") {
  auto u = parse_url("postgresql://app:p%40ss@db.internal:6543/zuperior?connection_limit=20&pool_timeout=60");
  REQUIRE(u);
  CHECK(u->scheme == "postgresql");
  CHECK(u->user == "app");
  CHECK(u->password == "p@ss");
  CHECK(u->host == "db.internal");
  CHECK(u->port == 6543u);
  CHECK(u->path == "/zuperior");
  CHECK(u->query.find("connection_limit")->second == "20");
  auto v6 = parse_url("redis://[::1]:6380/2");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 6380u);
  CHECK_FALSE(parse_url("not a url"));
  CHECK_FALSE(parse_url("http://host:99999/"));
  CHECK_FALSE(parse_url("http://host:abc/"));
  CHECK_FALSE(parse_url("://host"));
  CHECK_FALSE(parse_url("redis://[::1/"));
}

TEST_CASE("hosts and IPs are told apart from garbage") {
  CHECK(is_ip_address("127.0.0.1"));
  CHECK(is_ip_address("::1"));
  CHECK_FALSE(is_ip_address("256.0.0.1"));
  CHECK(is_host_name("db.internal"));
  CHECK(is_host_name("localhost"));
  CHECK_FALSE(is_host_name("bad host"));
  CHECK_FALSE(is_host_name("-bad.example"));
  CHECK_FALSE(is_host_name(""));
}

TEST_CASE("client_key: IPv4 as is, IPv6 by its network, so fresh addresses of one subscriber count as one") {
  CHECK(client_key("203.0.113.7", 64) == "203.0.113.7");
  CHECK(client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64) == "2001:db8:1:2::/64");
  CHECK(client_key("2001:db8:1:2:ffff::1", 64) == client_key("2001:db8:1:2::9", 64));
  CHECK(client_key("2001:db8:1:3::1", 64) != client_key("2001:db8:1:2::1", 64));
  CHECK(client_key("2001:db8:1:2ff::1", 56) == "2001:db8:1:200::/56");
  CHECK(client_key("2001:db8:1:2ff::1", 60) == "2001:db8:1:2f0::/60");  // a prefix inside a byte
  CHECK(client_key("2001:db8::1", 128) == "2001:db8::1");
  CHECK(client_key("::ffff:198.51.100.1", 64) == "198.51.100.1");  // IPv4-mapped: the IPv4 client
  CHECK(client_key("not-an-ip", 64) == "not-an-ip");
  CHECK(client_key("2001:db8::zz", 64) == "2001:db8::zz");
}

TEST_CASE("redaction hides URL passwords, tokens and listed secrets") {
  CHECK(redact_url("postgresql://app:hunter2@db/x") == "postgresql://app:***@db/x");
  CHECK(redact_url("redis://:s3cr3t@127.0.0.1:6379") == "redis://:***@127.0.0.1:6379");
  CHECK(redact_url("postgresql://app@db/x") == "postgresql://app@db/x");
  // A password with an unencoded '/', '?' or '#' (such a URL does not parse: the error shows it).
  CHECK(redact_url("postgres://app:Ab/cd+ef@db.example:5432/app") == "postgres://app:***@db.example:5432/app");
  CHECK(redact_url("\"redis://u:p#ss?w@h:6379/0\" is not a valid URL") ==
        "\"redis://u:***@h:6379/0\" is not a valid URL");
  CHECK(redact_url("see https://example.com/a@b") == "see https://example.com/a@b");
  CHECK(redact_url("host=db password=hunter2 user=x") == "host=db password=*** user=x");
  auto t =
      redact_text("connect failed for postgresql://u:topsecretpw@h/db with key ABCDEFGHIJKLMNOP", {"ABCDEFGHIJKLMNOP"});
  CHECK(t.find("topsecretpw") == std::string::npos);
  CHECK(t.find("ABCDEFGHIJKLMNOP") == std::string::npos);
  CHECK(t.find("<redacted>") != std::string::npos);
  auto b = redact_text("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig");
  CHECK(b.find("eyJ") == std::string::npos);
  CHECK(redact_text("nothing to hide") == "nothing to hide");
}

TEST_CASE("redaction: a password with spaces, several URLs in one text, and other text left alone") {
  // core::parse_url takes the userinfo to the last '@': so does redaction.
  CHECK(redact_url("postgresql://app:my secret pw@db.example.com/zuperior") ==
        "postgresql://app:***@db.example.com/zuperior");
  CHECK(redact_url("redis://:p@ss@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0");
  CHECK(redact_url("https://a.example.com,redis://:pw@h:6379,https://b.example.com") ==
        "https://a.example.com,redis://:***@h:6379,https://b.example.com");
  CHECK(redact_url("a postgresql://u:one@h/x and redis://:two@h/0") == "a postgresql://u:***@h/x and redis://:***@h/0");
  CHECK(redact_url("http://user@host:8080/path?email=a:b@c") == "http://user@host:8080/path?email=a:b@c");
  CHECK(redact_url("https://app.example.com:8443") == "https://app.example.com:8443");
  CHECK(redact_url("postgresql://u:pw@h/db?sslmode=require&PASSWORD=x&pwd=&pass=y z") ==
        "postgresql://u:***@h/db?sslmode=require&PASSWORD=***&pwd=***&pass=*** z");
  CHECK(redact_url("user=app passwordless=1") == "user=app passwordless=1");
}

TEST_CASE("redaction: long values are scanned, not recursed through (a 50 KB URL crashed std::regex)") {
  const std::string password(50000, 'x');
  CHECK(redact_url("postgresql://app:" + password + "@db/zuperior") == "postgresql://app:***@db/zuperior");
  std::string origins;
  for (int i = 0; i < 2000; ++i) origins += "https://app" + std::to_string(i) + ".example.com,";
  CHECK(redact_url(origins) == origins);
  CHECK(redact_url("password=" + password + " user=app") == "password=*** user=app");
  auto t = redact_text("postgresql://app:" + password + "@db/zuperior", {"not-in-it"});
  CHECK(t == "postgresql://app:***@db/zuperior");
}

TEST_CASE("redaction: bearer tokens and JWTs, also long ones") {
  CHECK(redact_text("Authorization: bearer abc.DEF-123/+==, next") == "Authorization: bearer ***, next");
  CHECK(redact_text("Bearer: none") == "Bearer: none");
  CHECK(redact_text("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln; eyJnot.a jwt") == "token <jwt>; eyJnot.a jwt");
  CHECK(redact_text("eyJeyJ.eyJ.x.y") == "<jwt>.y");
  const std::string token(40000, 'A');
  CHECK(redact_text("Authorization: Bearer " + token) == "Authorization: Bearer ***");
  CHECK(redact_text("eyJ" + token + ".eyJ" + token + ".sig end") == "<jwt> end");
  CHECK(redact_text("eyJ" + token) == "eyJ" + token);
}
