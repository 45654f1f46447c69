#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "migrate/error.hpp"
#include "migrate/migration.hpp"
#include "migrate/plan.hpp"
#include "migrate/sql.hpp"

using namespace zuperior::migrate;

TEST_CASE("split_statements respects quotes, comments and dollar quotes") {
  auto s = split_statements(
      "-- header\nCREATE TABLE a (x text DEFAULT ';');\n\n/* c; */ INSERT INTO a VALUES (E'\\';');\n"
      "CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql;\nSELECT \"a;b\" FROM a");
  REQUIRE(s.size() == 4);
  CHECK(s[0].text == "CREATE TABLE a (x text DEFAULT ';')");
  CHECK(s[0].line == 2);
  CHECK(s[0].comments == "-- header\n");
  CHECK(s[1].text == "INSERT INTO a VALUES (E'\\';')");
  CHECK(s[1].line == 4);
  CHECK(s[2].text.find("$fn$ SELECT 1; $fn$") != std::string::npos);
  CHECK(s[3].text == "SELECT \"a;b\" FROM a");
  CHECK(s[3].line == 6);
}

TEST_CASE("split_statements rejects unterminated constructs with a line") {
  CHECK_THROWS_WITH(split_statements("SELECT 'abc;\n"), Catch::Contains("unterminated string starting on line 1"));
  CHECK_THROWS_WITH(split_statements("SELECT 1;\n/* open"), Catch::Contains("line 2"));
  CHECK_THROWS_WITH(split_statements("SELECT $x$ body"), Catch::Contains("dollar-quoted"));
  CHECK(split_statements("-- only a comment\n;;\n").empty());
}

TEST_CASE("analyze classifies index builds and their locks") {
  auto i = analyze("CREATE INDEX CONCURRENTLY IF NOT EXISTS \"User_status_idx\" ON \"User\" (\"status\")");
  CHECK(i.what == statement_info::kind::create_index);
  CHECK(i.concurrently);
  CHECK(i.if_not_exists);
  CHECK(i.index_name == "User_status_idx");
  CHECK(i.table == "User");
  CHECK(i.index_columns == std::vector<std::string>{"status"});
  CHECK(i.lock.mode == "SHARE UPDATE EXCLUSIVE");
  auto j = analyze("create unique index users_email on public.users using btree (lower(email), id DESC) where x");
  CHECK(j.unique);
  CHECK(!j.concurrently);
  CHECK(j.table == "users");
  CHECK(j.lock.mode == "SHARE");
  CHECK(j.partial);
  CHECK(j.index_columns.size() == 2);
  auto fk = analyze("ALTER TABLE \"A\" ADD CONSTRAINT x FOREIGN KEY (u) REFERENCES \"User\"(id) NOT VALID");
  CHECK(fk.lock.mode == "SHARE ROW EXCLUSIVE");
  CHECK(fk.referenced_tables == std::vector<std::string>{"User"});
  CHECK(analyze("ALTER TABLE a ADD COLUMN b int").lock.mode == "ACCESS EXCLUSIVE");
  CHECK(analyze("ALTER TABLE a VALIDATE CONSTRAINT c").lock.mode == "SHARE UPDATE EXCLUSIVE");
  CHECK(analyze("DROP INDEX CONCURRENTLY IF EXISTS \"x\"").index_name == "x");
  CHECK(analyze("INSERT INTO \"User\" (id) VALUES ('1')").lock.mode == "ROW EXCLUSIVE");
  CHECK(analyze("SELECT 1").what == statement_info::kind::other);
}

TEST_CASE("parse_file_name and parse_migration") {
  auto n = parse_file_name("0002_user_indexes.sql");
  REQUIRE(n);
  CHECK(n->first == 2);
  CHECK(n->second == "user indexes");
  CHECK(!parse_file_name("users.sql"));
  CHECK(!parse_file_name("0002-users.sql"));
  CHECK(!parse_file_name("0002_users.txt"));
  auto m =
      parse_migration("0003_x.sql", "-- zuperior:no-transaction\n-- zuperior:lock-timeout 2s\nSELECT 1;\nSELECT 2;\n");
  CHECK(!m.transactional);
  CHECK(m.lock_timeout == std::chrono::milliseconds(2000));
  CHECK(m.statements.size() == 2);
  CHECK(m.version_text == "0003");
  CHECK(m.checksum.size() == 64);
  CHECK(parse_migration("0003_x.sql", "SELECT 1;").transactional);
  CHECK_THROWS_WITH(parse_migration("0004_empty.sql", "-- nothing here\n"), Catch::Contains("no SQL statements"));
  // A bad directive is recorded and refused when the file is to run (an applied one is not run).
  CHECK_THAT(parse_migration("0004_x.sql", "-- zuperior:no-transactoin\nSELECT 1;").header_error,
             Catch::Contains("unknown directive"));
  const auto soon = parse_migration("0004_x.sql", "-- zuperior:lock-timeout soon\nSELECT 1;");
  CHECK_THAT(soon.header_error, Catch::Contains("needs a duration"));
  CHECK_THROWS_WITH(check_transaction_mode(soon), Catch::Contains("needs a duration"));
  CHECK_THROWS_WITH(parse_migration("users.sql", "SELECT 1;"), Catch::Contains("has no version"));
}

