#include "migrate/lint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/strings.hpp"

namespace zuperior::migrate {

std::string_view to_string(severity s) {
  switch (s) {
    case severity::info:
      return "info";
    case severity::warning:
      return "warning";
    case severity::error:
      return "error";
  }
  return "?";
}

std::optional<severity> parse_severity(std::string_view s) {
  if (s == "info") return severity::info;
  if (s == "warning") return severity::warning;
  if (s == "error") return severity::error;
  return std::nullopt;
}

namespace {

using tokens = std::vector<token>;

struct index_def {
  std::string name;
  std::vector<std::string> columns;
  bool unique = false;
  bool partial = false;
  std::string method = "btree";
};

struct model {
  std::set<std::string> tables;
  std::map<std::string, std::vector<index_def>> indexes;  // by table
  std::map<std::string, std::string> index_table;         // index name -> table
};

bool is_word(const token& t, std::string_view w) { return t.type == token::kind::word && t.text == w; }
bool is_punct(const token& t, std::string_view p) { return t.type == token::kind::punct && t.text == p; }

bool contains(const tokens& t, std::string_view w) {
  return std::any_of(t.begin(), t.end(), [&](const token& k) { return is_word(k, w); });
}

bool contains_seq(const tokens& t, std::initializer_list<std::string_view> seq) {
  for (std::size_t i = 0; i + seq.size() <= t.size(); ++i) {
    std::size_t j = 0;
    for (auto w : seq) {
      if (!is_word(t[i + j], w)) break;
      ++j;
    }
    if (j == seq.size()) return true;
  }
  return false;
}

// The identifiers of a parenthesised column list starting at t[i] == "(".
std::vector<std::string> column_list(const tokens& t, std::size_t i) {
  std::vector<std::string> cols;
  if (i >= t.size() || !is_punct(t[i], "(")) return cols;
  for (++i; i < t.size() && !is_punct(t[i], ")"); ++i)
    if (t[i].type == token::kind::quoted_ident)
      cols.push_back(t[i].text);
    else if (t[i].type == token::kind::word)
      cols.push_back(core::to_lower(t[i].text));
  return cols;
}

std::string ident(const token& k) { return k.type == token::kind::word ? core::to_lower(k.text) : k.text; }

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

const std::set<std::string> volatile_functions = {"RANDOM",           "GEN_RANDOM_UUID", "UUID_GENERATE_V1",
                                                  "UUID_GENERATE_V4", "CLOCK_TIMESTAMP", "TIMEOFDAY",
                                                  "NEXTVAL",          "TXID_CURRENT",    "SETSEED"};

struct linter {
  explicit linter(const lint_options& o) : options(o) {}
  const lint_options& options;
  model m;
  std::vector<finding> out;
  const migration* file = nullptr;
  const statement* stmt = nullptr;
  std::set<std::string> file_ignores;
  std::set<std::string> created_here;  // tables created by the current file
  std::set<std::string> indexes_created_here;

  static std::set<std::string> ignores_in(std::string_view text) {
    std::set<std::string> rules;
    std::size_t p = 0;
    while ((p = text.find("zuperior:lint-ignore", p)) != std::string_view::npos) {
      p += 20;
      auto end = text.find('\n', p);
      for (auto& r : core::split(text.substr(p, end == std::string_view::npos ? end : end - p), ',', true)) {
        for (auto& w : core::split(core::trim(r), ' ', true)) rules.insert(std::string(core::trim(w)));
      }
    }
    return rules;
  }

  void report(std::string rule, severity level, std::string message, std::string safer) {
    if (file_ignores.count(rule) || file_ignores.count("all")) return;
    auto local = ignores_in(stmt->comments);
    if (local.count(rule) || local.count("all")) return;
    out.push_back({file->path, stmt->line, std::move(rule), level, std::move(message), std::move(safer)});
  }

  bool existing(const std::string& table) const { return !created_here.count(table); }

  void add_index(const std::string& table, index_def d) {
    m.index_table[d.name] = table;
    m.indexes[table].push_back(std::move(d));
  }

