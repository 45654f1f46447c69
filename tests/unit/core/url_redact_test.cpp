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