TEST_CASE("sha256 and prefix checksums") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto a = parse_migration("0001_a.sql", "SELECT 1;\nSELECT 2;");
  auto b = parse_migration("0001_a.sql", "SELECT 1;\nSELECT 3;");
  CHECK(a.checksum != b.checksum);
  CHECK(prefix_checksum(a, 1) == prefix_checksum(b, 1));
  CHECK(prefix_checksum(a, 2) != prefix_checksum(b, 2));
}

TEST_CASE("the shipped migrations load") {
  auto files = load_migrations(ZUPERIOR_MIGRATIONS_DIR);
  REQUIRE(files.size() >= 2);
  CHECK(files[0].version == 1);
  CHECK(files[0].transactional);
  for (std::size_t i = 1; i < files.size(); ++i) {
    CHECK(!files[i].transactional);
    CHECK(files[i].version > files[i - 1].version);
  }
}

TEST_CASE("a '$' right after a name or a number is punctuation, not a dollar quote (it once looped forever)") {
  auto t = tokenize("SELECT 1$$;");
  REQUIRE(t.size() == 5);
  CHECK(t[1].text == "1");
  CHECK(t[2].text == "$");
  CHECK(t[3].text == "$");
  CHECK(split_statements("SELECT 1$$; SELECT 2").size() == 2);
  CHECK(tokenize("SELECT a$tag$b$tag$").size() == 2);  // '$' inside a name is part of it
}

TEST_CASE("tokenize and split_statements end on any input: a bounded fuzz over SQL's quoting characters") {
  static constexpr char alphabet[] = "$$'\"1a_E;-*/ \n\\:";
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::size_t ended = 0;
  for (int n = 0; n < 30000; ++n) {
    std::string sql(next() % 24, ' ');
    for (auto& c : sql) c = alphabet[next() % (sizeof alphabet - 1)];
    try {
      auto tokens = tokenize(sql);
      CHECK(tokens.size() <= sql.size());
      split_statements(sql);
      analyze(sql);
    } catch (const error&) {
      // unterminated quotes and comments are refused: also an end
    }
    ++ended;
  }
  CHECK(ended == 30000);
}

TEST_CASE("a NUL byte in a migration is refused with its line; a UTF-8 byte-order mark is skipped") {
  using namespace std::string_literals;
  CHECK_THROWS_WITH(parse_migration("0009_x.sql", "SELECT 1;\nDELETE FROM t\0 WHERE false;\n"s),
                    Catch::Contains("0009_x.sql:2: a NUL byte"));
  auto m = parse_migration("0010_y.sql", "\xEF\xBB\xBF-- zuperior:no-transaction\nSELECT 1;\n"s);
  CHECK_FALSE(m.transactional);
  REQUIRE(m.statements.size() == 1);
  CHECK(m.statements[0].text == "SELECT 1");
}

TEST_CASE("a SQL-standard function body (BEGIN ATOMIC ... END) is one statement with its inner ';'") {
  auto s = split_statements(
      "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n"
      "  SELECT CASE WHEN x > 0 THEN x ELSE 0 END;\nEND;\nSELECT 'begin atomic;';\n"
      "CREATE PROCEDURE p() LANGUAGE sql begin atomic insert into t values (1); end;\nSELECT 2");
  REQUIRE(s.size() == 4);
  CHECK(s[0].text.substr(0, 17) == "CREATE FUNCTION f");
  CHECK(s[0].text.size() > 80);
  CHECK(s[0].text.back() == 'D');
  CHECK(s[1].text == "SELECT 'begin atomic;'");
  CHECK(s[2].text == "CREATE PROCEDURE p() LANGUAGE sql begin atomic insert into t values (1); end");
  CHECK(s[3].text == "SELECT 2");
  // A plain BEGIN; ... END; (transaction control) still splits.
  CHECK(split_statements("BEGIN; SELECT 1; END;").size() == 3);
}

