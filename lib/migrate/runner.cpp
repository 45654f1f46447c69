// The database side of `migrate`. Two connections: `lock_` only holds the session-level advisory
// lock and stays idle (never inside a transaction, so CREATE INDEX CONCURRENTLY, which waits for
// older transactions, never waits for it), and `work_` runs the migrations.
#include "migrate/runner.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <thread>

#include "core/strings.hpp"
#include "db/session.hpp"
#include "migrate/error.hpp"

namespace zuperior::migrate {

namespace {

using clock_type = std::chrono::steady_clock;

std::string quote_ident(std::string_view s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

// An index named `name` in `schema` (the schema its CREATE INDEX names for the table; "" for the
// search path's): its name as regclass text (schema-qualified when outside the search path) and
// "true"/"false" for valid; nullopt when there is none. An index lives in its table's schema, so
// by the search path alone, one on audit.log was never found: its build was recorded as failed
// ("missing after the build") on every run, and an INVALID one was never dropped before a rebuild.
std::optional<std::pair<std::string, std::string>> find_index(db::session& s, const std::string& name,
                                                              const std::string& schema) {
  auto r = s.query(
      "SELECT c.oid::regclass::text, i.indisvalid::text FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
      "WHERE c.relname = $1 AND c.relkind = 'i' AND CASE WHEN $2 = '' THEN pg_table_is_visible(c.oid) "
      "ELSE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $2) END",
      {name, schema});
  if (r.rows.empty() || !r.rows[0][0] || !r.rows[0][1]) return std::nullopt;
  return std::make_pair(*r.rows[0][0], *r.rows[0][1]);
}

long long ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<milliseconds>(clock_type::now() - t).count();
}

// The server's message without libpq's "ERROR:  " prefix, first line only.
std::string first_line(const std::string& msg) {
  std::string m = msg;
  for (const char* p : {"ERROR:  ", "FATAL:  "})
    if (m.rfind(p, 0) == 0) m = m.substr(std::string_view(p).size());
  auto nl = m.find('\n');
  return nl == std::string::npos ? m : m.substr(0, nl);
}

std::string indent(const std::string& text, std::string_view prefix = "    ") {
  std::string out;
  for (auto& l : core::split(text, '\n'))
    if (!core::trim(l).empty()) out += std::string(prefix) + l + "\n";
  return out;
}

std::string who() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const char* user = std::getenv("USER");
  return fmt::format("{}@{} pid {}", user && *user ? user : "?", host, getpid());
}

std::int64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<std::int64_t>(h);
}

// Column names of a CREATE TABLE statement (constraints skipped).
std::vector<std::string> create_table_columns(std::string_view sql) {
  auto t = tokenize(sql);
  std::vector<std::string> cols;
  std::size_t i = 0;
  while (i < t.size() && !(t[i].type == token::kind::punct && t[i].text == "(")) ++i;
  int depth = 0;
  bool item_start = true;
  for (; i < t.size(); ++i) {
    const auto& k = t[i];
    if (k.type == token::kind::punct && k.text == "(") {
      if (++depth == 1) {
        item_start = true;
        continue;
      }
    }
    if (k.type == token::kind::punct && k.text == ")" && --depth == 0) break;
    if (depth == 1 && k.type == token::kind::punct && k.text == ",") {
      item_start = true;
      continue;
    }
    if (depth == 1 && item_start) {
      item_start = false;
      if (k.type == token::kind::word &&
          (k.text == "CONSTRAINT" || k.text == "PRIMARY" || k.text == "UNIQUE" || k.text == "FOREIGN" ||
           k.text == "CHECK" || k.text == "EXCLUDE" || k.text == "LIKE"))
        continue;
      cols.push_back(k.type == token::kind::word ? core::to_lower(k.text) : k.text);
    }
  }
  return cols;
}

// What an ALTER TABLE adds that baseline can look for: its columns, and its named constraints.
struct alter_additions {
  std::vector<std::string> columns;
  std::vector<std::string> constraints;
};

alter_additions alter_table_additions(std::string_view sql) {
  alter_additions out;
  auto name = [](const token& k) { return k.type == token::kind::word ? core::to_lower(k.text) : k.text; };
  for (const auto& a : alter_table_actions(tokenize(sql))) {
    auto is = [&a](std::size_t i, std::string_view w) {
      return i < a.size() && a[i].type == token::kind::word && a[i].text == w;
    };
    if (!is(0, "ADD")) continue;
    std::size_t j = 1;
    if (is(j, "CONSTRAINT")) {
      if (j + 1 < a.size()) out.constraints.push_back(name(a[j + 1]));
      continue;
    }
    if (is(j, "FOREIGN") || is(j, "CHECK") || is(j, "PRIMARY") || is(j, "UNIQUE") || is(j, "EXCLUDE")) continue;
    if (is(j, "COLUMN")) ++j;
    if (is(j, "IF") && is(j + 1, "NOT") && is(j + 2, "EXISTS")) j += 3;
    if (j < a.size() && (a[j].type == token::kind::word || a[j].type == token::kind::quoted_ident))
      out.columns.push_back(name(a[j]));
  }
  return out;
}

// One thing baseline expects the database to hold after the files it records, and which file
// made it. A later file of the same baseline that renames or drops it changes or removes it: a
// table created by 0001 and renamed by 0005 is not there under its first name.
struct expectation {
  enum class kind { table, column, constraint, index };
  kind what = kind::table;
  std::string schema;  // as the file names it; "" for the search path's
  std::string table;
  std::string name;  // the column, constraint or index
  std::string where;
};

