#include <catch2/catch.hpp>

#include <algorithm>

#include "migrate/error.hpp"
#include "migrate/lint.hpp"
#include "migrate/migration.hpp"
#include "migrate/plan.hpp"

using namespace zuperior::migrate;

namespace {

const char* base_sql =
    "CREATE TABLE \"User\" (\"id\" TEXT NOT NULL, \"email\" TEXT NOT NULL, \"status\" TEXT,\n"
    "  CONSTRAINT \"User_pkey\" PRIMARY KEY (\"id\"));\n"
    "CREATE UNIQUE INDEX \"User_email_key\" ON \"User\"(\"email\");\n"
    "CREATE INDEX \"User_status_idx\" ON \"User\"(\"status\");\n";

std::vector<finding> lint_one(const std::string& sql, bool no_tx = false,
                              std::chrono::milliseconds lt = std::chrono::milliseconds(5000)) {
  std::vector<migration> files{parse_migration("0001_base.sql", base_sql),
                               parse_migration("0002_x.sql", (no_tx ? "-- zuperior:no-transaction\n" : "") + sql)};
  lint_options o;
  o.lock_timeout = lt;
  return lint(files, o);
}

history_entry entry(int version, std::string checksum, std::string mode, bool success) {
  history_entry h;
  h.version = version;
  h.checksum = std::move(checksum);
  h.mode = std::move(mode);
  h.success = success;
  return h;
}

bool has(const std::vector<finding>& f, const std::string& rule) {
  return std::any_of(f.begin(), f.end(), [&](const finding& x) { return x.rule == rule; });
}

}  // namespace

TEST_CASE("lint passes a base schema that creates its own tables") {
  CHECK(lint({parse_migration("0001_base.sql", base_sql)}).empty());
}

TEST_CASE("lint finds each dangerous pattern, with file, line and a safer form") {
  auto f = lint_one("SELECT 1;\nCREATE INDEX \"User_x_idx\" ON \"User\" (\"x\");");
  REQUIRE(has(f, "index-not-concurrent"));
  CHECK(f[0].file == "0002_x.sql");
  CHECK(f[0].line == 2);
  CHECK(f[0].level == severity::error);
  CHECK(f[0].safer.find("CONCURRENTLY") != std::string::npos);
  CHECK(has(lint_one("CREATE INDEX CONCURRENTLY \"a\" ON \"User\" (\"x\");"), "concurrently-in-transaction"));
  CHECK(!has(lint_one("CREATE INDEX CONCURRENTLY \"a\" ON \"User\" (\"x\");", true), "concurrently-in-transaction"));
  CHECK(has(lint_one("ALTER TABLE \"User\" ADD COLUMN \"token\" uuid DEFAULT gen_random_uuid();"), "volatile-default"));
  CHECK(!has(lint_one("ALTER TABLE \"User\" ADD COLUMN \"n\" int DEFAULT 0;"), "volatile-default"));
  CHECK(has(lint_one("ALTER TABLE \"User\" ALTER COLUMN \"status\" SET NOT NULL;"), "not-null"));
  CHECK(has(lint_one("ALTER TABLE \"User\" ADD COLUMN \"n\" int NOT NULL;"), "not-null"));
  CHECK(has(lint_one("ALTER TABLE \"User\" ADD CONSTRAINT c CHECK (\"status\" <> '');"), "constraint-not-valid"));
  CHECK(!has(lint_one("ALTER TABLE \"User\" ADD CONSTRAINT c CHECK (\"status\" <> '') NOT VALID;"),
             "constraint-not-valid"));
  CHECK(has(lint_one("ALTER TABLE \"User\" ADD CONSTRAINT f FOREIGN KEY (\"id\") REFERENCES \"User\"(\"id\");"),
            "constraint-not-valid"));
  CHECK(has(lint_one("ALTER TABLE \"User\" ALTER COLUMN \"status\" TYPE varchar(10);"), "column-type-change"));
  CHECK(has(lint_one("ALTER TABLE \"User\" RENAME COLUMN \"status\" TO \"state\";"), "rename"));
  CHECK(has(lint_one("ALTER TABLE \"User\" DROP COLUMN \"status\";"), "drop"));
  CHECK(has(lint_one("DROP TABLE \"User\";"), "drop"));
  CHECK(has(lint_one("SET lock_timeout = 0;"), "missing-timeout"));
  CHECK(has(lint_one("ALTER TABLE \"User\" ADD COLUMN \"n\" int;", false, std::chrono::milliseconds(0)),
            "missing-timeout"));
  CHECK(!has(lint_one("ALTER TABLE \"User\" ADD COLUMN \"n\" int;"), "missing-timeout"));
}

