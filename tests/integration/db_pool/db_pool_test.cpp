// The PostgreSQL pool against a real server: results on the caller's executor, prepared statements,
// transactions, pool exhaustion, statement_timeout, recovery after pg_terminate_backend, fast
// failure when the server is unreachable, shutdown.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "api/routes.hpp"
#include "core/url.hpp"
#include "db/pool.hpp"
#include "db/session.hpp"
#include "test_support.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using zuperior::db::param;
using zuperior::db::pool;
using zuperior::db::pool_errc;
using zuperior::db::pool_options;
using zuperior::db::query_result;
using zuperior::db::statement;
using zuperior::testing::run_until;

namespace {

// A database of its own for this process, dropped at exit.
class test_database {
 public:
  test_database() {
    admin_url_ = zuperior::testing::env("ZUPERIOR_TEST_PG_URL");
    if (admin_url_.empty()) return;
    name_ = "pooltest_" + std::to_string(::getpid());
    auto s = zuperior::db::session::connect(admin_url_, 10s);
    s->query("DROP DATABASE IF EXISTS " + name_);
    s->query("CREATE DATABASE " + name_);
    auto q = admin_url_.find('?');
    std::string base = admin_url_.substr(0, q);
    url_ = base.substr(0, base.rfind('/') + 1) + name_;
  }
  ~test_database() {
    if (name_.empty()) return;
    try {
      auto s = zuperior::db::session::connect(admin_url_, 10s);
      s->query("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
    }
  }
  bool available() const { return !url_.empty(); }
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  const std::string& admin_url() const { return admin_url_; }

 private:
  std::string admin_url_, name_, url_;
};

test_database& db() {
  static test_database d;
  return d;
}

pool_options options(std::uint32_t size = 4) {
  pool_options o;
  o.url = db().url();
  o.size = size;
  o.pool_timeout = 2s;
  o.connect_timeout = 5s;
  o.statement_timeout = 5s;
  o.register_metrics = false;
  return o;
}

asio::awaitable<query_result> q(std::shared_ptr<pool> p, std::string sql, std::vector<param> params) {
  co_return co_await p->query(std::move(sql), std::move(params));
}

asio::awaitable<query_result> qp(std::shared_ptr<pool> p, std::string name, std::vector<param> params) {
  co_return co_await p->exec_prepared(std::move(name), std::move(params));
}

asio::awaitable<query_result> qt(std::shared_ptr<pool> p, std::vector<statement> st) {
  co_return co_await p->transaction(std::move(st));
}

asio::awaitable<std::thread::id> resumed_on(std::shared_ptr<pool> p) {
  auto r = co_await p->query("SELECT 1", {});
  (void)r;
  co_return std::this_thread::get_id();
}

asio::awaitable<void> sleeper(std::shared_ptr<pool> p, std::string seconds, query_result* out) {
  std::vector<param> params{std::move(seconds)};
  *out = co_await p->query("SELECT pg_sleep($1::float8)", std::move(params));
}

#define NEED_DB()                                                      \
  if (!db().available()) {                                             \
    FAIL("ZUPERIOR_TEST_PG_URL is not set: run through scripts/test"); \
    return;                                                            \
  }

}  // namespace

TEST_CASE("pool: queries, parameters, NULLs, errors, results on the caller's thread", "[integration][db]") {
  NEED_DB();
  asio::io_context io;
  auto p = pool::create(options());
  auto r = run_until(io, q(p, "SELECT $1::int + 1 AS n, $2::text AS t, NULL::text AS z", {"41", "a'b"}));
  REQUIRE(r);
  REQUIRE(r.value.rows.size() == 1);
  CHECK(r.value.columns == std::vector<std::string>{"n", "t", "z"});
  CHECK(r.value.rows[0][0] == "42");
  CHECK(r.value.rows[0][1] == "a'b");
  CHECK_FALSE(r.value.rows[0][2].has_value());
  r = run_until(io, q(p, "SELECT $1::text IS NULL", {std::nullopt}));
  REQUIRE(r);
  CHECK(r.value.rows[0][0] == "t");

  r = run_until(io, q(p, "SELECT * FROM no_such_table", {}));
  CHECK(r.ec == pool_errc::query_failed);
  CHECK(r.sqlstate == "42P01");
  CHECK(r.message.find("no_such_table") != std::string::npos);
  CHECK_FALSE(zuperior::db::is_unavailable(r.ec));

  CHECK(run_until(io, resumed_on(p)) == std::this_thread::get_id());
  auto st = p->stats();
  CHECK(st.size == 4);
  CHECK(st.open >= 1);
  CHECK(st.queries == 4);
  CHECK(st.errors == 1);
  p->stop();
  r = run_until(io, q(p, "SELECT 1", {}));
  CHECK(r.ec == pool_errc::shutting_down);
}

TEST_CASE("pool: prepared statements and transactions", "[integration][db]") {
  NEED_DB();
  asio::io_context io;
  auto p = pool::create(options(2));
  REQUIRE(run_until(io, q(p, "CREATE TABLE IF NOT EXISTS acct (id int PRIMARY KEY, balance numeric NOT NULL)", {})));
  REQUIRE(run_until(io, q(p, "TRUNCATE acct", {})));
  p->prepare("acct_insert", "INSERT INTO acct (id, balance) VALUES ($1, $2)");
  p->prepare("acct_get", "SELECT balance FROM acct WHERE id = $1");
  // More calls than connections: each connection prepares on first use.
  for (int i = 1; i <= 6; ++i) REQUIRE(run_until(io, qp(p, "acct_insert", {std::to_string(i), "10"})));
  auto r = run_until(io, qp(p, "acct_get", {"3"}));
  REQUIRE(r);
  CHECK(r.value.rows.at(0).at(0) == "10");
  r = run_until(io, qp(p, "never_registered", {}));
  CHECK(r.ec == pool_errc::unknown_statement);

  // All or nothing: the failing second statement rolls back the first.
  r = run_until(io, qt(p, {{"UPDATE acct SET balance = balance - 5 WHERE id = $1", {"1"}},
                           {"acct_insert", {"2", "0"}, true}}));  // duplicate key
  CHECK(r.ec == pool_errc::query_failed);
  CHECK(r.sqlstate == "23505");
  CHECK(r.message.find("acct_pkey") != std::string::npos);  // the constraint is named...
  CHECK(r.message.find("(id)=(2)") == std::string::npos);   // ...the duplicate value is not
  r = run_until(io, qp(p, "acct_get", {"1"}));
  CHECK(r.value.rows.at(0).at(0) == "10");
  r = run_until(io, qt(p, {{"UPDATE acct SET balance = balance - 5 WHERE id = $1", {"1"}},
                           {"UPDATE acct SET balance = balance + 5 WHERE id = $1 RETURNING balance", {"2"}}}));
  REQUIRE(r);
  CHECK(r.value.rows.at(0).at(0) == "15");

  auto moved = [](zuperior::db::tx& t) {
    auto b = t.exec_prepared("acct_get", {"3"});
    if (b.rows.at(0).at(0) != "10") throw zuperior::db::error("unexpected balance");
    t.query("UPDATE acct SET balance = 0 WHERE id = $1", {"3"});
    throw zuperior::db::error("business rule says no", "P0001");
    return zuperior::db::result{};
  };
  r = run_until(io, p->with_transaction(moved));
  CHECK(r.ec == pool_errc::query_failed);
  CHECK(r.sqlstate == "P0001");
  r = run_until(io, qp(p, "acct_get", {"3"}));
  CHECK(r.value.rows.at(0).at(0) == "10");  // rolled back
  // A NOT NULL violation's DETAIL lists the row's values (on a register INSERT, the password
  // hash): the message keeps the error and withholds them.
  r = run_until(io, q(p, "INSERT INTO acct (id, balance) VALUES ($1, NULL)", {"424242"}));
  CHECK(r.sqlstate == "23502");
  CHECK(r.message.find("balance") != std::string::npos);
  CHECK(r.message.find("424242") == std::string::npos);
  CHECK(r.message.find("details withheld") != std::string::npos);
  auto commit = [](zuperior::db::tx& t) { return t.query("UPDATE acct SET balance = 1 WHERE id > $1", {"4"}); };
  r = run_until(io, p->with_transaction(commit));
  REQUIRE(r);
  CHECK(r.value.affected == 2);
  p->stop();
}

TEST_CASE("pool: exhaustion gives pool_timeout, distinct from query errors", "[integration][db]") {
  NEED_DB();
  asio::io_context io;
  auto o = options(2);
  o.pool_timeout = 300ms;
  auto p = pool::create(o);
  query_result a, b;
  asio::co_spawn(io, sleeper(p, "1.5", &a), asio::detached);
  asio::co_spawn(io, sleeper(p, "1.5", &b), asio::detached);
  zuperior::testing::run_for(io, 300ms);  // both connections busy
  CHECK(p->stats().in_use == 2);
  auto r = run_until(io, q(p, "SELECT 1", {}));
  CHECK(r.ec == pool_errc::pool_timeout);
  CHECK(zuperior::db::is_unavailable(r.ec));
  CHECK(p->stats().timeouts == 1);
  zuperior::testing::run_for(io, 1500ms);
  CHECK(a);
  CHECK(b);
  r = run_until(io, q(p, "SELECT 1", {}));  // free again
  CHECK(r);
  CHECK(p->stats().waiting == 0);
  p->stop();
}

TEST_CASE("pool: statement_timeout is set on every connection", "[integration][db]") {
  NEED_DB();
  asio::io_context io;
  auto o = options(2);
  o.statement_timeout = 250ms;
  auto p = pool::create(o);
  for (int i = 0; i < 2; ++i) {  // both connections
    auto r = run_until(io, q(p, "SHOW statement_timeout", {}));
    REQUIRE(r);
    CHECK(r.value.rows.at(0).at(0) == "250ms");
  }
  auto r = run_until(io, q(p, "SELECT pg_sleep(3)", {}));
  CHECK(r.ec == pool_errc::statement_timeout);
  CHECK(r.sqlstate == "57014");
  r = run_until(io, q(p, "SELECT 2", {}));  // the connection is still usable
  CHECK(r);
  p->stop();
}

TEST_CASE("pool: recovers after pg_terminate_backend", "[integration][db]") {
  NEED_DB();
  asio::io_context io;
  auto p = pool::create(options(3));
  // Open all three connections at once.
  query_result a, b, c;
  asio::co_spawn(io, sleeper(p, "0.2", &a), asio::detached);
  asio::co_spawn(io, sleeper(p, "0.2", &b), asio::detached);
  asio::co_spawn(io, sleeper(p, "0.2", &c), asio::detached);
  zuperior::testing::run_for(io, 600ms);
  REQUIRE(p->stats().open == 3);
  auto connects = p->stats().connects;
  {
    auto admin = zuperior::db::session::connect(db().admin_url(), 10s);
    auto killed = admin->query(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        {db().name()});
    CHECK(killed.rows.at(0).at(0) == "3");
  }
  std::this_thread::sleep_for(200ms);
  // Every request succeeds: dead idle connections are noticed and reopened before use.
  for (int i = 0; i < 10; ++i) {
    auto r = run_until(io, q(p, "SELECT 1", {}));
    CHECK(r);
  }
  CHECK(p->stats().connects > connects);
  p->stop();
}

TEST_CASE("pool: an unreachable server fails fast with unavailable", "[integration][db]") {
  asio::io_context io;
  auto o = options(2);
  o.url = "postgresql://nobody@127.0.0.1:" + std::to_string(zuperior::testing::free_port()) + "/none";
  o.retry_interval = 5s;
  auto p = pool::create(o);
  auto r = run_until(io, q(p, "SELECT 1", {}));
  CHECK(r.ec == pool_errc::unavailable);
  CHECK(zuperior::db::is_unavailable(r.ec));
  // Within retry_interval no connection is attempted: the answer is the same, and immediate.
  for (int i = 0; i < 20; ++i) {
    r = run_until(io, q(p, "SELECT 1", {}));
    CHECK(r.ec == pool_errc::unavailable);
  }
  CHECK(p->stats().connects == 0);
  p->stop();
  CHECK_THROWS_AS(pool::create([] {
                    auto x = options(0);
                    x.url = "postgresql://h/d";
                    return x;
                  }()),
                  std::invalid_argument);
}

TEST_CASE("pool: a password libpq cannot parse never appears in the error", "[integration][db]") {
  // libpq quotes what it cannot parse: "invalid percent-encoded token: "S3cret%PW"", which serve
  // logged (db pool: cannot connect) and put in /apis/health's details.
  asio::io_context io;
  for (const std::string url :
       {"postgresql://u:S3cret%PW@127.0.0.1:1/none", "postgresql://u@127.0.0.1:1/none?password=S3cret%PW",
        "postgresql://u:S3cret%00PW@127.0.0.1:1/none"}) {
    INFO(url);
    auto o = options(1);
    o.url = url;
    auto p = pool::create(o);
    auto r = run_until(io, q(p, "SELECT 1", {}));
    CHECK(r.ec == pool_errc::unavailable);
    CHECK_FALSE(r.message.empty());
    CHECK(r.message.find("S3cret") == std::string::npos);
    p->stop();
  }
}

TEST_CASE("pool: the API's prepared ownership check (real-time subscribe:account)", "[integration][db]") {
  NEED_DB();
  asio::io_context io;
  auto p = pool::create(options(2));
  REQUIRE(run_until(io, q(p, R"(CREATE TABLE "User" ("id" text PRIMARY KEY, "status" text))", {})));
  REQUIRE(run_until(
      io, q(p, R"(INSERT INTO "User" VALUES ('alice', 'active'), ('bob', 'active'), ('carol', 'suspended'))", {})));
  REQUIRE(run_until(io, q(p, R"(CREATE TABLE "MT5Account" ("accountId" text, "userId" text))", {})));
  REQUIRE(run_until(
      io, q(p, R"(INSERT INTO "MT5Account" VALUES ('1001', 'alice'), ('2001', 'bob'), ('3001', 'carol'))", {})));
  zuperior::api::prepare_statements(*p);
  CHECK(run_until(io, zuperior::api::owns_account(*p, "alice", "1001")) == std::optional<bool>(true));
  CHECK(run_until(io, zuperior::api::owns_account(*p, "alice", "2001")) == std::optional<bool>(false));
  CHECK(run_until(io, zuperior::api::owns_account(*p, "alice", "1001' OR '1'='1")) == std::optional<bool>(false));
  CHECK(run_until(io, zuperior::api::owns_account(*p, "nobody", "")) == std::optional<bool>(false));
  // A suspended user owns its account but may not follow it.
  CHECK(run_until(io, zuperior::api::owns_account(*p, "carol", "3001")) == std::optional<bool>(false));
  // The periodic re-check: the active owner of each account, in one statement (ids as one JSON
  // parameter, quotes and all); a suspended owner's account and an unknown one are absent.
  auto owners = run_until(io, zuperior::api::active_owners(*p, {"1001", "2001", "3001", "9999", "x\"' OR 1=1"}));
  REQUIRE(owners.has_value());
  CHECK(*owners == std::unordered_map<std::string, std::string>{{"1001", "alice"}, {"2001", "bob"}});
  CHECK(run_until(io, zuperior::api::active_owners(*p, {}))->empty());
  p->stop();
  // A stopped pool cannot say: nullopt (refused as "unavailable"), not "not yours", not an exception.
  CHECK_FALSE(run_until(io, zuperior::api::owns_account(*p, "alice", "1001")).has_value());
  CHECK_FALSE(run_until(io, zuperior::api::active_owners(*p, {"1001"})).has_value());
}