// Unqualified matches only unqualified: "DROP TABLE audit.log" does not take away what "CREATE TABLE
// log" made (a baseline then passed over a database without public.log).
bool same_schema(const std::string& a, const std::string& b) { return a == b; }

// Adds what statement `s` creates to `out`, and applies what it renames or drops.
void expect(std::vector<expectation>& out, const statement& s, const std::string& where) {
  using k = expectation::kind;
  auto info = analyze(s.text);
  auto on = [&](const expectation& e, const std::string& schema, const std::string& table) {
    return e.what != k::index && e.table == table && same_schema(e.schema, schema);
  };
  auto word = [](const std::vector<token>& a, std::size_t i, std::string_view w) {
    return i < a.size() && a[i].type == token::kind::word && a[i].text == w;
  };
  if (info.what == statement_info::kind::create_table) {
    out.push_back({k::table, info.table_schema, info.table, "", where});
    for (const auto& c : create_table_columns(s.text))
      out.push_back({k::column, info.table_schema, info.table, c, where});
  } else if (info.what == statement_info::kind::create_index && !info.index_name.empty()) {
    out.push_back({k::index, info.table_schema, info.table, info.index_name, where});
  } else if (info.what == statement_info::kind::drop_index) {
    std::erase_if(out, [&](const expectation& e) { return e.what == k::index && e.name == info.index_name; });
  } else if (info.what == statement_info::kind::drop_table) {
    auto t = tokenize(s.text);
    std::size_t i = 2;
    if (word(t, i, "IF")) i += 2;
    for (auto& item : split_commas(t, i, t.size())) {
      std::size_t j = 0;
      std::string schema;
      auto table = fold_name(item, j, &schema);
      // Its indexes go with it.
      std::erase_if(out, [&](const expectation& e) { return e.table == table && same_schema(e.schema, schema); });
    }
  } else if (info.what == statement_info::kind::alter_table && !info.table.empty()) {
    auto add = alter_table_additions(s.text);
    if (!add.columns.empty() || !add.constraints.empty())
      out.push_back({k::table, info.table_schema, info.table, "", where});
    for (const auto& c : add.columns) out.push_back({k::column, info.table_schema, info.table, c, where});
    for (const auto& c : add.constraints) out.push_back({k::constraint, info.table_schema, info.table, c, where});
    for (const auto& a : alter_table_actions(tokenize(s.text))) {
      std::size_t i = 1;
      auto name_at = [&a](std::size_t j) {
        return j < a.size() ? (a[j].type == token::kind::word ? core::to_lower(a[j].text) : a[j].text) : "";
      };
      if (word(a, 0, "RENAME") && word(a, 1, "TO")) {
        for (auto& e : out)
          if (on(e, info.table_schema, info.table)) e.table = name_at(2);
      } else if (word(a, 0, "SET") && word(a, 1, "SCHEMA")) {
        for (auto& e : out)
          if (on(e, info.table_schema, info.table)) e.schema = name_at(2);
      } else if (word(a, 0, "RENAME")) {
        const bool constraint = word(a, 1, "CONSTRAINT");
        if (word(a, 1, "COLUMN") || constraint) ++i;
        if (!word(a, i + 1, "TO")) continue;
        for (auto& e : out)
          if (on(e, info.table_schema, info.table) && e.name == name_at(i) &&
              e.what == (constraint ? k::constraint : k::column))
            e.name = name_at(i + 2);
      } else if (word(a, 0, "DROP")) {
        const bool constraint = word(a, 1, "CONSTRAINT");
        if (word(a, 1, "COLUMN") || constraint) ++i;
        if (word(a, i, "IF")) i += 2;
        std::erase_if(out, [&](const expectation& e) {
          return on(e, info.table_schema, info.table) && e.name == name_at(i) &&
                 e.what == (constraint ? k::constraint : k::column);
        });
      }
    }
  }
}
}  // namespace