  void check_redundant(const std::string& table, const index_def& d) {
    if (d.partial) return;
    for (const auto& e : m.indexes[table]) {
      if (e.partial || e.method != d.method || e.name == d.name) continue;
      if (e.columns == d.columns && (e.unique || !d.unique)) {
        report("redundant-index", severity::warning,
               fmt::format("index {} on \"{}\" ({}) duplicates {}{}", core::quote(d.name), table, join(d.columns),
                           core::quote(e.name), e.unique ? ", a unique index that already serves these lookups" : ""),
               fmt::format("drop this statement: {} already covers ({})", core::quote(e.name), join(d.columns)));
        return;
      }
      if (!d.unique && d.columns.size() < e.columns.size() &&
          std::equal(d.columns.begin(), d.columns.end(), e.columns.begin())) {
        report("redundant-index", severity::warning,
               fmt::format("index {} on \"{}\" ({}) is a prefix of {} ({}), which already serves these lookups",
                           core::quote(d.name), table, join(d.columns), core::quote(e.name), join(e.columns)),
               fmt::format("drop this statement and use {}", core::quote(e.name)));
        return;
      }
    }
  }

  void create_table(const tokens& t, const statement_info& info) {
    created_here.insert(info.table);
    m.tables.insert(info.table);
    auto open = std::find_if(t.begin(), t.end(), [](const token& k) { return is_punct(k, "("); });
    if (open == t.end()) return;
    std::size_t start = static_cast<std::size_t>(open - t.begin()) + 1, depth = 1, end = start;
    for (; end < t.size() && depth; ++end) {
      if (is_punct(t[end], "(")) ++depth;
      if (is_punct(t[end], ")")) --depth;
    }
    for (auto& item : split_commas(t, start, end - 1)) {
      if (item.empty()) continue;
      std::string cname;
      std::size_t i = 0;
      if (is_word(item[0], "CONSTRAINT") && item.size() > 2) {
        cname = ident(item[1]);
        i = 2;
      }
      bool pk = i + 1 < item.size() && is_word(item[i], "PRIMARY") && is_word(item[i + 1], "KEY");
      bool uq = i < item.size() && is_word(item[i], "UNIQUE");
      if (pk || uq) {
        auto cols = column_list(item, i + (pk ? 2 : 1));
        if (cname.empty()) cname = pk ? info.table + "_pkey" : info.table + "_" + join(cols) + "_key";
        add_index(info.table, {cname, cols, true, false, "btree"});
      } else if (i == 0 && (contains_seq(item, {"PRIMARY", "KEY"}) || contains(item, "UNIQUE"))) {
        auto col = ident(item[0]);
        bool is_pk = contains_seq(item, {"PRIMARY", "KEY"});
        add_index(info.table, {info.table + (is_pk ? "_pkey" : "_" + col + "_key"), {col}, true, false, "btree"});
      }
    }
  }

  void create_index(const statement_info& info) {
    bool new_table = !existing(info.table);
    if (info.concurrently && file->transactional)
      report("concurrently-in-transaction", severity::error,
             "CREATE INDEX CONCURRENTLY cannot run inside a transaction block; `migrate up` refuses this file",
             "put \"-- zuperior:no-transaction\" in the file's header (and keep the file to such statements)");
    if (!info.concurrently && !new_table)
      report("index-not-concurrent", severity::error,
             fmt::format("{} on existing table \"{}\" without CONCURRENTLY blocks every write to it (SHARE lock) "
                         "for the whole build",
                         info.verb, info.table),
             fmt::format("{} CONCURRENTLY IF NOT EXISTS {} ON \"{}\" (…) in a \"-- zuperior:no-transaction\" file",
                         info.verb, core::quote(info.index_name), info.table));
    index_def d{info.index_name, {}, info.unique, info.partial, info.index_method};
    for (auto& c : info.index_columns) {
      auto col = c;
      for (const char* suffix : {" asc", " desc", " nulls first", " nulls last"})
        if (col.size() > std::string_view(suffix).size() && col.ends_with(suffix))
          col.resize(col.size() - std::string_view(suffix).size());
      d.columns.push_back(col);
    }
    if (m.index_table.count(d.name) && !info.if_not_exists)
      report("redundant-index", severity::warning, fmt::format("an index named {} already exists", core::quote(d.name)),
             "use a new name, or IF NOT EXISTS when the statement must be re-runnable");
    else if (!m.index_table.count(d.name))
      check_redundant(info.table, d);
    if (!m.index_table.count(d.name)) {
      add_index(info.table, d);
      indexes_created_here.insert(d.name);
    }
  }