TEST_CASE("prefix_hasher gives every prefix the checksum histories already hold, one statement at a time") {
  auto m = parse_migration("0001_a.sql", "SELECT 1;\nSELECT 2;");
  // The values recorded by earlier releases: sha256 of each text followed by a NUL.
  CHECK(prefix_checksum(m, 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(prefix_checksum(m, 1) == "85f1ac9983155ca0cd06f4aeddf84049143014cdb01303ec4dcad12093909f5e");
  CHECK(prefix_checksum(m, 2) == "81a4f8a2680435192b6dd5c7be8222997068b22b18bc029f830455242f0758a6");
  prefix_hasher h;
  CHECK(h.hex() == prefix_checksum(m, 0));
  h.add(m.statements[0]);
  CHECK(h.hex() == prefix_checksum(m, 1));
  CHECK(h.hex() == prefix_checksum(m, 1));  // reading it does not end it
  h.add(m.statements[1]);
  CHECK(h.hex() == prefix_checksum(m, 2));
}

TEST_CASE("a file that is not UTF-8 is refused with its line and byte offset; failure text is made UTF-8") {
  // Parsed (an applied file is not run again, and must not stop every command), refused to run.
  const auto latin = parse_migration("0011_latin1.sql", "SELECT 1;\nINSERT INTO t VALUES ('caf\xE9');\n");
  CHECK_THAT(latin.encoding_error, Catch::Contains("0011_latin1.sql:2: not UTF-8 (byte 0xE9 at offset 36)"));
  CHECK_THROWS_WITH(check_transaction_mode(latin), Catch::Contains("not UTF-8 (byte 0xE9 at offset 36)"));
  CHECK(parse_migration("0012_utf8.sql", "SELECT 1;\n").encoding_error.empty());
  CHECK_NOTHROW(parse_migration("0012_utf8.sql", "INSERT INTO t VALUES ('caf\xC3\xA9 \xF0\x9F\x98\x80');\n"));
  CHECK(invalid_utf8_at("\xED\xA0\x80") == std::size_t{0});  // a surrogate
  CHECK(invalid_utf8_at("ab\xC0\xAF") == std::size_t{2});    // an overlong '/'
  CHECK(invalid_utf8_at("ab\xE2\x82") == std::size_t{2});    // cut short
  CHECK_FALSE(invalid_utf8_at("plain \xE2\x82\xAC"));
  CHECK(to_valid_utf8("caf\xE9!") == "caf\xEF\xBF\xBD!");
  CHECK(to_valid_utf8("\xE2\x82\xAC") == "\xE2\x82\xAC");
}

TEST_CASE("analyze gives the lock of TRUNCATE, LOCK, CLUSTER, REFRESH, CREATE TRIGGER, VACUUM FULL, SET STATISTICS") {
  // plan showed "none on tables" for the first five, and the last two swapped.
  auto tr = analyze("TRUNCATE TABLE ONLY a, public.\"B\" RESTART IDENTITY CASCADE");
  CHECK(tr.lock.mode == "ACCESS EXCLUSIVE");
  CHECK(tr.lock.tables == std::vector<std::string>{"a", "B"});
  CHECK(analyze("truncate a").lock.tables == std::vector<std::string>{"a"});
  auto lk = analyze("LOCK TABLE a, b IN SHARE ROW EXCLUSIVE MODE NOWAIT");
  CHECK(lk.lock.mode == "SHARE ROW EXCLUSIVE");
  CHECK(lk.lock.tables == std::vector<std::string>{"a", "b"});
  CHECK(analyze("LOCK a").lock.mode == "ACCESS EXCLUSIVE");
  CHECK(analyze("LOCK TABLE a IN ACCESS SHARE MODE").lock.mode == "ACCESS SHARE");
  auto cl = analyze("CLUSTER VERBOSE \"User\" USING \"User_pkey\"");
  CHECK(cl.lock.mode == "ACCESS EXCLUSIVE");
  CHECK(cl.lock.tables == std::vector<std::string>{"User"});
  CHECK(analyze("CLUSTER").lock.mode == "ACCESS EXCLUSIVE");
  CHECK(analyze("REFRESH MATERIALIZED VIEW mv").lock.mode == "ACCESS EXCLUSIVE");
  auto rc = analyze("REFRESH MATERIALIZED VIEW CONCURRENTLY s.mv WITH DATA");
  CHECK(rc.lock.mode == "EXCLUSIVE");
  CHECK(rc.table == "mv");
  CHECK(rc.table_schema == "s");
  auto tg = analyze(
      "CREATE OR REPLACE TRIGGER t BEFORE INSERT OR UPDATE OF x ON audit.log FOR EACH ROW EXECUTE "
      "FUNCTION f()");
  CHECK(tg.lock.mode == "SHARE ROW EXCLUSIVE");
  CHECK(tg.lock.tables == std::vector<std::string>{"log"});
  CHECK(analyze("CREATE CONSTRAINT TRIGGER t AFTER INSERT ON a FOR EACH ROW EXECUTE FUNCTION f()").lock.mode ==
        "SHARE ROW EXCLUSIVE");
  CHECK(analyze("VACUUM FULL a").lock.mode == "ACCESS EXCLUSIVE");
  CHECK(analyze("VACUUM (FULL, ANALYZE) a").lock.mode == "ACCESS EXCLUSIVE");
  CHECK(analyze("VACUUM (FULL false) a").lock.mode == "SHARE UPDATE EXCLUSIVE");
  CHECK(analyze("VACUUM ANALYZE a").lock.mode == "SHARE UPDATE EXCLUSIVE");
  CHECK(analyze("VACUUM a").lock.tables == std::vector<std::string>{"a"});
  CHECK(analyze("ALTER TABLE a ALTER COLUMN b SET STATISTICS 500").lock.mode == "SHARE UPDATE EXCLUSIVE");
  CHECK(analyze("ALTER TABLE a ALTER b SET (n_distinct = 100)").lock.mode == "SHARE UPDATE EXCLUSIVE");
  CHECK(analyze("ALTER TABLE a ALTER COLUMN b SET STATISTICS 500, ADD COLUMN c int").lock.mode == "ACCESS EXCLUSIVE");
  CHECK(analyze("ALTER TABLE a ALTER COLUMN b SET DEFAULT 1").lock.mode == "ACCESS EXCLUSIVE");
  CHECK(analyze("ALTER TABLE a ENABLE TRIGGER t").lock.mode == "SHARE ROW EXCLUSIVE");
  CHECK(analyze("ALTER TABLE a ADD COLUMN u text REFERENCES b(id)").lock.mode ==
        "ACCESS EXCLUSIVE; SHARE ROW EXCLUSIVE on the referenced table");
}

TEST_CASE("header directives after a leading block comment are read; an unknown one is an error") {
  auto m = parse_migration("0001_a.sql",
                           "/* Copyright 2026\n * licence text\n */\n-- zuperior:no-transaction\n"
                           "-- zuperior:lock-timeout 2s\nCREATE INDEX CONCURRENTLY a ON b (c);\n");
  CHECK(!m.transactional);
  CHECK(m.lock_timeout == std::chrono::milliseconds(2000));
  CHECK_THAT(parse_migration("0001_a.sql", "/* licence /* nested */ */\n\n-- zuperior:bogus\nSELECT 1;").header_error,
             Catch::Contains("0001_a.sql:3: unknown directive zuperior:bogus"));
  // After the first statement a comment is the statement's, not the header's.
  CHECK(parse_migration("0001_a.sql", "SELECT 1;\n-- zuperior:no-transaction\nSELECT 2;").transactional);
}

TEST_CASE("files that look like migrations but are skipped are named") {
  namespace fs = std::filesystem;
  auto dir = fs::temp_directory_path() / ("zuperior_unit_migrate_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* name : {"0001_a.sql", "0002_b.SQL", "0003_c.sql.txt", "README.md", "notes.sql.txt"}) {
    std::ofstream(dir / name) << "SELECT 1;\n";
  }
  std::vector<std::string> warnings;
  auto files = load_migrations(dir.string(), &warnings);
  fs::remove_all(dir);
  CHECK(files.size() == 1);
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0].find("0002_b.SQL") != std::string::npos);
  CHECK(warnings[1].find("0003_c.sql.txt") != std::string::npos);
}