std::string quote_table_name(std::string_view name, std::string* quoted_schema) {
  auto parts = core::split(name, '.');
  auto ok = [](const std::string& p) {
    return !p.empty() && std::all_of(p.begin(), p.end(),
                                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
  };
  if (parts.empty() || parts.size() > 2 || !std::all_of(parts.begin(), parts.end(), ok))
    throw error(
        fmt::format("database.history_table {} must be table or schema.table (letters, digits, _)", core::quote(name)),
        "", core::exit_usage);
  if (quoted_schema) *quoted_schema = parts.size() == 2 ? quote_ident(parts[0]) : "";
  return parts.size() == 2 ? quote_ident(parts[0]) + "." + quote_ident(parts[1]) : quote_ident(parts[0]);
}

runner::runner(runner_options options) : o_(std::move(options)) {
  table_ = quote_table_name(o_.history_table, &schema_);  // a bad name is refused before connecting
  connect_all();
  qualify_history_table();
}

runner::~runner() {
  try {
    release_lock();
  } catch (...) {
  }
}

void runner::connect_all() {
  if (o_.database_url.empty())
    throw error("no database: set DATABASE_URL or pass --database-url", "", core::exit_usage);
  auto deadline = clock_type::now() + o_.wait_for_db;
  for (int attempt = 1;; ++attempt) {
    try {
      work_ = db::session::connect(o_.database_url, o_.connect_timeout);
      lock_ = db::session::connect(o_.database_url, o_.connect_timeout);
      break;
    } catch (const db::error& e) {
      if (cancelled()) throw error("cancelled by a signal while waiting for the database");
      if (clock_type::now() >= deadline)
        throw error(fmt::format("cannot connect to the database: {}", first_line(e.what())),
                    attempt > 1 ? fmt::format("  gave up after {} attempts (--wait-for-db)\n", attempt) : "",
                    core::exit_usage);
      if (o_.progress && attempt == 1) o_.progress("waiting for the database: " + first_line(e.what()));
      std::this_thread::sleep_for(std::min<milliseconds>(
          milliseconds(1000), std::chrono::duration_cast<milliseconds>(deadline - clock_type::now())));
    }
  }
  apply_session_settings();
  work_pid_ = work_->backend_pid();
  // The lock's connection names the one that runs the statements by its pid (`status` shows that
  // one as running): matched by name, a long host in who() cut both names at 63 bytes alike.
  lock_->query("SELECT set_config('application_name', $1, false)",
               {fmt::format("zuperior migrate (pid {}) lock", work_pid_)});
  // The lock's connection is idle for the whole run: a server's idle_session_timeout (PostgreSQL
  // 14+) would end it, and the lock with it, during a long index build.
  lock_->query(
      "SELECT set_config('idle_session_timeout', '0', false) WHERE current_setting('server_version_num')::int >= "
      "140000");
}

void runner::qualify_history_table() {
  auto parts = core::split(o_.history_table, '.');
  std::string schema = parts.size() == 2 ? parts[0] : "";
  const std::string& table = parts.back();
  // One table, one name: the lock key came from the name as spelled, so "zuperior_schema_history"
  // and "public.zuperior_schema_history" took two locks on one table and two runs applied at once;
  // and a file's SET search_path sent the runner's unqualified history writes elsewhere. An
  // unqualified name is the table the search path finds (a history written before), else where
  // CREATE TABLE would put it.
  if (schema.empty()) {
    auto found = work_->scalar(
        "SELECT coalesce((SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass($1)), current_schema())",
        {quote_ident(table)});
    if (!found)
      throw error(fmt::format("no schema for the history table {}: no schema of the search_path exists; name one "
                              "(--history-table schema.{})",
                              table, table),
                  "", core::exit_usage);
    schema = *found;
  }
  table_ = quote_ident(schema) + "." + quote_ident(table);
  qualified_ = schema + "." + table;
  lock_key_ = fnv1a("zuperior migrate " + qualified_);
}

void runner::apply_session_settings() {
  work_->query("SELECT set_config('application_name', $1, false)", {"zuperior migrate (" + who() + ")"});
  // A client that died (kill -9, an ssh drop, a cut network) left the server running its statement
  // to the end, outside the lock, and the next run applied it again: PostgreSQL 14+ checks the
  // connection this often during a statement and aborts it. Where the platform cannot check, the
  // setting is refused, and the run goes on without it.
  try {
    work_->query(
        "SELECT set_config('client_connection_check_interval', '1000', false) "
        "WHERE current_setting('server_version_num')::int >= 140000");
  } catch (const db::error&) {
  }
}

void runner::reset_session() {
  // What a file set for its session (SET search_path, SET ROLE, a temporary table, a session
  // advisory lock) reached the next file, and the runner's own history writes. DISCARD ALL is RESET
  // ALL plus the role, temporary objects, prepared statements and advisory locks.
  work_->query("DISCARD ALL");
  apply_session_settings();
}

void runner::check_lock() {
  if (o_.cancelled && o_.cancelled->load())
    throw error("cancelled by a signal; stopped before the next file (the files before it are recorded)");
  // The advisory lock lives as long as its connection: lost (terminated, a network cut), another
  // migrate could start now. Checked before each file; stopping then leaves a clean state.
  try {
    lock_->scalar("SELECT 1");
  } catch (const db::error& e) {
    locked_ = false;
    throw error(
        fmt::format("lost the connection that holds the migration lock ({}); stopped before the next file, "
                    "since another migrate could run now",
                    first_line(e.what())));
  }
}

namespace {

// pg_locks rows (as l) of the migration lock granted in this database; $1 and $2 from lock_params.
constexpr std::string_view held_migration_lock =
    "l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid "
    "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";

// A bigint advisory key as pg_locks shows it: the high and the low 32 bits.
std::vector<db::param> lock_params(std::int64_t lock_key) {
  auto key = static_cast<std::uint64_t>(lock_key);
  return {std::to_string(key >> 32), std::to_string(key & 0xffffffffULL)};
}

}  // namespace

std::string runner::lock_holders() {
  auto r = lock_->query(
      fmt::format(
          "SELECT a.pid::text, coalesce(a.usename, '?'), coalesce(a.application_name, ''), "
          "coalesce(host(a.client_addr), 'local socket'), to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), "
          "coalesce(extract(epoch FROM now() - a.backend_start)::bigint::text, '?') "
          "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE {}",
          held_migration_lock),
      lock_params(lock_key_));
  std::string out;
  for (const auto& row : r.rows)
    out += fmt::format("  held by pid {} user {} application {} from {}, connected since {} ({}s)\n", *row[0], *row[1],
                       core::quote(*row[2]), *row[3], *row[4], *row[5]);
  return out.empty() ? "  (the holder left just now)\n" : out;
}

std::optional<int> runner::running_pid() {
  // The holder is the other run's idle lock connection; it names the pid of the connection that
  // runs the statements (connect_all).
  auto r = lock_->query(
      fmt::format("SELECT coalesce(substring(a.application_name from '^zuperior migrate \\(pid ([0-9]+)\\) lock$'), "
                  "l.pid::text) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                  "WHERE {} AND l.pid <> pg_backend_pid() LIMIT 1",
                  held_migration_lock),
      lock_params(lock_key_));
  if (r.rows.empty() || !r.rows[0][0]) return std::nullopt;
  return std::stoi(*r.rows[0][0]);
}

std::vector<std::string> runner::leftover_reindex_indexes() {
  auto r = work_->query(
      "SELECT c.oid::regclass::text, t.oid::regclass::text FROM pg_index i "
      "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
      "WHERE NOT i.indisvalid AND c.relname ~ '_cc(new|old)[0-9]*$' ORDER BY 1");
  std::vector<std::string> out;
  for (const auto& row : r.rows)
    out.push_back(
        fmt::format("INVALID index {} on {}, left by a failed REINDEX CONCURRENTLY: every write to the "
                    "table still maintains it; drop it (DROP INDEX CONCURRENTLY {}) or run the REINDEX "
                    "again (`up` drops it first)",
                    row[0].value_or("?"), row[1].value_or("?"), row[0].value_or("?")));
  return out;
}

void runner::drop_reindex_leftovers(const std::vector<token>& t) {
  // REINDEX [(options)] INDEX|TABLE CONCURRENTLY name. A failed one (a statement timeout, a
  // cancel) leaves its INVALID copy "<index>_ccnew" (then _ccnew1, …, one more per failed try),
  // which every write to the table goes on maintaining and which nothing dropped.
  std::size_t i = 1;
  if (i < t.size() && t[i].type == token::kind::punct && t[i].text == "(")
    while (i < t.size() && !(t[i].type == token::kind::punct && t[i].text == ")")) ++i;
  if (i < t.size() && t[i].type == token::kind::punct) ++i;
  if (i >= t.size() || t[i].type != token::kind::word || (t[i].text != "INDEX" && t[i].text != "TABLE")) return;
  const std::string what = t[i].text;
  ++i;
  if (i < t.size() && t[i].type == token::kind::word && t[i].text == "CONCURRENTLY") ++i;
  std::string schema;
  const auto name = fold_name(t, i, &schema);
  if (name.empty()) return;
  const auto rel = schema.empty() ? quote_ident(name) : quote_ident(schema) + "." + quote_ident(name);
  // An INDEX's copies carry its name (cut to fit 63 bytes); a TABLE's, each of its indexes' names.
  auto r = work_->query(
      "SELECT c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
      "WHERE NOT i.indisvalid AND c.relname ~ '_ccnew[0-9]*$' AND i.indrelid = CASE WHEN $1 = 'INDEX' "
      "THEN (SELECT x.indrelid FROM pg_index x WHERE x.indexrelid = to_regclass($2)) ELSE to_regclass($2) END "
      "AND ($1 <> 'INDEX' OR starts_with((SELECT relname FROM pg_class WHERE oid = to_regclass($2)), "
      "regexp_replace(c.relname, '_ccnew[0-9]*$', '')))",
      {what, rel});
  for (const auto& row : r.rows) {
    if (!row[0]) continue;
    if (o_.progress) o_.progress(fmt::format("  dropping INVALID index {} left by an earlier failed REINDEX", *row[0]));
    work_->query("DROP INDEX CONCURRENTLY IF EXISTS " + *row[0]);  // regclass text: quoted as needed
  }
}

void runner::acquire_lock() {
  // pg_try_advisory_lock in a polling loop: a blocking pg_advisory_lock would sit in an open
  // statement that another run's CREATE INDEX CONCURRENTLY has to wait for.
  auto start = clock_type::now();
  bool told = false;
  while (true) {
    auto got = lock_->scalar("SELECT pg_try_advisory_lock($1::bigint)", {std::to_string(lock_key_)});
    if (got && *got == "t") {
      locked_ = true;
      return;
    }
    if (o_.cancelled && o_.cancelled->load()) throw error("cancelled by a signal while waiting for the migration lock");
    if (clock_type::now() - start >= o_.lock_wait)
      throw error(fmt::format("another `zuperior migrate` holds the migration lock; gave up after {}ms (--lock-wait)",
                              o_.lock_wait.count()),
                  lock_holders());
    if (!told && o_.progress) {
      o_.progress("waiting for the migration lock, held by another migrate:\n" + lock_holders());
      told = true;
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
}

void runner::release_lock() {
  if (!locked_ || !lock_) return;
  locked_ = false;
  // Everything is recorded by now: a failure here is no failure of the run (it made `up` exit 2
  // after applying every file). The server drops the lock when the connection ends.
  try {
    lock_->query("SELECT pg_advisory_unlock($1::bigint)", {std::to_string(lock_key_)});
  } catch (const db::error& e) {
    if (o_.progress)
      o_.progress(
          fmt::format("warning: the migration lock was not released explicitly ({}); it goes with its "
                      "connection",
                      first_line(e.what())));
  }
}

void runner::ensure_history() {
  // Only a schema it was given: CREATE SCHEMA IF NOT EXISTS needs the CREATE right on the database
  // even when the schema exists.
  if (!schema_.empty()) work_->query("CREATE SCHEMA IF NOT EXISTS " + schema_);
  work_->query("CREATE TABLE IF NOT EXISTS " + table_ +
               " ("
               "version integer PRIMARY KEY, "
               "description text NOT NULL, "
               "script text NOT NULL, "
               "checksum text NOT NULL, "
               "mode text NOT NULL, "
               "success boolean NOT NULL, "
               "statements_done integer NOT NULL DEFAULT 0, "
               "statements_total integer NOT NULL DEFAULT 0, "
               "done_checksum text, "
               "failed_statement text, "
               "failed_line integer, "
               "error text, "
               "applied_by text NOT NULL DEFAULT current_user, "
               "applied_from text, "
               "applied_at timestamptz NOT NULL DEFAULT now(), "
               "execution_ms bigint NOT NULL DEFAULT 0)");
  work_->take_notices();
}

std::vector<history_entry> runner::history() {
  auto exists = work_->scalar("SELECT to_regclass($1) IS NOT NULL", {table_});
  if (!exists || *exists != "t") return {};
  auto r = work_->query(
      "SELECT version::text, description, script, checksum, mode, success::text, statements_done::text, "
      "statements_total::text, coalesce(done_checksum, ''), coalesce(failed_statement, ''), "
      "coalesce(failed_line, 0)::text, coalesce(error, ''), applied_by || coalesce(' (' || applied_from || ')', ''), "
      "to_char(applied_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MSOF'), execution_ms::text FROM " +
      table_ + " ORDER BY version");
  std::vector<history_entry> out;
  for (const auto& row : r.rows) {
    auto s = [&](std::size_t i) { return row[i].value_or(""); };
    history_entry h;
    h.version = std::stoi(s(0));
    h.description = s(1);
    h.script = s(2);
    h.checksum = s(3);
    h.mode = s(4);
    h.success = s(5) == "true";
    h.statements_done = std::stoi(s(6));
    h.statements_total = std::stoi(s(7));
    h.done_checksum = s(8);
    h.failed_statement = s(9);
    h.failed_line = std::stoi(s(10));
    h.error = s(11);
    h.applied_by = s(12);
    h.applied_at = s(13);
    h.execution_ms = std::stoll(s(14));
    out.push_back(std::move(h));
  }
  return out;
}

bool runner::record(const migration& m, bool success, int done, const std::string& done_checksum,
                    const statement* failed, const std::string& err, long long ms) {
  std::optional<std::string> failed_text, failed_line, error_text;
  if (failed) {
    failed_text = to_valid_utf8(failed->text);
    failed_line = std::to_string(failed->line);
  }
  // A server's message can quote bytes of another encoding: refused as text, the failure was never
  // recorded.
  if (!err.empty()) error_text = to_valid_utf8(err);
  // A row that says applied is never replaced (only `repair` edits history): a run that lost a race
  // overwrote the winner's success with its own failure, and the next `up` applied the file again.
  // False when such a row was there (nothing written).
  const std::vector<db::param> params{std::to_string(m.version),
                                      to_valid_utf8(m.description),
                                      to_valid_utf8(m.file_name),
                                      m.checksum,
                                      std::string(m.transactional ? "transaction" : "no-transaction"),
                                      std::string(success ? "true" : "false"),
                                      std::to_string(done),
                                      std::to_string(m.statements.size()),
                                      done_checksum.empty() ? db::param{} : db::param{done_checksum},
                                      failed_text,
                                      failed_line,
                                      error_text,
                                      to_valid_utf8(who()),
                                      std::to_string(ms)};
  const std::string sql =
      "INSERT INTO " + table_ +
      " AS h (version, description, script, checksum, mode, success, statements_done, statements_total, "
      "done_checksum, failed_statement, failed_line, error, applied_from, execution_ms) "
      "VALUES ($1::int, $2, $3, $4, $5, $6::boolean, $7::int, $8::int, $9, $10, $11::int, $12, $13, "
      "$14::bigint) "
      "ON CONFLICT (version) DO UPDATE SET description = EXCLUDED.description, script = EXCLUDED.script, "
      "checksum = EXCLUDED.checksum, mode = EXCLUDED.mode, success = EXCLUDED.success, "
      "statements_done = EXCLUDED.statements_done, statements_total = EXCLUDED.statements_total, "
      "done_checksum = EXCLUDED.done_checksum, failed_statement = EXCLUDED.failed_statement, "
      "failed_line = EXCLUDED.failed_line, error = EXCLUDED.error, applied_by = current_user, "
      "applied_from = EXCLUDED.applied_from, applied_at = now(), execution_ms = EXCLUDED.execution_ms "
      "WHERE NOT h.success";
  try {
    return work_->query(sql, params).affected > 0;
  } catch (const db::error& e) {
    // A signal's pg_cancel_backend meant for the statement can land on this write instead, just
    // after the statement ended: lost, the history would miss a statement that ran. One cancel per
    // run (a second signal exits), so writing again is enough.
    if (e.sqlstate() != "57014" || !cancelled()) throw;
    return work_->query(sql, params).affected > 0;
  }
}

void runner::set_timeouts(const migration& m, bool local, bool no_lock_timeout) {
  auto lt = no_lock_timeout ? milliseconds(0) : m.lock_timeout.value_or(o_.lock_timeout);
  auto st = m.statement_timeout.value_or(o_.statement_timeout);
  work_->query("SELECT set_config('lock_timeout', $1, $3::boolean), set_config('statement_timeout', $2, $3::boolean)",
               {std::to_string(lt.count()), std::to_string(st.count()), std::string(local ? "true" : "false")});
}

std::string runner::blockers(const std::vector<std::string>& tables) {
  // Sessions holding a lock on the statement's tables, plus old transactions (which CREATE INDEX
  // CONCURRENTLY waits for whatever they touched). Asked on the idle lock connection.
  std::string names;
  for (const auto& t : tables)
    if (!t.empty()) names += (names.empty() ? "" : ",") + quote_ident(t);
  try {
    auto r = lock_->query(
        "SELECT a.pid::text, coalesce(a.usename, '?'), coalesce(a.application_name, ''), "
        "coalesce(host(a.client_addr), 'local socket'), coalesce(a.state, ''), "
        "coalesce(extract(epoch FROM now() - a.xact_start)::bigint::text, '-'), "
        "coalesce(string_agg(DISTINCT l.mode, ','), ''), "
        "left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 160) "
        "FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid AND l.granted AND l.relation = ANY ("
        "  SELECT to_regclass(x) FROM unnest(string_to_array($1, ',')) x) "
        "WHERE a.pid <> pg_backend_pid() AND a.pid <> $2::int AND a.datname = current_database() "
        "AND (l.pid IS NOT NULL OR (a.xact_start IS NOT NULL AND a.xact_start < now() - interval '1 second' "
        "     AND a.backend_type = 'client backend')) "
        "GROUP BY a.pid, a.usename, a.application_name, a.client_addr, a.state, a.xact_start, a.query",
        {names, std::to_string(work_->backend_pid())});
    std::string out;
    for (const auto& row : r.rows)
      out += fmt::format("    pid {} user {} application {} from {}: {}, transaction open {}s, locks {}: {}\n", *row[0],
                         *row[1], core::quote(*row[2]), *row[3], *row[4], *row[5], row[6]->empty() ? "-" : *row[6],
                         *row[7]);
    return out.empty() ? "    (no blocking session found any more)\n" : out;
  } catch (const std::exception& e) {
    return fmt::format("    (could not list blocking sessions: {})\n", first_line(e.what()));
  }
}

bool runner::sleep_backoff(int attempt, const std::string& what) {
  // False when a signal asks to stop, before or during the wait: an uninterruptible sleep (up to
  // 30 s a retry, and retries after it) kept a Ctrl-C waiting, then ran the retry anyway.
  if (cancelled()) return false;
  auto d = o_.retry_backoff * (1LL << std::min(attempt - 1, 10));
  d = std::min<milliseconds>(d, milliseconds(30'000));
  if (o_.progress)
    o_.progress(fmt::format("  lock timeout on {}; retry {}/{} in {}ms", what, attempt, o_.retries, d.count()));
  const auto until = clock_type::now() + d;
  for (auto now = clock_type::now(); now < until; now = clock_type::now()) {
    if (cancelled()) return false;
    std::this_thread::sleep_for(
        std::min<milliseconds>(milliseconds(100), std::chrono::duration_cast<milliseconds>(until - now)));
  }
  return !cancelled();
}

namespace {

std::string failure_details(const migration& m, const statement& s, const db::error& e, const std::string& extra) {
  std::string d = fmt::format("  file: {}\n  statement at line {}:\n{}", m.path, s.line, indent(s.text.substr(0, 600)));
  d += "  server said:\n" + indent(e.what());
  if (!e.sqlstate().empty()) d += "    SQLSTATE " + e.sqlstate() + "\n";
  return d + extra;
}

// What a signal makes the runner throw at the next statement: handled as that statement's failure
// (rolled back, or resumable there), never retried.
db::error cancelled_error(const statement& s) {
  return db::error("ERROR:  cancelled by a signal before this statement ran", "57014", s.text);
}

// CREATE/DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY take SHARE UPDATE EXCLUSIVE, which blocks
// no reads or writes, and then wait for every older transaction: under lock_timeout, one long
// unrelated transaction failed the build at its very end (55P03), and each retry built it again.
bool concurrent_index_op(const statement_info& info) {
  return info.concurrently &&
         (info.what == statement_info::kind::create_index || info.what == statement_info::kind::drop_index ||
          info.what == statement_info::kind::reindex);
}

std::string gave_up(int retries) {
  return retries ? fmt::format("  gave up after {} retr{}; sessions that held it up:\n", retries,
                               retries == 1 ? "y" : "ies")
                 : "  sessions that held it up:\n";
}

// "statements 1-3 stay applied", or that none did.
std::string applied_part(std::size_t done) {
  if (done == 0)
    return "none of its statements stays applied and the next `zuperior migrate up` runs it from the start";
  return fmt::format("statement{} 1{} stay{} applied and the next `zuperior migrate up` resumes at statement {}",
                     done == 1 ? "" : "s", done == 1 ? "" : fmt::format("-{}", done), done == 1 ? "s" : "", done + 1);
}

}  // namespace

applied_file runner::apply_transactional(const migration& m) {
  auto start = clock_type::now();
  for (int attempt = 0;; ++attempt) {
    const statement* current = nullptr;
    try {
      work_->query("BEGIN");
      set_timeouts(m, true);
      for (const auto& s : m.statements) {
        current = &s;
        if (cancelled()) throw cancelled_error(s);
        work_->query(s.text);
      }
      current = nullptr;
      if (!record(m, true, static_cast<int>(m.statements.size()), "", nullptr, "", ms_since(start))) {
        work_->query("ROLLBACK");
        throw error(fmt::format("{}: another run recorded version {} as applied meanwhile; rolled back this run's",
                                m.file_name, m.version));
      }
      work_->query("COMMIT");
      work_->take_notices();
      return {m.version, m.file_name, "transaction", m.statements.size(), 0, ms_since(start)};
    } catch (const db::error& e) {
      try {
        work_->query("ROLLBACK");
      } catch (...) {
      }
      if (!current) throw error(fmt::format("{}: {}", m.file_name, first_line(e.what())));
      const bool retry = e.lock_conflict() && attempt < o_.retries;
      if (retry && sleep_backoff(attempt + 1, fmt::format("{} line {}", m.file_name, current->line))) continue;
      std::string extra;
      if (retry) extra = "  cancelled by a signal before the next retry\n";
      if (e.lock_conflict()) extra += gave_up(attempt) + blockers(analyze(current->text).lock.tables);
      if (!record(m, false, 0, "", current, first_line(e.what()), ms_since(start)))
        extra += "  not recorded as failed: another run recorded this version as applied meanwhile\n";
      throw error(
          fmt::format("{} failed at line {} and was rolled back: {}", m.file_name, current->line, first_line(e.what())),
          failure_details(m, *current, e, extra));
    }
  }
}

applied_file runner::apply_no_transaction(const migration& m, std::size_t first) {
  auto start = clock_type::now();
  // The checksum of the statements done so far, kept running: hashed afresh after each statement
  // it was quadratic in the file's length.
  prefix_hasher done_hash;
  for (std::size_t i = 0; i < first; ++i) done_hash.add(m.statements[i]);
  auto overtaken = [&m](const std::string& when) {
    return error(fmt::format("{}: another run recorded version {} as applied meanwhile; stopped {}", m.file_name,
                             m.version, when));
  };
  // Record the file as started, so a crash leaves a resumable entry rather than nothing.
  if (!record(m, false, static_cast<int>(first), done_hash.hex(), nullptr, "", 0))
    throw overtaken("before running anything");
  // The file's own BEGIN (… COMMIT) while it is open: the statement where it began, and the
  // checksum of the statements before it. A failure inside aborts that transaction: the history
  // cannot be written in it (the write failed and the run ended without any record), and nothing
  // since the BEGIN stays, so the next run resumes at the BEGIN.
  std::optional<std::size_t> block;
  std::string block_hash;
  auto fail = [&](std::size_t i, const db::error& e, std::string extra) -> error {
    const auto& s = m.statements[i];
    try {
      // Harmless outside a transaction (a warning): a transaction the file opened and no tracking saw.
      work_->query("ROLLBACK");
    } catch (...) {
    }
    work_->take_notices();
    const std::size_t done = block ? *block : i;
    if (block)
      extra += fmt::format("  it ran inside the file's own transaction (BEGIN at line {}), which was rolled back\n",
                           m.statements[*block].line);
    if (!record(m, false, static_cast<int>(done), block ? block_hash : done_hash.hex(), &s, first_line(e.what()),
                ms_since(start)))
      extra += "  not recorded as failed: another run recorded this version as applied meanwhile\n";
    return error(fmt::format("{} failed at statement {} of {} (line {}): {}", m.file_name, i + 1, m.statements.size(),
                             s.line, first_line(e.what())),
                 failure_details(m, s, e, extra) +
                     fmt::format("  this file runs without a transaction: {}\n", applied_part(done)));
  };
  for (std::size_t i = first; i < m.statements.size(); ++i) {
    const auto& s = m.statements[i];
    auto info = analyze(s.text);
    const auto control = transaction_control(tokenize(s.text));
    for (int attempt = 0;; ++attempt) {
      try {
        if (cancelled()) throw cancelled_error(s);
        set_timeouts(m, false, concurrent_index_op(info));
        if (info.what == statement_info::kind::create_index && !info.index_name.empty()) {
          // An earlier failed CONCURRENTLY build leaves an INVALID index that IF NOT EXISTS would keep.
          auto found = find_index(*work_, info.index_name, info.table_schema);
          if (found && found->second == "false") {
            if (o_.progress)
              o_.progress(fmt::format("  dropping INVALID index {} left by an earlier failed build", found->first));
            work_->query("DROP INDEX CONCURRENTLY IF EXISTS " + found->first);  // regclass text: quoted as needed
          }
        }
        if (info.what == statement_info::kind::reindex && info.concurrently) drop_reindex_leftovers(tokenize(s.text));
        work_->query(s.text);
        if (info.what == statement_info::kind::create_index && !info.index_name.empty()) {
          auto found = find_index(*work_, info.index_name, info.table_schema);
          if (!found || found->second != "true")
            throw db::error(fmt::format("ERROR:  index \"{}\" is {} after the build", info.index_name,
                                        found ? "INVALID" : "missing"),
                            "XX000", s.text);
        }
        work_->take_notices();
        break;
      } catch (const db::error& e) {
        // Inside the file's transaction a retry of one statement cannot help: it is aborted.
        const bool retry = !block && e.lock_conflict() && attempt < o_.retries;
        if (retry && sleep_backoff(attempt + 1, fmt::format("{} line {}", m.file_name, s.line))) continue;
        std::string extra;
        if (retry) extra = "  cancelled by a signal before the next retry\n";
        if (e.lock_conflict()) extra += gave_up(attempt) + blockers(info.lock.tables);
        throw fail(i, e, extra);
      }
    }
    if (control == "BEGIN" || control == "START TRANSACTION") {
      // A second BEGIN inside the block only draws a warning from PostgreSQL: the block, and the
      // point a failed run resumes at, still start at the first.
      if (!block) {
        block = i;
        block_hash = done_hash.hex();
      }
    } else if (!control.empty()) {
      block.reset();
    }
    done_hash.add(s);
    if (!record(m, false, static_cast<int>(i + 1), done_hash.hex(), nullptr, "", ms_since(start)))
      throw overtaken(fmt::format("after statement {}", i + 1));
  }
  if (block) {
    // Its COMMIT missing, the file's transaction would have stayed open and taken the history's
    // success, and the next file, with it.
    const auto& begin = m.statements[*block];
    throw fail(*block,
               db::error(fmt::format("ERROR:  the file's {} has no COMMIT before the file ends",
                                     transaction_control(tokenize(begin.text))),
                         "", begin.text),
               "");
  }
  if (!record(m, true, static_cast<int>(m.statements.size()), done_hash.hex(), nullptr, "", ms_since(start)))
    throw overtaken("after its last statement");
  return {m.version, m.file_name, "no-transaction", m.statements.size() - first, first, ms_since(start)};
}

std::vector<applied_file> runner::up(const std::vector<migration>& files, std::optional<int> to) {
  // Refuse what can never run before taking locks or touching anything: files it would run only
  // (an applied file, baselined perhaps, is not run again, whatever its transaction mode).
  plan_up(compute_status(files, history()), to, o_.out_of_order);
  acquire_lock();
  ensure_history();
  auto status = compute_status(files, history());
  auto steps = plan_up(status, to, o_.out_of_order);
  std::vector<applied_file> done;
  for (const auto& step : steps) {
    const auto& m = *step.file;
    check_lock();
    reset_session();
    if (o_.progress)
      o_.progress(fmt::format("applying {} ({}, {} statement{}{})", m.file_name,
                              m.transactional ? "one transaction" : "no transaction", m.statements.size(),
                              m.statements.size() == 1 ? "" : "s",
                              step.first_statement ? fmt::format(", resuming at statement {}", step.first_statement + 1)
                                                   : std::string(step.retry ? ", retrying a failed run" : "")));
    auto r = m.transactional ? apply_transactional(m) : apply_no_transaction(m, step.first_statement);
    if (o_.progress) o_.progress(fmt::format("  done in {}ms", r.execution_ms));
    done.push_back(std::move(r));
  }
  release_lock();
  return done;
}

std::vector<int> runner::baseline(const std::vector<migration>& files, int version) {
  if (std::none_of(files.begin(), files.end(), [&](const migration& m) { return m.version == version; }))
    throw error(fmt::format("there is no migration with version {}", version), "", core::exit_usage);
  acquire_lock();
  ensure_history();
  auto existing = history();
  std::set<int> recorded;
  for (const auto& h : existing) recorded.insert(h.version);
  std::vector<const migration*> todo;
  std::vector<expectation> expected;
  for (const auto& m : files) {
    if (m.version > version || recorded.count(m.version)) continue;
    todo.push_back(&m);
    for (const auto& s : m.statements) expect(expected, s, fmt::format("{}:{}", m.file_name, s.line));
  }
  std::string missing;
  std::map<std::string, bool> table_exists;  // by regclass text
  for (const auto& e : expected) {
    if (e.what == expectation::kind::index) {
      auto found = find_index(*work_, e.name, e.schema);
      if (!found)
        missing += fmt::format("  {}: index {} does not exist\n", e.where, quote_ident(e.name));
      else if (found->second != "true")
        missing += fmt::format("  {}: index {} is INVALID\n", e.where, quote_ident(e.name));
      continue;
    }
    // In the schema the file names: by the search path alone, "CREATE TABLE audit.log" was found in
    // public.log and baselined over a database without it.
    const auto q = e.schema.empty() ? quote_ident(e.table) : quote_ident(e.schema) + "." + quote_ident(e.table);
    auto known = table_exists.find(q);
    if (known == table_exists.end()) {
      auto ok = work_->scalar("SELECT to_regclass($1) IS NOT NULL", {q});
      known = table_exists.emplace(q, ok && *ok == "t").first;
      if (!known->second) missing += fmt::format("  {}: table {} does not exist\n", e.where, q);
    }
    if (!known->second || e.what == expectation::kind::table) continue;
    if (e.what == expectation::kind::column) {
      auto has = work_->scalar(
          "SELECT count(*)::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 "
          "AND NOT attisdropped",
          {q, e.name});
      if (!has || *has == "0")
        missing += fmt::format("  {}: column {}.{} does not exist\n", e.where, q, quote_ident(e.name));
    } else {
      auto has = work_->scalar(
          "SELECT count(*)::text FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2", {q, e.name});
      if (!has || *has == "0")
        missing += fmt::format("  {}: constraint {} on {} does not exist\n", e.where, quote_ident(e.name), q);
    }
  }
  if (!missing.empty())
    throw error(fmt::format("cannot baseline at version {}: the database lacks what those migrations create "
                            "(nothing was recorded)",
                            version),
                missing);
  std::vector<int> out;
  work_->query("BEGIN");
  try {
    for (const auto* m : todo) {
      work_->query("INSERT INTO " + table_ +
                       " (version, description, script, checksum, mode, success, statements_done, statements_total, "
                       "applied_from) VALUES ($1::int, $2, $3, $4, 'baseline', true, $5::int, $5::int, $6)",
                   {std::to_string(m->version), to_valid_utf8(m->description), to_valid_utf8(m->file_name), m->checksum,
                    std::to_string(m->statements.size()), who()});
      out.push_back(m->version);
    }
    work_->query("COMMIT");
  } catch (...) {
    work_->query("ROLLBACK");
    throw;
  }
  release_lock();
  return out;
}

std::vector<std::string> runner::repair(const std::vector<migration>& files) {
  acquire_lock();
  ensure_history();
  auto status = compute_status(files, history());
  std::vector<std::string> out;
  for (const auto& r : status) {
    if (r.st == state::changed) {
      work_->query("UPDATE " + table_ + " SET checksum = $2, description = $3, script = $4 WHERE version = $1::int",
                   {std::to_string(r.version), r.file->checksum, to_valid_utf8(r.file->description),
                    to_valid_utf8(r.file->file_name)});
      out.push_back(fmt::format("{}: accepted the new checksum {}", r.file->file_name, r.file->checksum));
    } else if (r.st == state::failed) {
      work_->query("DELETE FROM " + table_ + " WHERE version = $1::int", {std::to_string(r.version)});
      out.push_back(fmt::format("{}: cleared the failed entry; the next `up` runs it from its first statement",
                                r.file->file_name));
    } else if (r.st == state::missing_file) {
      out.push_back(fmt::format("version {} ({}): applied but its file is gone; left as is", r.version, r.description));
    }
  }
  release_lock();
  return out;
}

}  // namespace zuperior::migrate