  void drop_index(const statement_info& info) {
    auto it = m.index_table.find(info.index_name);
    bool new_index = indexes_created_here.count(info.index_name) > 0;
    if (!info.concurrently && !new_index)
      report("index-not-concurrent", severity::error,
             fmt::format("DROP INDEX {} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table",
                         core::quote(info.index_name)),
             fmt::format("DROP INDEX CONCURRENTLY IF EXISTS {} in a \"-- zuperior:no-transaction\" file",
                         core::quote(info.index_name)));
    if (info.concurrently && file->transactional)
      report("concurrently-in-transaction", severity::error,
             "DROP INDEX CONCURRENTLY cannot run inside a transaction block; `migrate up` refuses this file",
             "put \"-- zuperior:no-transaction\" in the file's header");
    if (it != m.index_table.end()) {
      auto& v = m.indexes[it->second];
      v.erase(std::remove_if(v.begin(), v.end(), [&](const index_def& d) { return d.name == info.index_name; }),
              v.end());
      m.index_table.erase(it);
    }
  }

  void alter_action(const std::string& table, const tokens& a) {
    if (a.empty()) return;
    std::size_t i = 0;
    auto word = [&](std::string_view w) { return i < a.size() && is_word(a[i], w); };
    if (word("ADD")) {
      ++i;
      bool constraint = word("CONSTRAINT") || word("FOREIGN") || word("CHECK") || word("PRIMARY") || word("UNIQUE") ||
                        word("EXCLUDE");
      if (constraint) {
        bool not_valid = contains_seq(a, {"NOT", "VALID"});
        if ((contains_seq(a, {"FOREIGN", "KEY"}) || contains(a, "CHECK")) && !not_valid) {
          bool fk = contains_seq(a, {"FOREIGN", "KEY"});
          report(
              "constraint-not-valid", severity::error,
              fmt::format("adding a {} to existing table \"{}\" without NOT VALID scans the whole table under its lock",
                          fk ? "foreign key" : "check constraint", table),
              "ADD CONSTRAINT … NOT VALID; then, in a later statement, ALTER TABLE … VALIDATE CONSTRAINT … "
              "(takes only SHARE UPDATE EXCLUSIVE)");
        }
        if ((contains_seq(a, {"PRIMARY", "KEY"}) || contains(a, "UNIQUE")) && !contains_seq(a, {"USING", "INDEX"}))
          report(
              "index-not-concurrent", severity::error,
              fmt::format("adding a unique/primary key constraint to existing table \"{}\" builds its index "
                          "under an ACCESS EXCLUSIVE lock",
                          table),
              "CREATE UNIQUE INDEX CONCURRENTLY … (no-transaction file), then ADD CONSTRAINT … UNIQUE USING INDEX …");
        return;
      }
      if (word("COLUMN")) ++i;
      if (i + 2 < a.size() && is_word(a[i], "IF") && is_word(a[i + 1], "NOT")) i += 3;
      std::string col = i < a.size() ? ident(a[i]) : "?";
      bool has_default = false, volatile_default = false, serial = false;
      for (std::size_t j = i + 1; j < a.size(); ++j) {
        if (is_word(a[j], "SERIAL") || is_word(a[j], "BIGSERIAL") || is_word(a[j], "SMALLSERIAL")) serial = true;
        if (is_word(a[j], "DEFAULT")) {
          has_default = true;
          for (std::size_t k = j + 1; k < a.size(); ++k) {
            if (is_word(a[k], "NOT") || is_word(a[k], "NULL") || is_word(a[k], "CONSTRAINT") ||
                is_word(a[k], "CHECK") || is_word(a[k], "REFERENCES") || is_word(a[k], "PRIMARY") ||
                is_word(a[k], "UNIQUE"))
              break;
            if (a[k].type == token::kind::word && volatile_functions.count(a[k].text)) volatile_default = true;
          }
        }
      }
      if (volatile_default || serial)
        report("volatile-default", severity::error,
               fmt::format("adding column {} to existing table \"{}\" with a volatile default ({}) rewrites the "
                           "whole table under an ACCESS EXCLUSIVE lock",
                           core::quote(col), table, serial ? "serial" : "evaluated per row"),
               "add the column without a default (or with a constant one), then ALTER COLUMN … SET DEFAULT …, "
               "and backfill existing rows in batches");
      if (contains_seq(a, {"NOT", "NULL"}) && !has_default)
        report("not-null", severity::error,
               fmt::format("adding NOT NULL column {} without a default fails on a non-empty \"{}\"", core::quote(col),
                           table),
               "add the column nullable (or with a constant DEFAULT), backfill, then add NOT NULL the safe way "
               "(CHECK (col IS NOT NULL) NOT VALID, VALIDATE, SET NOT NULL)");
      if (contains(a, "REFERENCES") || contains(a, "CHECK"))
        report("constraint-not-valid", severity::error,
               fmt::format("column {} is added with an inline constraint, which is validated immediately against "
                           "every row of \"{}\"",
                           core::quote(col), table),
               "add the column plain, then ADD CONSTRAINT … NOT VALID and VALIDATE CONSTRAINT in a later statement");
      if (contains(a, "GENERATED") && (contains(a, "STORED") || contains(a, "IDENTITY")))
        report("volatile-default", severity::error,
               fmt::format("{} column {} rewrites all of \"{}\" under an ACCESS EXCLUSIVE lock (a value per row)",
                           contains(a, "IDENTITY") ? "an identity" : "a STORED generated", core::quote(col), table),
               contains(a, "IDENTITY")
                   ? "add a plain nullable column, backfill it in batches, then ALTER COLUMN … ADD GENERATED … AS "
                     "IDENTITY (existing rows keep their values)"
                   : "add a plain column, backfill it in batches and keep it current with a trigger");
      return;
    }
    if (word("SET") && i + 1 < a.size() && (is_word(a[i + 1], "LOGGED") || is_word(a[i + 1], "UNLOGGED"))) {
      report("table-rewrite", severity::error,
             fmt::format("SET {} rewrites all of \"{}\" (and its indexes) under an ACCESS EXCLUSIVE lock",
                         a[i + 1].text, table),
             "create the new table as wanted, copy in batches and swap names in a short transaction");
      return;
    }
    if (word("ALTER")) {
      ++i;
      if (word("COLUMN")) ++i;
      std::string col = i < a.size() ? ident(a[i]) : "?";
      if (contains_seq(a, {"SET", "NOT", "NULL"}))
        report(
            "not-null", severity::error,
            fmt::format("SET NOT NULL on {}.{} scans the whole table under an ACCESS EXCLUSIVE lock", table, col),
            fmt::format("ADD CONSTRAINT \"{}_{}_not_null\" CHECK (\"{}\" IS NOT NULL) NOT VALID; VALIDATE "
                        "CONSTRAINT …; then SET NOT NULL (PostgreSQL 12+ uses the validated check) and drop the check",
                        table, col, col));
      if (contains(a, "TYPE"))
        report(
            "column-type-change", severity::error,
            fmt::format("changing the type of {}.{} usually rewrites the table and its indexes under an ACCESS "
                        "EXCLUSIVE lock",
                        table, col),
            "add a new column of the new type, backfill it in batches, switch the application, then drop the old one");
      return;
    }
    if (word("RENAME")) {
      report("rename", severity::warning,
             fmt::format("renaming on \"{}\" breaks every running application version that uses the old name", table),
             "expand/contract: add the new name (column or view), move readers and writers, drop the old one later");
      return;
    }
    if (word("DROP")) {
      ++i;
      if (word("CONSTRAINT")) return;
      if (word("COLUMN")) ++i;
      if (i < a.size() && (word("IF"))) i += 2;
      report("drop", severity::warning,
             fmt::format("dropping column {} of \"{}\" breaks running application versions that still read it",
                         core::quote(i < a.size() ? ident(a[i]) : "?"), table),
             "stop using the column in the application first; drop it in a later release");
      return;
    }
  }

