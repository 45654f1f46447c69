#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::db {

/// A failed database operation: the server's message plus its SQLSTATE when there is one.
class error : public std::runtime_error {
 public:
  error(const std::string& message, std::string sqlstate = {}, std::string statement = {})
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)), statement_(std::move(statement)) {}
  /// Five-character SQLSTATE ("" for connection failures).
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  /// The statement that failed, if any.
  const std::string& statement() const noexcept { return statement_; }
  /// True for a lock_timeout cancellation (55P03) or deadlock (40P01).
  bool lock_conflict() const noexcept { return sqlstate_ == "55P03" || sqlstate_ == "40P01"; }

 private:
  std::string sqlstate_;
  std::string statement_;
};

/// A text parameter; nullopt is SQL NULL.
using param = std::optional<std::string>;
/// One result row, every field as text (nullopt for NULL).
using row = std::vector<std::optional<std::string>>;

/// The rows of one statement.
struct result {
  std::vector<std::string> columns;
  std::vector<row> rows;
  std::size_t affected = 0;
};

/// The forms the password of `database_url` can take in a message: as written and percent-decoded,
/// from the user-info part and from a password= parameter. Empty when the URL has none.
std::vector<std::string> password_forms(std::string_view database_url);
/// `text` with each of `secrets` replaced by core::redacted (one shorter than 4 characters only where
/// it stands alone, so ordinary words survive), and URL-shaped passwords masked (core::redact_url).
std::string redact_secrets(std::string_view text, const std::vector<std::string>& secrets);

/// One blocking connection to PostgreSQL, used by the control-plane tools and by the pool's own
/// threads (never by a network thread). Statements run in autocommit unless begin() was called.
class session {
 public:
  /// Connects to a DATABASE_URL (Prisma parameters understood); throws db::error.
  static std::unique_ptr<session> connect(const std::string& database_url, std::chrono::milliseconds connect_timeout);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// Runs one statement (or a parameterless multi-statement script) with text parameters.
  result query(std::string_view sql, const std::vector<param>& params = {});
  /// Runs a statement and returns the first field of the first row, if any.
  std::optional<std::string> scalar(std::string_view sql, const std::vector<param>& params = {});
  /// The server's version string ("15.18").
  std::string server_version();
  /// Why this server takes no writes (a standby, or default_transaction_read_only), or nullopt.
  std::optional<std::string> read_only_reason();
  /// The backend process id of this connection.
  int backend_pid();
  /// Whether the connection is still open.
  bool is_open() const;
  /// Notices (NOTICE/WARNING) the server sent since the last call.
  std::vector<std::string> take_notices();

 private:
  struct impl;
  explicit session(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace zuperior::db
