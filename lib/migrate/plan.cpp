#include "migrate/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "migrate/error.hpp"

namespace zuperior::migrate {

std::string_view to_string(state s) {
  switch (s) {
    case state::applied:
      return "applied";
    case state::baselined:
      return "baselined";
    case state::pending:
      return "pending";
    case state::failed:
      return "failed";
    case state::changed:
      return "changed";
    case state::missing_file:
      return "missing-file";
    case state::running:
      return "running";
  }
  return "?";
}

std::vector<status_row> compute_status(const std::vector<migration>& files, const std::vector<history_entry>& history) {
  std::map<int, status_row> rows;
  for (const auto& f : files) {
    auto& r = rows[f.version];
    r.version = f.version;
    r.description = f.description;
    r.file = &f;
  }
  for (const auto& h : history) {
    auto& r = rows[h.version];
    r.version = h.version;
    if (r.description.empty()) r.description = h.description;
    r.entry = h;
  }
  // A file added below the newest applied version (a branch merged late) would run after the
  // migrations that follow it, which were written without it: said, and `up` asks for consent.
  int newest_applied = -1;
  for (const auto& h : history)
    if (h.success) newest_applied = std::max(newest_applied, h.version);
  std::vector<status_row> out;
  for (auto& [v, r] : rows) {
    if (!r.entry) {
      r.st = state::pending;
      if (r.version < newest_applied) {
        r.out_of_order = true;
        r.note = fmt::format("out of order: version {} is applied already", newest_applied);
      }
    } else if (!r.file) {
      r.st = state::missing_file;
      r.note = "in the history but its file is gone";
    } else if (!r.entry->success) {
      r.st = state::failed;
      if (r.entry->error.empty())
        r.note =
            fmt::format("interrupted after statement {} of {}", r.entry->statements_done, r.entry->statements_total);
      else if (r.entry->mode == "no-transaction")
        r.note = fmt::format("failed at statement {} of {} (line {}); the next `up` resumes there",
                             r.entry->statements_done + 1, r.entry->statements_total, r.entry->failed_line);
      else
        r.note = fmt::format("failed at line {}, rolled back; the next `up` retries it", r.entry->failed_line);
      if (r.entry->checksum != r.file->checksum) r.note += "; the file changed since";
    } else if (r.entry->checksum != r.file->checksum) {
      r.st = state::changed;
      r.note = fmt::format("checksum changed since it was applied ({}… now {}…)", r.entry->checksum.substr(0, 12),
                           r.file->checksum.substr(0, 12));
    } else {
      r.st = r.entry->mode == "baseline" ? state::baselined : state::applied;
    }
    out.push_back(std::move(r));
  }
  return out;
}

void mark_running(std::vector<status_row>& status, int pid) {
  for (auto& r : status) {
    // Started and not finished: no error recorded yet (a failure records one).
    if (r.st != state::failed || !r.entry->error.empty()) continue;
    r.st = state::running;
    r.note = fmt::format("running (pid {}): {} of {} statements done", pid, r.entry->statements_done,
                         r.entry->statements_total);
  }
}

void validate(const std::vector<status_row>& status) {
  std::string details;
  int n = 0;
  for (const auto& r : status)
    if (r.st == state::changed) {
      ++n;
      details += fmt::format("  {}: {}\n", r.file->path, r.note);
    }
  if (n)
    throw error(fmt::format("{} applied migration{} changed on disk; refusing to run (restore the file, or accept it "
                            "with `zuperior migrate repair`)",
                            n, n == 1 ? "" : "s"),
                details);
}

void check_transaction_mode(const migration& m) {
  if (!m.encoding_error.empty()) throw error(m.encoding_error + " (nothing was run)");
  if (!m.header_error.empty()) throw error(m.header_error + " (nothing was run)");
  if (!m.transactional) return;
  for (const auto& s : m.statements) {
    auto t = tokenize(s.text);
    // The file's own BEGIN/COMMIT would end the transaction the file runs in: what followed ran
    // on its own, and a failure after it left the file half applied while its history said "rolled
    // back" (and the next `up` ran it again).
    if (auto tc = transaction_control(t); !tc.empty())
      throw error(fmt::format("{}:{}: {} in a file that runs in one transaction: the file is one transaction "
                              "already; remove it, or put \"-- zuperior:no-transaction\" in the header and manage "
                              "transactions yourself (nothing was run)",
                              m.path, s.line, tc),
                  fmt::format("  statement: {}\n", s.text.substr(0, 200)));
    if (auto why = needs_no_transaction(t, analyze(s.text)); !why.empty())
      throw error(fmt::format("{}:{}: {} cannot run inside a transaction, and this file runs in one; add "
                              "\"-- zuperior:no-transaction\" to its header (nothing was run)",
                              m.path, s.line, why),
                  fmt::format("  statement: {}\n", s.text.substr(0, 200)));
  }
}

std::vector<plan_step> plan_up(const std::vector<status_row>& status, std::optional<int> to, bool out_of_order) {
  validate(status);
  if (!out_of_order) {
    std::string names, details;
    int n = 0;
    for (const auto& r : status)
      if (r.out_of_order && (!to || r.version <= *to)) {
        names += (n++ ? ", " : "") + r.file->file_name;
        details += fmt::format("  {}: {}\n", r.file->path, r.note);
      }
    if (n)
      throw error(fmt::format("{} {} pending below an applied version: {} would run after migrations written without "
                              "{}; refusing (check, then pass --out-of-order; nothing was run)",
                              names, n == 1 ? "is" : "are", n == 1 ? "it" : "they", n == 1 ? "it" : "them"),
                  details);
  }
  std::vector<plan_step> steps;
  for (const auto& r : status) {
    if (to && r.version > *to) break;
    if (r.st != state::pending && r.st != state::failed) continue;
    const auto& m = *r.file;
    check_transaction_mode(m);
    plan_step step{&m, 0, r.st == state::failed};
    // A file that failed part-way without a transaction and has since lost its no-transaction
    // header would run from its first statement, in one transaction: the statements already
    // applied again (an UPDATE twice). The mode it ran in decides, not the one it has now.
    if (r.st == state::failed && m.transactional && r.entry->mode == "no-transaction" && r.entry->statements_done > 0)
      throw error(fmt::format("{}: {} statement{} of this file were applied, without a transaction, before it "
                              "failed; the file now runs in one transaction and would run them again; refusing",
                              m.path, r.entry->statements_done, r.entry->statements_done == 1 ? "" : "s"),
                  "  put \"-- zuperior:no-transaction\" back in its header to resume where it failed, or undo those "
                  "statements by hand and run `zuperior migrate repair` to clear the failed entry\n");
    if (r.st == state::failed && !m.transactional && r.entry->statements_done > 0) {
      auto done = static_cast<std::size_t>(r.entry->statements_done);
      if (done > m.statements.size() || prefix_checksum(m, done) != r.entry->done_checksum)
        throw error(fmt::format("{}: {} statement{} of this file were applied before it failed, and they changed "
                                "since; refusing to resume",
                                m.path, done, done == 1 ? "" : "s"),
                    "  restore the file, or undo those statements by hand and run `zuperior migrate repair` to clear "
                    "the failed entry\n");
      step.first_statement = done;
    }
    steps.push_back(step);
  }
  return steps;
}

}  // namespace zuperior::migrate
