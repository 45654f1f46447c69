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