  void alter_table(const tokens& t, const statement_info& info) {
    if (!existing(info.table)) return;
    for (auto& action : alter_table_actions(t)) alter_action(info.table, action);
  }

  void timeouts(const tokens& t, const statement_info& info) {
    if (info.what == statement_info::kind::set && t.size() >= 2) {
      bool lock = is_word(t[1], "LOCK_TIMEOUT") || (t.size() > 2 && is_word(t[2], "LOCK_TIMEOUT"));
      bool stmt_to = is_word(t[1], "STATEMENT_TIMEOUT") || (t.size() > 2 && is_word(t[2], "STATEMENT_TIMEOUT"));
      bool zero =
          t.back().text == "0" || t.back().text == "'0'" || is_word(t[0], "RESET") || is_word(t.back(), "DEFAULT");
      if (lock && zero)
        report("missing-timeout", severity::warning,
               "this turns lock_timeout off: a statement waiting for a lock then queues every other query on the table "
               "behind it",
               "leave lock_timeout to `migrate` (database.lock_timeout), or set a few seconds");
      (void)stmt_to;
      return;
    }
    auto lt = file->lock_timeout.value_or(options.lock_timeout);
    bool strong = info.lock.mode.rfind("ACCESS EXCLUSIVE", 0) == 0 || info.lock.mode == "SHARE" ||
                  info.lock.mode.rfind("SHARE ROW EXCLUSIVE", 0) == 0;
    if (lt.count() == 0 && strong && !info.table.empty() && existing(info.table))
      report("missing-timeout", severity::warning,
             fmt::format("{} takes {} on \"{}\" with no lock_timeout: while it waits for the lock, every query on the "
                         "table queues behind it",
                         info.verb, info.lock.mode, info.table),
             "set database.lock_timeout (or \"-- zuperior:lock-timeout 5s\" in the header) so the statement gives up "
             "and is retried");
  }

