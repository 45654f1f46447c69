#include <catch2/catch.hpp>

#include "db/conninfo.hpp"
#include "db/pool.hpp"
#include "db/session.hpp"

using namespace zuperior;

TEST_CASE("libpq_url: Prisma's pool parameters go, connect_timeout and the schema are translated") {
  auto u = db::libpq_url("postgresql://u:p@db:5433/app?connection_limit=5&pool_timeout=3&schema=s1&sslmode=require",
                         std::chrono::milliseconds(2500));
  CHECK(u ==
        "postgresql://u:p@db:5433/app?sslmode=require&connect_timeout=3&options=-csearch_path%3Ds1"
        "&application_name=zuperior&keepalives=1&keepalives_idle=10&keepalives_interval=5&keepalives_count=3"
        "&tcp_user_timeout=25000");
  // The URL's own keepalive settings stay, and are not doubled.
  auto own = db::libpq_url("postgresql://u@db/app?keepalives_idle=60&tcp_user_timeout=0", std::chrono::seconds(1));
  CHECK(own ==
        "postgresql://u@db/app?keepalives_idle=60&tcp_user_timeout=0&connect_timeout=1&application_name=zuperior"
        "&keepalives=1&keepalives_interval=5&keepalives_count=3");
}

TEST_CASE("single_named_host: only one name to look up is ours to resolve") {
  auto h = db::single_named_host("postgresql://u:p@db.internal:6432/app?sslmode=require");
  REQUIRE(h);
  CHECK(h->host == "db.internal");
  CHECK(h->port == "6432");
  h = db::single_named_host("postgresql://db.internal/app");
  REQUIRE(h);
  CHECK(h->port == "5432");
  CHECK(db::single_named_host("postgresql://u:p%40x@localhost/app")->host == "localhost");  // '@' in the password
  CHECK_FALSE(db::single_named_host("postgresql://u:p@127.0.0.1:5432/app"));                // literals: no lookup
  CHECK_FALSE(db::single_named_host("postgresql://u:p@[::1]:5432/app"));
  CHECK_FALSE(db::single_named_host("postgresql://u:p@a:5432,b:5432/app"));              // libpq's host list
  CHECK_FALSE(db::single_named_host("postgresql://u:p@%2Fvar%2Frun%2Fpostgresql/app"));  // socket directory
  CHECK_FALSE(db::single_named_host("postgresql:///app?host=/var/run/postgresql"));
  CHECK_FALSE(db::single_named_host("postgresql://db/app?hostaddr=10.0.0.1"));
  CHECK_FALSE(db::single_named_host("not a url"));
}

TEST_CASE("pin_addresses: the name stays, each address gets its own host entry") {
  CHECK(db::pin_addresses("postgresql://u:p@db:6432/app?sslmode=require", {"10.0.0.1"}) ==
        "postgresql://u:p@db:6432/app?sslmode=require&hostaddr=10.0.0.1");
  auto two = db::pin_addresses("postgresql://u:p@localhost/app", {"::1", "127.0.0.1"});
  CHECK(two.rfind("postgresql://u:p@localhost,localhost/app?hostaddr=", 0) == 0);
  CHECK(two.find("127.0.0.1") != std::string::npos);
}

TEST_CASE("resolve_host: literals and lists pass through; a name is pinned to its addresses") {
  const std::string literal = "postgresql://u:p@127.0.0.1:5432/app?connect_timeout=2";
  CHECK(db::resolve_host(literal, std::chrono::milliseconds(1000)) == literal);
  auto pinned = db::resolve_host("postgresql://u:p@localhost:5432/app", std::chrono::milliseconds(5000));
  CHECK(pinned.find("hostaddr=") != std::string::npos);
  CHECK(pinned.find("@localhost:5432") != std::string::npos);
  CHECK_THROWS_WITH(db::resolve_host("postgresql://u:p@no-such-host.invalid/app", std::chrono::milliseconds(5000)),
                    Catch::Contains("cannot resolve no-such-host.invalid"));
}

TEST_CASE("sqlstate_means_unavailable: the server cannot now, versus the statement is wrong") {
  for (const char* st : {"25006", "53100", "53200", "53300", "08006", "08001", "57P01", "57P02", "57P03"})
    CHECK(db::sqlstate_means_unavailable(st));
  for (const char* st : {"23505", "42P01", "42601", "22P02", "40001", "57014", "", "25", "250060"})
    CHECK_FALSE(db::sqlstate_means_unavailable(st));
}

TEST_CASE("password_forms: the password as written, decoded, in a parameter, and cut where libpq cuts it") {
  using v = std::vector<std::string>;
  CHECK(db::password_forms("postgresql://u:hunter2@db/app") == v{"hunter2"});
  CHECK(db::password_forms("postgresql://u:p%40ss@db/app") == v{"p%40ss", "p@ss"});
  CHECK(db::password_forms("postgresql://u@db/app?sslmode=require&password=S3cret%PW") == v{"S3cret%PW"});
  CHECK(db::password_forms("postgresql://u:p@ss/w@db/app") == v{"p", "p@ss/w", "ss", "w"});
  CHECK(db::password_forms("postgresql://u@db/app").empty());
  CHECK(db::password_forms("not a url").empty());
}

TEST_CASE("redact_secrets: the text goes whatever surrounds it; a short one only where it stands alone") {
  CHECK(db::redact_secrets(R"(invalid percent-encoded token: "S3cret%PW")", {"S3cret%PW"}) ==
        R"(invalid percent-encoded token: "<redacted>")");
  CHECK(db::redact_secrets("xx hunter2yy", {"hunter2"}) == "xx <redacted>yy");
  CHECK(db::redact_secrets(R"(could not translate host name "ss@db" to address)", {"ss"}) ==
        R"(could not translate host name "<redacted>@db" to address)");
  CHECK(db::redact_secrets("password authentication failed", {"ss"}) == "password authentication failed");
  CHECK(db::redact_secrets("postgresql://u:other@db/x", {}) == "postgresql://u:***@db/x");
}

TEST_CASE("session::connect: libpq's complaints about the URL never carry its password") {
  // libpq refuses these while parsing the URL (no connection is tried), quoting the bad token.
  for (const std::string url :
       {"postgresql://postgres:S3cret%PW@127.0.0.1:1/db", "postgresql://postgres@127.0.0.1:1/db?password=S3cret%PW",
        "postgresql://postgres:S3cret%00PW@127.0.0.1:1/db"}) {
    INFO(url);
    try {
      db::session::connect(url, std::chrono::milliseconds(1000));
      FAIL("connected");
    } catch (const db::error& e) {
      const std::string what = e.what();
      CHECK(what.find("S3cret") == std::string::npos);
      CHECK(what.find("PW") == std::string::npos);
      CHECK_FALSE(what.empty());
    }
  }
}
