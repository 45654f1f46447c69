// zuperior migrate: versioned SQL migrations applied safely to a live database.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "command.hpp"
#include "core/error.hpp"
#include "core/file.hpp"
#include "core/strings.hpp"
#include "core/units.hpp"
#include "db/session.hpp"
#include "migrate/error.hpp"
#include "migrate/lint.hpp"
#include "migrate/migration.hpp"
#include "migrate/plan.hpp"
#include "migrate/runner.hpp"

namespace zuperior::cmd {
namespace {

using nlohmann::json;
namespace mg = migrate;

struct migrate_options {
  config_options config;
  std::string database_url, dir, history_table, lock_timeout, statement_timeout;
  std::string wait_for_db = "0s", lock_wait = "60s", retry_backoff = "1s";
  int retries = 5;
  std::string format = "text";
  std::string to;                   // up/plan --to
  std::string version;              // baseline --version
  std::string fail_on = "warning";  // lint
  std::vector<std::string> lint_files;
  bool quiet = false;
  bool out_of_order = false;  // up --out-of-order
};

std::chrono::milliseconds duration_flag(const std::string& text, const char* flag) {
  auto d = core::parse_duration(text);
  if (!d || d->count() < 0)
    throw core::command_error(fmt::format("{} takes a duration such as 5s, got {}", flag, core::quote(text)));
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

std::optional<int> version_flag(const std::string& text, const char* flag) {
  if (text.empty()) return std::nullopt;
  try {
    std::size_t used = 0;
    int v = std::stoi(text, &used);
    if (used == text.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw core::command_error(fmt::format("{} takes a migration version such as 0002, got {}", flag, core::quote(text)));
}

struct context {
  config::loaded_config cfg;
  std::vector<mg::migration> files;
  mg::runner_options ro;
  std::FILE* progress_to = nullptr;  // where progress lines go (nullptr: --quiet)
};

// One progress line, flushed. `stop` (may be null) is set when the output's reader has gone
// (EPIPE: `up | less`, quit), as a signal sets it.
std::function<void(const std::string&)> progress_writer(std::FILE* to, std::atomic<bool>* stop) {
  if (!to) return nullptr;
  return [to, stop](const std::string& line) {
    errno = 0;
    if ((std::fputs((line + "\n").c_str(), to) == EOF || std::fflush(to) == EOF) && errno == EPIPE && stop &&
        !stop->exchange(true))
      std::fputs("zuperior: the output was closed: stopping before the next statement\n", stderr);
  };
}

context load(const migrate_options& o, bool need_files = true) {
  std::vector<config::flag_value> flags;
  if (!o.database_url.empty()) flags.push_back({"database.url", o.database_url, "--database-url"});
  if (!o.dir.empty()) flags.push_back({"database.migrations_dir", o.dir, "--dir"});
  if (!o.history_table.empty()) flags.push_back({"database.history_table", o.history_table, "--history-table"});
  if (!o.lock_timeout.empty()) flags.push_back({"database.lock_timeout", o.lock_timeout, "--lock-timeout"});
  if (!o.statement_timeout.empty())
    flags.push_back({"database.migration_statement_timeout", o.statement_timeout, "--statement-timeout"});
  context c{o.config.load(std::move(flags)), {}, {}};
  require_valid(c.cfg);
  const auto& db = c.cfg.values.database;
  if (need_files) {
    std::vector<std::string> warnings;
    c.files = mg::load_migrations(db.migrations_dir, &warnings);
    // On stderr, as configuration warnings are: stdout stays the JSON under --format json.
    for (const auto& w : warnings) std::fprintf(stderr, "zuperior: warning: %s\n", w.c_str());
  }
  c.ro.database_url = db.url;
  c.ro.connect_timeout = db.connect_timeout;
  c.ro.wait_for_db = duration_flag(o.wait_for_db, "--wait-for-db");
  c.ro.history_table = db.history_table;
  c.ro.lock_timeout = db.lock_timeout;
  c.ro.statement_timeout = db.migration_statement_timeout;
  c.ro.lock_wait = duration_flag(o.lock_wait, "--lock-wait");
  c.ro.retries = o.retries;
  c.ro.retry_backoff = duration_flag(o.retry_backoff, "--retry-backoff");
  c.ro.out_of_order = o.out_of_order;
  c.progress_to = o.quiet ? nullptr : o.format == "text" ? stdout : stderr;
  c.ro.progress = progress_writer(c.progress_to, nullptr);
  return c;
}

json entry_json(const mg::status_row& r) {
  json j{{"version", r.version}, {"description", r.description}, {"state", std::string(mg::to_string(r.st))}};
  j["file"] = r.file ? json(r.file->file_name) : json(nullptr);
  j["mode"] = r.file ? json(r.file->transactional ? "transaction" : "no-transaction") : json(nullptr);
  j["checksum"] = r.file ? json(r.file->checksum) : json(nullptr);
  if (r.entry) {
    j["applied_checksum"] = r.entry->checksum;
    j["applied_at"] = r.entry->applied_at;
    j["applied_by"] = r.entry->applied_by;
    j["applied_mode"] = r.entry->mode;
    j["execution_ms"] = r.entry->execution_ms;
    j["statements_done"] = r.entry->statements_done;
    j["statements_total"] = r.entry->statements_total;
    if (!r.entry->error.empty()) j["error"] = r.entry->error;
    if (!r.entry->failed_statement.empty()) {
      j["failed_statement"] = r.entry->failed_statement;
      j["failed_line"] = r.entry->failed_line;
    }
  }
  if (!r.note.empty()) j["note"] = r.note;
  if (r.out_of_order) j["out_of_order"] = true;
  return j;
}

int run_status(const migrate_options& o) {
  auto c = load(o);
  mg::runner db(c.ro);
  auto status = mg::compute_status(c.files, db.history());
  // A file another `up` is applying right now looked interrupted: "failed", exit 1, a page at night.
  const auto running = db.running_pid();
  if (running) mg::mark_running(status, *running);
  auto warnings = db.leftover_reindex_indexes();
  if (running && !warnings.empty())
    for (auto& w : warnings) w += fmt::format(" (a migration is running, pid {}: it may be its REINDEX)", *running);
  int bad = 0;
  for (const auto& r : status) bad += r.st == mg::state::failed || r.st == mg::state::changed;
  if (o.format == "json") {
    json rows = json::array();
    json counts = json::object();
    for (const auto& r : status) {
      rows.push_back(entry_json(r));
      counts[std::string(mg::to_string(r.st))] = counts.value(std::string(mg::to_string(r.st)), 0) + 1;
    }
    json out{{"migrations", rows}, {"counts", counts}, {"ok", bad == 0}};
    if (running) out["running_pid"] = *running;
    out["warnings"] = warnings;
    print_json(out);
  } else {
    std::puts(fmt::format("{:<8} {:<13} {:<36} {:<24} {}", "VERSION", "STATE", "FILE", "APPLIED AT", "NOTE").c_str());
    for (const auto& r : status)
      std::puts(fmt::format("{:<8} {:<13} {:<36} {:<24} {}", r.file ? r.file->version_text : std::to_string(r.version),
                            mg::to_string(r.st), r.file ? r.file->file_name : "(" + r.description + ")",
                            r.entry ? r.entry->applied_at.substr(0, 19) : "-", r.note)
                    .c_str());
    for (const auto& w : warnings) std::puts(("warning: " + w).c_str());
  }
  return bad ? core::exit_failed : core::exit_ok;
}

// SIGINT, SIGTERM or SIGHUP during `up`: the statement running on the server is cancelled
// (pg_cancel_backend from a connection of its own), so the file is recorded as failed as any
// failure is (rolled back, or resumable at that statement), the lock is released and up exits 1.
// Killed outright (an ssh session dropped: SIGHUP), the server went on running the statement after
// the lock had gone with the connection, unrecorded, and the next run applied it again. A second
// signal exits at once. An output whose reader has gone (`up | less`, quit) stops the run the same
// way, before the next statement: SIGPIPE is ignored, and the progress writer sees EPIPE.
class cancel_on_signal {
 public:
  cancel_on_signal(std::string url, std::chrono::milliseconds connect_timeout) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    // Under nohup (SIGHUP ignored) a hang-up is not a request to stop: a blocked signal is queued
    // even when ignored, and sigtimedwait would take it.
    struct sigaction hup {};
    if (sigaction(SIGHUP, nullptr, &hup) != 0 || hup.sa_handler != SIG_IGN) sigaddset(&set, SIGHUP);
    // Left ignored until the process ends: the final output to a closed pipe must not kill it
    // either (exit 141 instead of the run's own code).
    std::signal(SIGPIPE, SIG_IGN);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
    thread_ = std::thread([this, set, url = std::move(url), connect_timeout] {
      int seen = 0;
      while (!done_.load()) {
        timespec wait{0, 200'000'000};
        if (sigtimedwait(&set, nullptr, &wait) < 0) continue;
        if (++seen > 1) std::_Exit(130);
        cancelled.store(true);
        std::fputs("zuperior: signal received: cancelling the running statement (a second signal exits at once)\n",
                   stderr);
        if (const int pid = pid_.load(); pid > 0) {
          try {
            auto s = db::session::connect(url, connect_timeout);
            s->query("SELECT pg_cancel_backend($1::int)", {std::to_string(pid)});
          } catch (const std::exception& e) {
            std::fputs(fmt::format("zuperior: could not cancel it: {}\n", e.what()).c_str(), stderr);
          }
        }
      }
    });
  }
  ~cancel_on_signal() {
    done_.store(true);
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  cancel_on_signal(const cancel_on_signal&) = delete;
  cancel_on_signal& operator=(const cancel_on_signal&) = delete;
  /// The server process to cancel.
  void watch(int pid) { pid_.store(pid); }
  std::atomic<bool> cancelled{false};

 private:
  sigset_t old_{};
  std::atomic<bool> done_{false};
  std::atomic<int> pid_{0};
  std::thread thread_;
};

int run_up(const migrate_options& o) {
  auto c = load(o);
  auto to = version_flag(o.to, "--to");
  cancel_on_signal cancel(c.ro.database_url, c.ro.connect_timeout);
  c.ro.cancelled = &cancel.cancelled;
  c.ro.progress = progress_writer(c.progress_to, &cancel.cancelled);
  mg::runner db(c.ro);
  cancel.watch(db.work_pid());
  auto start = std::chrono::steady_clock::now();
  auto done = db.up(c.files, to);
  auto total = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  if (o.format == "json") {
    json a = json::array();
    for (const auto& d : done)
      a.push_back({{"version", d.version},
                   {"file", d.file},
                   {"mode", d.mode},
                   {"statements", d.statements},
                   {"resumed_from", d.resumed_from},
                   {"execution_ms", d.execution_ms}});
    print_json(json{{"applied", a}, {"total_ms", total}, {"ok", true}});
  } else if (done.empty()) {
    std::puts("nothing to apply: the database is up to date");
  } else {
    std::puts(fmt::format("applied {} migration{} in {}ms", done.size(), done.size() == 1 ? "" : "s", total).c_str());
  }
  return core::exit_ok;
}

int run_plan(const migrate_options& o) {
  auto c = load(o);
  auto to = version_flag(o.to, "--to");
  mg::runner db(c.ro);
  auto status = mg::compute_status(c.files, db.history());
  // Shown, not refused: plan says what `up` would do, and `up` refuses it without --out-of-order.
  auto steps = mg::plan_up(status, to, true);
  json out = json::array();
  for (const auto& s : steps) {
    const auto& m = *s.file;
    std::string warning;
    for (const auto& r : status)
      if (r.file == &m && r.out_of_order)
        warning = r.note + "; `up` refuses it without --out-of-order (it runs after migrations written without it)";
    json stmts = json::array();
    for (std::size_t i = s.first_statement; i < m.statements.size(); ++i) {
      const auto& st = m.statements[i];
      auto info = mg::analyze(st.text);
      std::string lock = info.lock.mode.empty() ? "none on tables" : info.lock.mode;
      std::string on;
      for (const auto& t : info.lock.tables)
        if (!t.empty()) on += (on.empty() ? "" : ", ") + ("\"" + t + "\"");
      json j{{"index", i + 1}, {"line", st.line}, {"sql", st.text}, {"lock", lock}, {"tables", info.lock.tables}};
      if (!m.transactional && info.what == mg::statement_info::kind::create_index)
        j["note"] = "an INVALID index of the same name is dropped concurrently first; validity checked after";
      if (!m.transactional && info.what == mg::statement_info::kind::reindex && info.concurrently)
        j["note"] = "INVALID _ccnew copies a failed REINDEX CONCURRENTLY left are dropped concurrently first";
      if (!m.transactional && info.concurrently)
        j["note"] = j.value("note", std::string()) + (j.contains("note") ? "; " : "") +
                    "runs without lock_timeout (its lock blocks no reads or writes, and it waits for older "
                    "transactions)";
      stmts.push_back(j);
    }
    out.push_back({{"version", m.version},
                   {"file", m.file_name},
                   {"mode", m.transactional ? "transaction" : "no-transaction"},
                   {"resume_at", s.first_statement + 1},
                   {"lock_timeout_ms", m.lock_timeout.value_or(c.ro.lock_timeout).count()},
                   {"statement_timeout_ms", m.statement_timeout.value_or(c.ro.statement_timeout).count()},
                   {"statements", stmts}});
    if (!warning.empty()) out.back()["warning"] = warning;
  }
  if (o.format == "json") {
    print_json(json{{"plan", out}});
    return core::exit_ok;
  }
  if (steps.empty()) std::puts("nothing to apply: the database is up to date");
  for (const auto& f : out) {
    std::puts(fmt::format("{} ({}{}; lock_timeout {}ms, statement_timeout {}ms)", f["file"].get<std::string>(),
                          f["mode"] == "transaction" ? "in one transaction" : "without a transaction",
                          f["resume_at"].get<std::size_t>() > 1
                              ? fmt::format(", resuming at statement {}", f["resume_at"].get<std::size_t>())
                              : "",
                          f["lock_timeout_ms"].get<long long>(), f["statement_timeout_ms"].get<long long>())
                  .c_str());
    if (f.contains("warning")) std::puts(fmt::format("  warning: {}", f["warning"].get<std::string>()).c_str());
    for (const auto& s : f["statements"]) {
      std::string sql = s["sql"];
      auto nl = sql.find('\n');
      std::string head = nl == std::string::npos ? sql : sql.substr(0, nl) + " …";
      std::string tables;
      for (const auto& t : s["tables"])
        if (!t.get<std::string>().empty()) tables += (tables.empty() ? " on \"" : ", \"") + t.get<std::string>() + "\"";
      std::puts(fmt::format("  {:>3}. line {:<4} {}\n       lock: {}{}{}", s["index"].get<std::size_t>(),
                            s["line"].get<int>(), head, s["lock"].get<std::string>(), tables,
                            s.contains("note") ? "\n       " + s["note"].get<std::string>() : "")
                    .c_str());
    }
  }
  return core::exit_ok;
}

int run_lint(const migrate_options& o) {
  auto c = load(o, o.lint_files.empty());
  auto fail_on = mg::parse_severity(o.fail_on);
  if (!fail_on) throw core::command_error("--fail-on takes info, warning or error");
  if (!o.lint_files.empty()) {
    // Named files are linted after the directory's files they follow, so "existing table" holds:
    // the directory's files before the lowest named version, then the named files in version
    // order (in any order given: erasing what each one follows, in turn, dropped the files named
    // before a lower version, "lint 10_bad.sql 9_ok.sql" linted one file and passed).
    std::vector<mg::migration> all, named;
    try {
      all = mg::load_migrations(c.cfg.values.database.migrations_dir);
    } catch (const mg::error&) {
    }
    for (const auto& path : o.lint_files) {
      // A file named on the command line that is not there is a run that could not start (exit 2),
      // like a missing --dir, not a lint finding.
      std::error_code ec;
      if (std::filesystem::is_directory(path, ec))
        throw mg::error(fmt::format("cannot read {}: it is a directory (name .sql files, or use --dir)", path), "",
                        core::exit_usage);
      std::string content;
      try {
        content = core::read_file(path, std::size_t{1} << 30);  // data migrations can be large
      } catch (const core::command_error& e) {
        throw mg::error(e.what(), "", core::exit_usage);
      }
      auto slash = path.find_last_of('/');
      auto m = mg::parse_migration(slash == std::string::npos ? path : path.substr(slash + 1), content, path);
      for (const auto& other : named)
        if (other.version == m.version)
          throw mg::error(fmt::format("{} and {} both have version {}: lint one of them, or renumber", other.path,
                                      m.path, m.version),
                          "", core::exit_usage);
      named.push_back(std::move(m));
    }
    std::sort(named.begin(), named.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
    const int lowest = named.front().version;
    all.erase(std::remove_if(all.begin(), all.end(), [&](const mg::migration& x) { return x.version >= lowest; }),
              all.end());
    for (auto& m : named) all.push_back(std::move(m));
    c.files = std::move(all);
  }
  mg::lint_options lo;
  lo.lock_timeout = c.ro.lock_timeout;
  auto findings = mg::lint(c.files, lo);
  if (!o.lint_files.empty()) {
    std::vector<mg::finding> mine;
    for (auto& f : findings)
      if (std::find(o.lint_files.begin(), o.lint_files.end(), f.file) != o.lint_files.end()) mine.push_back(f);
    findings = std::move(mine);
  }
  int failing = 0;
  for (const auto& f : findings) failing += f.level >= *fail_on;
  if (o.format == "json") {
    json a = json::array();
    for (const auto& f : findings)
      a.push_back({{"file", f.file},
                   {"line", f.line},
                   {"rule", f.rule},
                   {"severity", std::string(mg::to_string(f.level))},
                   {"message", f.message},
                   {"safer", f.safer}});
    print_json(json{{"findings", a}, {"files", c.files.size()}, {"fail_on", o.fail_on}, {"ok", failing == 0}});
  } else {
    for (const auto& f : findings)
      std::puts(fmt::format("{}:{}: {} [{}] {}\n    safer: {}", f.file, f.line, mg::to_string(f.level), f.rule,
                            f.message, f.safer)
                    .c_str());
    std::puts(fmt::format("{} file{} linted, {} finding{} ({} at or above {})", c.files.size(),
                          c.files.size() == 1 ? "" : "s", findings.size(), findings.size() == 1 ? "" : "s", failing,
                          o.fail_on)
                  .c_str());
  }
  return failing ? core::exit_failed : core::exit_ok;
}

int run_baseline(const migrate_options& o) {
  auto c = load(o);
  auto v = version_flag(o.version, "--version");
  if (!v) throw core::command_error("baseline needs --version VERSION");
  mg::runner db(c.ro);
  auto recorded = db.baseline(c.files, *v);
  if (o.format == "json")
    print_json(json{{"baselined", recorded}, {"ok", true}});
  else
    std::puts(fmt::format("baselined {} migration{} up to version {} (recorded as applied, not run)", recorded.size(),
                          recorded.size() == 1 ? "" : "s", *v)
                  .c_str());
  return core::exit_ok;
}

int run_repair(const migrate_options& o) {
  auto c = load(o);
  mg::runner db(c.ro);
  auto changes = db.repair(c.files);
  if (o.format == "json") {
    print_json(json{{"changes", changes}, {"ok", true}});
  } else {
    for (const auto& l : changes) std::puts(l.c_str());
    if (changes.empty()) std::puts("nothing to repair");
  }
  return core::exit_ok;
}

// Prints a migrate error as one line plus its details; the exit code travels back to main.
int guarded(int (*fn)(const migrate_options&), const migrate_options& o) {
  auto report = [&o](const std::string& message, const std::string& details, int code) {
    std::fprintf(stderr, "zuperior: %s\n%s", message.c_str(), details.c_str());
    if (o.format == "json") print_json(json{{"ok", false}, {"error", message}, {"details", details}});
    return code;
  };
  try {
    return fn(o);
  } catch (const mg::error& e) {
    return report(e.what(), e.details(), e.code());
  } catch (const db::error& e) {
    // The runner's own statements refused (permission denied on the history's schema, a read-only
    // database, the connection lost): a failed run, exit 1 in the same shape. Such errors used to
    // reach main: exit 2, the driver's raw text, no JSON.
    std::string text = e.what();
    if (text.rfind("ERROR:  ", 0) == 0 || text.rfind("FATAL:  ", 0) == 0) text = text.substr(8);
    std::string details;
    for (const auto& line : core::split(text.substr(std::min(text.size(), text.find('\n'))), '\n', true))
      details += "    " + line + "\n";
    if (!e.statement().empty())
      details += "  statement: " + core::one_line(std::string_view(e.statement()).substr(0, 300)) + "\n";
    if (!e.sqlstate().empty()) details += "  SQLSTATE " + e.sqlstate() + "\n";
    return report("database error: " + text.substr(0, text.find('\n')), details, core::exit_failed);
  }
}

}  // namespace

runner setup_migrate(CLI::App& sub) {
  auto o = std::make_shared<migrate_options>();
  sub.require_subcommand(1);
  o->config.add_to(sub);
  auto common = [o](CLI::App& a) {
    a.add_option("--database-url", o->database_url, "PostgreSQL URL (default: DATABASE_URL / database.url)");
    a.add_option("--dir", o->dir, "Migrations directory (default: database.migrations_dir)");
    a.add_option("--history-table", o->history_table, "History table, table or schema.table (database.history_table)");
    a.add_option("--wait-for-db", o->wait_for_db, "Keep retrying the first connection this long (default 0s)");
    a.add_option("--format", o->format, "Output format")->check(CLI::IsMember({"text", "json"}));
    a.add_flag("--quiet", o->quiet, "No progress lines");
  };
  auto live = [o](CLI::App& a) {
    a.add_option("--lock-timeout", o->lock_timeout, "lock_timeout of every statement (database.lock_timeout)");
    a.add_option("--statement-timeout", o->statement_timeout,
                 "statement_timeout of every statement, 0 = none (database.migration_statement_timeout)");
    a.add_option("--lock-wait", o->lock_wait, "How long to wait for another migrate's lock (default 60s)");
    a.add_option("--retries", o->retries, "Retries of a statement after a lock timeout (default 5)")
        ->check(CLI::Range(0, 100));
    a.add_option("--retry-backoff", o->retry_backoff, "First retry delay, doubled each time up to 30s (default 1s)");
  };
  sub.fallthrough(true);
  auto* up = sub.add_subcommand("up", "Apply pending migrations (and resume or retry failed ones)");
  common(*up);
  live(*up);
  up->add_option("--to", o->to, "Stop after this version");
  up->add_flag("--out-of-order", o->out_of_order, "Also apply pending files older than the newest applied one");
  auto* status = sub.add_subcommand("status", "Applied, pending, failed and changed migrations");
  common(*status);
  auto* plan = sub.add_subcommand("plan", "Dry run: the statements `up` would run, their transaction mode and locks");
  common(*plan);
  live(*plan);
  plan->add_option("--to", o->to, "Stop after this version");
  auto* lint = sub.add_subcommand("lint", "Find DDL that is dangerous on a live database");
  common(*lint);
  live(*lint);
  lint->add_option("--fail-on", o->fail_on, "Exit 1 on findings at or above: info, warning, error (default warning)")
      ->check(CLI::IsMember({"info", "warning", "error"}));
  lint->add_option("files", o->lint_files, "Lint these files (default: every file of the migrations directory)");
  auto* baseline =
      sub.add_subcommand("baseline", "Adopt an existing database: mark migrations applied without running them");
  common(*baseline);
  live(*baseline);
  baseline->add_option("--version", o->version, "Last version the database already has")->required();
  auto* repair = sub.add_subcommand("repair", "Accept changed checksums and clear failed entries");
  common(*repair);
  live(*repair);
  for (auto* s : {up, status, plan, lint, baseline, repair}) s->fallthrough(true);
  return [o, up, status, plan, lint, baseline, repair]() -> int {
    if (up->parsed()) return guarded(run_up, *o);
    if (status->parsed()) return guarded(run_status, *o);
    if (plan->parsed()) return guarded(run_plan, *o);
    if (lint->parsed()) return guarded(run_lint, *o);
    if (baseline->parsed()) return guarded(run_baseline, *o);
    if (repair->parsed()) return guarded(run_repair, *o);
    return core::exit_usage;
  };
}

}  // namespace zuperior::cmd