TEST_CASE("lint reports indexes that a unique index already provides") {
  auto f = lint_one("CREATE INDEX CONCURRENTLY \"User_email_idx\" ON \"User\" (\"email\");", true);
  REQUIRE(has(f, "redundant-index"));
  CHECK(f[0].message.find("User_email_key") != std::string::npos);
  CHECK(has(lint_one("CREATE INDEX CONCURRENTLY \"User_id_idx\" ON \"User\" (\"id\");", true), "redundant-index"));
  CHECK(!has(lint_one("CREATE INDEX CONCURRENTLY \"User_e2\" ON \"User\" (\"email\", \"status\");", true),
             "redundant-index"));
}

TEST_CASE("lint-ignore silences one rule") {
  CHECK(!has(lint_one("-- zuperior:lint-ignore drop\nDROP TABLE \"User\";"), "drop"));
  CHECK(has(lint_one("-- zuperior:lint-ignore rename\nDROP TABLE \"User\";"), "drop"));
}

TEST_CASE("the project's own migrations lint clean") {
  auto files = load_migrations(ZUPERIOR_MIGRATIONS_DIR);
  auto f = lint(files);
  for (const auto& x : f) UNSCOPED_INFO(x.file << ":" << x.line << " " << x.rule << " " << x.message);
  CHECK(f.empty());
}

TEST_CASE("status joins files and history") {
  std::vector<migration> files{parse_migration("0001_a.sql", "SELECT 1;"),
                               parse_migration("0002_b.sql", "-- zuperior:no-transaction\nSELECT 1;\nSELECT 2;"),
                               parse_migration("0003_c.sql", "SELECT 3;")};
  auto h1 = entry(1, files[0].checksum, "transaction", true);
  auto h2 = entry(2, files[1].checksum, "no-transaction", false);
  h2.statements_done = 1;
  h2.statements_total = 2;
  h2.done_checksum = prefix_checksum(files[1], 1);
  h2.error = "boom";
  auto st = compute_status(files, {h1, h2});
  REQUIRE(st.size() == 3);
  CHECK(st[0].st == state::applied);
  CHECK(st[1].st == state::failed);
  CHECK(st[2].st == state::pending);
  auto steps = plan_up(st);
  REQUIRE(steps.size() == 2);
  CHECK(steps[0].file->version == 2);
  CHECK(steps[0].first_statement == 1);
  CHECK(plan_up(st, 2).size() == 1);

  h1.checksum = "edited";
  auto changed = compute_status(files, {h1});
  CHECK(changed[0].st == state::changed);
  CHECK_THROWS_WITH(plan_up(changed), Catch::Contains("changed on disk"));

  // A resumed file whose applied part was edited is refused.
  auto edited = parse_migration("0002_b.sql", "-- zuperior:no-transaction\nSELECT 9;\nSELECT 2;");
  std::vector<migration> files2{files[0], edited};
  h1.checksum = files[0].checksum;
  CHECK_THROWS_WITH(plan_up(compute_status(files2, {h1, h2})), Catch::Contains("refusing to resume"));
  // Its no-transaction header removed since: it would run from statement 1, in one transaction.
  auto retyped = parse_migration("0002_b.sql", "SELECT 1;\nSELECT 2;");
  std::vector<migration> files3{files[0], retyped};
  CHECK_THROWS_WITH(plan_up(compute_status(files3, {h1, h2})), Catch::Contains("would run them again"));

  auto gone = entry(7, "x", "transaction", true);
  CHECK(compute_status(files, {gone}).back().st == state::missing_file);
}