TEST_CASE("REINDEX with an option list: CONCURRENTLY after it, or inside it (PostgreSQL 14+)") {
  // Skipping only the "(" read both as a plain REINDEX: ACCESS EXCLUSIVE shown, lock_timeout
  // applied, and the leftovers of an earlier failed run not dropped.
  for (const char* sql : {"REINDEX (VERBOSE) INDEX CONCURRENTLY user_email_idx",
                          "REINDEX (CONCURRENTLY) TABLE \"User\"", "REINDEX (VERBOSE, CONCURRENTLY true) TABLE t"}) {
    INFO(sql);
    auto info = analyze(sql);
    CHECK(info.concurrently);
    CHECK(info.lock.mode == "SHARE UPDATE EXCLUSIVE");
  }
  auto plain = analyze("REINDEX (VERBOSE) TABLE t");
  CHECK_FALSE(plain.concurrently);
  CHECK(plain.lock.mode == "ACCESS EXCLUSIVE");
  CHECK(plain.table == "t");
}

TEST_CASE("what cannot run in a transaction: REINDEX of a schema, a database or the system catalogs") {
  auto why = [](std::string_view sql) { return needs_no_transaction(tokenize(sql), analyze(sql)); };
  CHECK(why("REINDEX SCHEMA app") == "REINDEX SCHEMA");  // lint passed it, and up failed at run time
  CHECK(why("REINDEX DATABASE app") == "REINDEX DATABASE");
  CHECK(why("REINDEX (VERBOSE) SYSTEM app") == "REINDEX SYSTEM");
  CHECK(why("REINDEX TABLE t").empty());
  CHECK(why("REINDEX INDEX CONCURRENTLY i") == "CONCURRENTLY");
}
