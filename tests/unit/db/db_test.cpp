#include <catch2/catch.hpp>

#include "db/conninfo.hpp"
#include "db/pool.hpp"

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