TEST_CASE("CONCURRENTLY in a transactional file is refused before anything runs") {
  auto m = parse_migration("0005_idx.sql", "SELECT 1;\nCREATE INDEX CONCURRENTLY a ON b (c);");
  CHECK_THROWS_WITH(check_transaction_mode(m), Catch::Contains("0005_idx.sql:2") && Catch::Contains("no-transaction"));
  CHECK_NOTHROW(check_transaction_mode(
      parse_migration("0005_idx.sql", "-- zuperior:no-transaction\nCREATE INDEX CONCURRENTLY a ON b (c);")));
}

TEST_CASE("a transactional file's own BEGIN/COMMIT is refused before anything runs, and linted as an error") {
  auto m = parse_migration(
      "0006_tx.sql", "BEGIN;\nALTER TABLE \"User\" ADD COLUMN phone text;\nCOMMIT;\nUPDATE \"User\" SET phone = '';");
  CHECK_THROWS_WITH(check_transaction_mode(m), Catch::Contains("0006_tx.sql:1: BEGIN in a file that runs in one"));
  auto found = lint({m}, {});
  std::vector<int> lines;
  for (const auto& f : found)
    if (f.rule == "transaction-control") lines.push_back(f.line);
  CHECK(lines == std::vector<int>{1, 3});
  for (const char* stmt : {"commit", "END", "ABORT", "rollback work", "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                           "COMMIT PREPARED 'x'"})
    CHECK_THROWS(check_transaction_mode(parse_migration("0007_x.sql", std::string(stmt) + ";")));
  // Savepoints stay inside the transaction; a no-transaction file manages its own.
  CHECK_NOTHROW(check_transaction_mode(
      parse_migration("0008_x.sql", "SAVEPOINT a;\nSELECT 1;\nROLLBACK TO SAVEPOINT a;\nRELEASE a;")));
  CHECK_NOTHROW(check_transaction_mode(parse_migration("0009_x.sql", "-- zuperior:no-transaction\nBEGIN;\nCOMMIT;")));
}

TEST_CASE("a pending file below an applied version is marked, and up refuses it unless told") {
  std::vector<migration> files{parse_migration("0001_a.sql", "SELECT 1;"),
                               parse_migration("0002_late.sql", "SELECT 2;"),
                               parse_migration("0003_c.sql", "SELECT 3;"), parse_migration("0004_d.sql", "SELECT 4;")};
  auto st = compute_status(
      files, {entry(1, files[0].checksum, "transaction", true), entry(3, files[2].checksum, "transaction", true)});
  REQUIRE(st.size() == 4);
  CHECK(st[1].st == state::pending);
  CHECK(st[1].out_of_order);
  CHECK(st[1].note == "out of order: version 3 is applied already");
  CHECK_FALSE(st[3].out_of_order);
  CHECK_THROWS_WITH(plan_up(st), Catch::Contains("--out-of-order") && Catch::Contains("0002_late.sql"));
  auto steps = plan_up(st, std::nullopt, true);
  REQUIRE(steps.size() == 2);
  CHECK(steps[0].file->version == 2);
  CHECK(plan_up(st, 1).empty());  // --to below it: not in this run
  // A failed entry below the newest is a retry, not out of order.
  auto failed = compute_status(
      files, {entry(1, files[0].checksum, "transaction", true), entry(2, files[1].checksum, "transaction", false),
              entry(3, files[2].checksum, "transaction", true)});
  CHECK_FALSE(failed[1].out_of_order);
  CHECK(plan_up(failed).size() == 2);
}

TEST_CASE("lint finds table rewrites, TRUNCATE, a blocking REFRESH, and what cannot run in the file's transaction") {
  CHECK(
      has(lint_one("ALTER TABLE \"User\" ADD COLUMN \"n\" bigint GENERATED ALWAYS AS IDENTITY;"), "volatile-default"));
  CHECK(
      has(lint_one("ALTER TABLE \"User\" ADD COLUMN \"n\" int GENERATED BY DEFAULT AS IDENTITY;"), "volatile-default"));
  CHECK(has(lint_one("ALTER TABLE \"User\" ADD COLUMN \"l\" int GENERATED ALWAYS AS (length(\"email\")) STORED;"),
            "volatile-default"));
  CHECK(has(lint_one("ALTER TABLE \"User\" SET UNLOGGED;"), "table-rewrite"));
  CHECK(has(lint_one("ALTER TABLE \"User\" SET LOGGED;"), "table-rewrite"));
  CHECK(!has(lint_one("ALTER TABLE \"User\" SET (fillfactor = 90);"), "table-rewrite"));
  CHECK(has(lint_one("VACUUM FULL \"User\";", true), "table-rewrite"));
  CHECK(!has(lint_one("VACUUM \"User\";", true), "table-rewrite"));
  CHECK(has(lint_one("CLUSTER \"User\" USING \"User_pkey\";"), "table-rewrite"));
  CHECK(has(lint_one("TRUNCATE \"User\";"), "truncate"));
  CHECK(!has(lint_one("CREATE TABLE t (x int);\nTRUNCATE t;"), "truncate"));
  CHECK(has(lint_one("REFRESH MATERIALIZED VIEW mv;"), "refresh-not-concurrent"));
  CHECK(!has(lint_one("REFRESH MATERIALIZED VIEW CONCURRENTLY mv;"), "refresh-not-concurrent"));
  CHECK(!has(lint_one("CREATE MATERIALIZED VIEW mv AS SELECT 1 WITH NO DATA;\nREFRESH MATERIALIZED VIEW mv;"),
             "refresh-not-concurrent"));
  // What `up` refuses in a transactional file, lint says, instead of passing it.
  CHECK(has(lint_one("VACUUM \"User\";"), "not-in-transaction"));
  CHECK(!has(lint_one("VACUUM \"User\";", true), "not-in-transaction"));
  CHECK(has(lint_one("CREATE DATABASE x;"), "not-in-transaction"));
  CHECK(has(lint_one("ALTER TABLE p DETACH PARTITION c CONCURRENTLY;"), "concurrently-in-transaction"));
  for (const char* sql : {"VACUUM \"User\";", "ALTER TABLE p DETACH PARTITION c CONCURRENTLY;"}) {
    auto f = lint_one(sql);
    bool refused = false;
    try {
      check_transaction_mode(parse_migration("0002_x.sql", sql));
    } catch (const error&) {
      refused = true;
    }
    CHECK(refused);
    CHECK(std::any_of(f.begin(), f.end(), [](const finding& x) { return x.level == severity::error; }));
  }
  // REFRESH … CONCURRENTLY runs in a transaction: neither refused nor reported.
  CHECK_NOTHROW(check_transaction_mode(parse_migration("0002_x.sql", "REFRESH MATERIALIZED VIEW CONCURRENTLY mv;")));
  CHECK(!has(lint_one("REFRESH MATERIALIZED VIEW CONCURRENTLY mv;"), "concurrently-in-transaction"));
}

TEST_CASE("an entry another up is applying right now is running, not failed") {
  std::vector<migration> files{parse_migration("0001_a.sql", "-- zuperior:no-transaction\nSELECT 1;"),
                               parse_migration("0002_b.sql", "-- zuperior:no-transaction\nSELECT 1;")};
  auto started = entry(1, files[0].checksum, "no-transaction", false);
  started.statements_total = 1;
  auto failed = entry(2, files[1].checksum, "no-transaction", false);
  failed.error = "boom";
  auto st = compute_status(files, {started, failed});
  CHECK(st[0].st == state::failed);
  mark_running(st, 4242);
  CHECK(st[0].st == state::running);
  CHECK(st[0].note.find("running (pid 4242)") != std::string::npos);
  CHECK(to_string(st[0].st) == "running");
  CHECK(st[1].st == state::failed);  // its failure is recorded: not the one running
}
