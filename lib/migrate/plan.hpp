#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "migrate/migration.hpp"

namespace zuperior::migrate {

/// One row of the history table.
struct history_entry {
  int version = 0;
  std::string description;
  std::string script;
  std::string checksum;
  std::string mode;  // "transaction" | "no-transaction" | "baseline"
  bool success = false;
  int statements_done = 0;
  int statements_total = 0;
  std::string done_checksum;  // prefix_checksum of the done statements (no-transaction files)
  std::string failed_statement;
  int failed_line = 0;
  std::string error;
  std::string applied_by;
  std::string applied_at;
  long long execution_ms = 0;
};

/// Where one version stands.
enum class state { applied, baselined, pending, failed, changed, missing_file, running };

/// "applied", "baselined", "pending", "failed", "changed", "missing-file", "running".
std::string_view to_string(state s);

/// One version's status: its file (if any), its history entry (if any) and what that means.
struct status_row {
  int version = 0;
  std::string description;
  state st = state::pending;
  const migration* file = nullptr;
  std::optional<history_entry> entry;
  std::string note;           // e.g. "failed at statement 3 of 5", "checksum changed"
  bool out_of_order = false;  // pending, below a version already applied
};

/// Joins files and history by version, in version order.
std::vector<status_row> compute_status(const std::vector<migration>& files, const std::vector<history_entry>& history);

/// Marks the entries another `migrate up` (server pid `pid`, holding the migration lock) is
/// applying right now as running: an entry it started and has not finished looks like one
/// interrupted after a crash.
void mark_running(std::vector<status_row>& status, int pid);

/// One file `up` will run: from which statement, and why.
struct plan_step {
  const migration* file = nullptr;
  std::size_t first_statement = 0;  // > 0 when resuming a failed no-transaction file
  bool retry = false;               // a failed entry is being retried
};

/// What `up --to` would run. Throws migrate::error (before anything runs) for a changed
/// checksum, a CONCURRENTLY statement in a transactional file, a failed no-transaction file
/// whose already-applied statements were edited, or (unless `out_of_order`) a pending file below
/// a version already applied.
std::vector<plan_step> plan_up(const std::vector<status_row>& status, std::optional<int> to = std::nullopt,
                               bool out_of_order = false);

/// Throws migrate::error when an applied file's checksum changed (what `validate` checks).
void validate(const std::vector<status_row>& status);

/// Throws migrate::error naming the first statement that cannot run in a transaction
/// (CONCURRENTLY, VACUUM, …) when `m` does not opt out of one.
void check_transaction_mode(const migration& m);

}  // namespace zuperior::migrate
