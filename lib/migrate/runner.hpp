#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "migrate/migration.hpp"
#include "migrate/plan.hpp"

namespace zuperior::db {
class session;
}

namespace zuperior::migrate {

using std::chrono::milliseconds;

/// How the runner reaches the database and behaves on a live one.
struct runner_options {
  std::string database_url;
  milliseconds connect_timeout{10'000};
  milliseconds wait_for_db{0};                            // keep retrying the first connection this long
  std::string history_table = "zuperior_schema_history";  // "table" or "schema.table"
  milliseconds lock_timeout{5'000};                       // per statement; 0 = none
  milliseconds statement_timeout{0};                      // per statement; 0 = none
  milliseconds lock_wait{60'000};                         // waiting for another `migrate`
  int retries = 5;                                        // after a lock timeout
  milliseconds retry_backoff{1'000};                      // doubled per retry, capped at 30s
  std::function<void(const std::string&)> progress;       // one line per event
  const std::atomic<bool>* cancelled = nullptr;           // set (by a signal) to stop between steps
  bool out_of_order = false;                              // apply pending files below applied ones
};

/// What `up` did to one file.
struct applied_file {
  int version = 0;
  std::string file;
  std::string mode;
  std::size_t statements = 0;
  std::size_t resumed_from = 0;
  long long execution_ms = 0;
};

/// The database side of `migrate`: history table, advisory lock, applying, baseline, repair.
/// Every failure is a migrate::error (one line + details), thrown after the history records it.
class runner {
 public:
  /// Connects (retrying up to wait_for_db); throws migrate::error with exit code 2 when it cannot.
  explicit runner(runner_options options);
  ~runner();
  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;

  /// The history rows (empty when the table does not exist yet).
  std::vector<history_entry> history();
  /// Applies pending and failed files up to `to`, holding the migration lock.
  std::vector<applied_file> up(const std::vector<migration>& files, std::optional<int> to);
  /// Marks files up to `version` applied without running them, after checking their tables,
  /// columns and indexes exist. Returns the versions recorded.
  std::vector<int> baseline(const std::vector<migration>& files, int version);
  /// Accepts changed checksums and clears failed entries; returns one line per change.
  std::vector<std::string> repair(const std::vector<migration>& files);
  /// The server pid running another `migrate`'s statements while it holds the migration lock (the
  /// pid of its lock connection when its work connection is not found), or nullopt.
  std::optional<int> running_pid();
  /// INVALID indexes a failed REINDEX CONCURRENTLY left ("<index>_ccnew", "_ccold"), one line each.
  std::vector<std::string> leftover_reindex_indexes();
  /// The advisory-lock key this history table's migrations use (from its schema-qualified name).
  std::int64_t lock_key() const { return lock_key_; }
  /// The history table as schema.table, whatever the spelling it was given in.
  const std::string& history_table() const { return qualified_; }
  /// The server process running the statements (for pg_cancel_backend from another connection).
  int work_pid() const { return work_pid_; }

 private:
  void connect_all();
  void qualify_history_table();
  void apply_session_settings();
  void reset_session();
  bool cancelled() const { return o_.cancelled && o_.cancelled->load(); }
  void acquire_lock();
  void release_lock();
  void check_lock();
  void ensure_history();
  void set_timeouts(const migration& m, bool local, bool no_lock_timeout = false);
  std::string blockers(const std::vector<std::string>& tables);
  std::string lock_holders();
  void drop_reindex_leftovers(const std::vector<token>& reindex);
  applied_file apply_transactional(const migration& m);
  applied_file apply_no_transaction(const migration& m, std::size_t first);
  bool record(const migration& m, bool success, int done, const std::string& done_checksum, const statement* failed,
              const std::string& error, long long ms);
  bool sleep_backoff(int attempt, const std::string& what);

  runner_options o_;
  std::string table_;      // quoted and schema-qualified, once connected ("public"."zuperior_schema_history")
  std::string schema_;     // the quoted schema history_table names, or "" (then the table's schema exists)
  std::string qualified_;  // unquoted schema.table: what the lock key and messages use
  std::int64_t lock_key_ = 0;
  int work_pid_ = 0;
  std::unique_ptr<db::session> work_;
  std::unique_ptr<db::session> lock_;
  bool locked_ = false;
};

/// Quotes "schema.table" as identifiers ("schema"."table"); throws migrate::error when malformed.
std::string quote_table_name(std::string_view name, std::string* quoted_schema = nullptr);

}  // namespace zuperior::migrate
