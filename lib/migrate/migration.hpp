#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "migrate/sql.hpp"

namespace zuperior::migrate {

/// One migration file, parsed: NNNN_description.sql with optional header directives.
struct migration {
  int version = 0;
  std::string version_text;  // as in the file name ("0002")
  std::string description;   // "user indexes"
  std::string file_name;     // "0002_user_indexes.sql"
  std::string path;
  std::string checksum;  // sha256 of the file's bytes, hex
  bool transactional = true;
  std::optional<std::chrono::milliseconds> lock_timeout;       // -- zuperior:lock-timeout 2s
  std::optional<std::chrono::milliseconds> statement_timeout;  // -- zuperior:statement-timeout 10m
  std::vector<statement> statements;
  // Set when the file is not UTF-8 ("0001_a.sql:2: not UTF-8 (byte 0xE9 at offset 53); …"): such a
  // file is refused when it is to run, and lint reports it; one applied long ago (its comments
  // never reached the server) does not stop every later command.
  std::string encoding_error;
  // Set for an unknown or malformed "-- zuperior:" directive, with its line; treated the same way.
  std::string header_error;
};

/// Parses "0002_user_indexes.sql" into version 2 and "user indexes"; nullopt when it does not match.
std::optional<std::pair<int, std::string>> parse_file_name(std::string_view name);

/// Parses one file's content (header directives, statements, checksum). Throws migrate::error
/// naming the file for an empty file, an unknown directive or unterminated SQL.
migration parse_migration(std::string_view file_name, std::string_view content, std::string path = {});

/// Loads every *.sql of `dir` in version order. Throws migrate::error for a missing directory, an
/// unreadable file, a name without a version, a duplicate version or an unparsable file. Files that
/// look like migrations but are skipped ("0001_a.SQL") are added to `warnings`, one line each.
std::vector<migration> load_migrations(const std::string& dir, std::vector<std::string>* warnings = nullptr);

/// Hex sha256 of `data`.
std::string sha256_hex(std::string_view data);

/// sha256 of the first `n` statements' texts, to tell whether a resumed file's done part changed.
std::string prefix_checksum(const migration& m, std::size_t n);

/// prefix_checksum of a growing prefix, one statement at a time: hashing each prefix afresh was
/// quadratic in the file's statements (21 s of CPU for 16k of them).
class prefix_hasher {
 public:
  prefix_hasher();
  ~prefix_hasher();
  prefix_hasher(const prefix_hasher&) = delete;
  prefix_hasher& operator=(const prefix_hasher&) = delete;
  /// Adds the next statement of the prefix.
  void add(const statement& s);
  /// prefix_checksum of the statements added so far.
  std::string hex() const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

/// The offset of the first byte of `text` that is not part of well-formed UTF-8, or nullopt.
std::optional<std::size_t> invalid_utf8_at(std::string_view text);
/// `text` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD.
std::string to_valid_utf8(std::string_view text);

}  // namespace zuperior::migrate