  void run(const std::vector<migration>& files) {
    for (const auto& f : files) {
      file = &f;
      if (!f.encoding_error.empty())
        out.push_back({f.path, 0, "encoding", severity::error, f.encoding_error, "save the file as UTF-8"});
      if (!f.header_error.empty())
        out.push_back({f.path, 0, "directive", severity::error, f.header_error,
                       "fix the directive, or write the comment without \"zuperior:\""});
      created_here.clear();
      indexes_created_here.clear();
      std::string header;
      if (!f.statements.empty()) header = f.statements.front().comments;
      file_ignores = ignores_in(header);
      for (const auto& s : f.statements) {
        stmt = &s;
        auto t = tokenize(s.text);
        auto info = analyze(s.text);
        timeouts(t, info);
        if (auto tc = transaction_control(t); !tc.empty() && f.transactional)
          report("transaction-control", severity::error,
                 fmt::format("{} in a file that runs in one transaction ends that transaction: what follows runs "
                             "on its own, and a failure leaves the file half applied; `migrate up` refuses this file",
                             tc),
                 "remove it (the file is one transaction already), or put \"-- zuperior:no-transaction\" in the "
                 "header and manage transactions yourself");
        switch (info.what) {
          case statement_info::kind::create_table:
            create_table(t, info);
            break;
          case statement_info::kind::create_index:
            create_index(info);
            break;
          case statement_info::kind::drop_index:
            drop_index(info);
            break;
          case statement_info::kind::alter_table:
            alter_table(t, info);
            break;
          case statement_info::kind::drop_table:
            report("drop", severity::warning,
                   fmt::format("DROP TABLE \"{}\" loses its data and breaks running application versions", info.table),
                   "stop using the table first; rename it aside and drop it in a later release once nothing reads it");
            m.tables.erase(info.table);
            break;
          case statement_info::kind::reindex:
            if (!info.concurrently)
              report("index-not-concurrent", severity::error, "REINDEX without CONCURRENTLY blocks writes to the table",
                     "REINDEX … CONCURRENTLY in a \"-- zuperior:no-transaction\" file");
            else if (f.transactional)
              report("concurrently-in-transaction", severity::error, "REINDEX CONCURRENTLY cannot run in a transaction",
                     "put \"-- zuperior:no-transaction\" in the file's header");
            break;
          case statement_info::kind::maintenance:
            if (info.verb == "VACUUM FULL" && any_existing(info.lock.tables))
              report("table-rewrite", severity::error,
                     fmt::format("VACUUM FULL rewrites {} under an ACCESS EXCLUSIVE lock: no reads or writes until "
                                 "it ends",
                                 on_tables(info.lock.tables)),
                     "plain VACUUM (no lock against reads or writes); to give space back, pg_repack or "
                     "pg_squeeze rewrite online");
            break;
          case statement_info::kind::cluster:
            if (info.table.empty() || existing(info.table))
              report("table-rewrite", severity::error,
                     fmt::format("CLUSTER rewrites {} under an ACCESS EXCLUSIVE lock: no reads or writes until it ends",
                                 on_tables({info.table})),
                     "pg_repack --order-by reorders a table online; or leave the order to new rows");
            break;
          case statement_info::kind::truncate:
            if (any_existing(info.lock.tables))
              report("truncate", severity::warning,
                     fmt::format("TRUNCATE empties {} for good and takes an ACCESS EXCLUSIVE lock (it waits for, and "
                                 "then blocks, every reader)",
                                 on_tables(info.lock.tables)),
                     "DELETE in batches when the rows must go on a live table; keep TRUNCATE to tables nothing reads");
            break;
          case statement_info::kind::refresh:
            if (!info.concurrently && !created_here.count(info.table))
              report("refresh-not-concurrent", severity::warning,
                     fmt::format("REFRESH MATERIALIZED VIEW \"{}\" without CONCURRENTLY takes an ACCESS EXCLUSIVE "
                                 "lock: every read of the view waits until the refresh ends",
                                 info.table),
                     "REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view; readers go on)");
            break;
          default:
            // CREATE MATERIALIZED VIEW: its first REFRESH in the same file blocks nobody.
            if (info.verb == "CREATE MATERIALIZED") {
              std::size_t i = 3;
              if (t.size() > 5 && is_word(t[3], "IF")) i = 6;
              created_here.insert(fold_name(t, i));
            }
            break;
        }
        // VACUUM, CREATE DATABASE …: what `up` refuses in a file that runs in one transaction (the
        // CONCURRENTLY index operations have their own finding above).
        const bool index_op = info.what == statement_info::kind::create_index ||
                              info.what == statement_info::kind::drop_index ||
                              info.what == statement_info::kind::reindex;
        if (auto why = needs_no_transaction(t, info);
            !why.empty() && f.transactional && !(index_op && info.concurrently))
          report(why == "CONCURRENTLY" ? "concurrently-in-transaction" : "not-in-transaction", severity::error,
                 fmt::format("{} cannot run inside a transaction block; `migrate up` refuses this file", why),
                 "put \"-- zuperior:no-transaction\" in the file's header (and keep the file to such statements)");
      }
    }
  }

  bool any_existing(const std::vector<std::string>& tables) const {
    // No table named (VACUUM FULL, CLUSTER alone): every table of the database.
    return tables.empty() || std::any_of(tables.begin(), tables.end(), [this](const auto& t) { return existing(t); });
  }

  static std::string on_tables(const std::vector<std::string>& tables) {
    if (tables.empty() || (tables.size() == 1 && tables[0].empty())) return "every table it applies to";
    std::string s;
    for (const auto& t : tables) s += (s.empty() ? "\"" : ", \"") + t + "\"";
    return s;
  }
};

}  // namespace

std::vector<finding> lint(const std::vector<migration>& files, const lint_options& options) {
  linter l(options);
  l.run(files);
  return std::move(l.out);
}

}  // namespace zuperior::migrate
