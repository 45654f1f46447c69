#pragma once
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "db/session.hpp"

namespace zuperior::config {
struct settings;
}

namespace zuperior::db {

namespace detail {
struct pool_shared;
}

/// Why a pooled query failed. Returned in query_result::ec, never thrown.
enum class pool_errc {
  pool_timeout = 1,   // no connection became free within pool_timeout (HTTP 503)
  unavailable,        // cannot connect to PostgreSQL (or it failed moments ago) (HTTP 503)
  statement_timeout,  // the statement ran past statement_timeout (SQLSTATE 57014)
  query_failed,       // the server rejected the statement; see sqlstate/message
  connection_lost,    // the connection broke during the statement; it may or may not have run
  unknown_statement,  // exec_prepared() with a name that was never registered
  shutting_down,      // the pool was stopped
};

/// The error category of pool_errc ("db.pool").
const boost::system::error_category& pool_category() noexcept;
/// Makes an error_code from a pool_errc.
boost::system::error_code make_error_code(pool_errc e) noexcept;
/// True for the errors that mean "the database is not available now" (503 rather than 500).
bool is_unavailable(const boost::system::error_code& ec) noexcept;

/// True for a SQLSTATE that says the server cannot do this now, not that the statement is wrong:
/// read-only (a standby, or default_transaction_read_only), shutting down or starting up, out of
/// resources (disk, memory, connections), a connection failure. Such a failure is a 503, not a 500.
bool sqlstate_means_unavailable(std::string_view sqlstate) noexcept;

/// The outcome of a pooled statement (or transaction).
struct query_result {
  boost::system::error_code ec;
  std::string sqlstate;  // five characters when the server reported the error
  std::string message;   // the server's message (no secrets), empty on success
  result value;          // rows of the statement (the last one of a transaction)
  /// True on success.
  explicit operator bool() const noexcept { return !ec; }
};

/// One statement of a transaction(): SQL text, or the name of a registered prepared statement.
struct statement {
  std::string sql;
  std::vector<param> params;
  bool prepared = false;  // `sql` is a prepared statement's name
};

/// What a with_transaction() callback uses; blocking, runs on a pool thread, throws db::error.
class tx {
 public:
  /// Runs SQL text with parameters inside the transaction.
  result query(std::string_view sql, const std::vector<param>& params = {});
  /// Runs a registered prepared statement inside the transaction.
  result exec_prepared(const std::string& name, const std::vector<param>& params = {});

 private:
  friend class pool;
  struct impl;
  explicit tx(impl* p) : impl_(p) {}
  impl* impl_;
};

/// Sizing and timeouts of the pool.
struct pool_options {
  std::string url;  // DATABASE_URL (Prisma's query parameters understood)
  std::uint32_t size = 20;
  std::chrono::milliseconds pool_timeout{10'000};
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds statement_timeout{5'000};  // 0 = none
  std::chrono::milliseconds retry_interval{1'000};     // after a failed connect, fail fast this long
  bool register_metrics = true;                        // zuperior_db_pool_* in metrics::default_registry()

  /// The options of the configured database (database.url, pool_size, pool_timeout, …).
  static pool_options from(const config::settings& s);
};

/// Figures for /metrics (a consistent-enough snapshot).
struct pool_stats {
  std::uint32_t size = 0;      // the most connections the pool opens
  std::uint32_t open = 0;      // connections currently open
  std::uint32_t in_use = 0;    // running a statement
  std::uint32_t idle = 0;      // open and free
  std::uint32_t waiting = 0;   // requests queued for a connection
  std::uint64_t queries = 0;   // completed requests (successful or not)
  std::uint64_t errors = 0;    // requests that failed (any pool_errc)
  std::uint64_t timeouts = 0;  // pool_timeout failures
  std::uint64_t connects = 0;  // connections opened
  double wait_seconds = 0;     // total time requests waited for a connection
  double query_seconds = 0;    // total time spent running requests
};

/// A bounded PostgreSQL pool: `size` threads, each owning one connection opened on first use and
/// re-opened after a failure. Callers await from any single-threaded executor; the blocking work
/// runs on the pool's threads and the result is delivered back on the caller's executor.
class pool : public std::enable_shared_from_this<pool> {
 public:
  /// Starts the threads (connections open lazily); throws std::invalid_argument on a bad size/URL.
  static std::shared_ptr<pool> create(const pool_options& opts);
  ~pool();
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  /// Registers a prepared statement (at startup); it is prepared on each connection at first use.
  void prepare(std::string name, std::string sql);
  /// Runs SQL text with parameters ($1, $2, …) in autocommit.
  boost::asio::awaitable<query_result> query(std::string sql, std::vector<param> params = {});
  /// Runs a registered prepared statement in autocommit.
  boost::asio::awaitable<query_result> exec_prepared(std::string name, std::vector<param> params = {});
  /// Runs the statements in one transaction (all or nothing); the result is the last statement's.
  boost::asio::awaitable<query_result> transaction(std::vector<statement> statements);
  /// Runs `fn` in one transaction on a pool thread: committed when it returns, rolled back when it
  /// throws (a db::error's SQLSTATE is reported). `fn` must not touch the caller's loop.
  boost::asio::awaitable<query_result> with_transaction(std::function<result(tx&)> fn);
  /// Fails queued requests with shutting_down, lets running ones finish, joins the threads.
  void stop();
  /// Current figures.
  pool_stats stats() const;
  /// The configured options.
  const pool_options& options() const noexcept { return opts_; }

 private:
  explicit pool(pool_options opts);
  boost::asio::awaitable<query_result> submit(std::function<query_result(void*)> work);

  pool_options opts_;
  std::shared_ptr<detail::pool_shared> shared_;
};

}  // namespace zuperior::db

template <>
struct boost::system::is_error_code_enum<zuperior::db::pool_errc> : std::true_type {};
