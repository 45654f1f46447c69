#include "api/blocking.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "db/session.hpp"

namespace zuperior::api {
namespace {

struct thread_conn {
  std::unique_ptr<db::session> session;
};
thread_local thread_conn tls;

// Settings the pool threads read when they connect; written once before the threads start.
struct conn_settings {
  std::string url;
  std::chrono::milliseconds connect_timeout{};
  std::chrono::milliseconds statement_timeout{};
  pool_stats* stats = nullptr;
};
conn_settings g_conn;

thread_local std::chrono::steady_clock::time_point job_started;

}  // namespace

db::session& db_access::session() {
  if (tls.session && !tls.session->is_open()) {
    tls.session.reset();
    if (g_conn.stats) g_conn.stats->connections.fetch_sub(1, std::memory_order_relaxed);
  }
  if (!tls.session) {
    auto s = db::session::connect(g_conn.url, g_conn.connect_timeout);
    if (g_conn.statement_timeout.count() > 0)
      s->query(fmt::format("SET statement_timeout = {}", g_conn.statement_timeout.count()));
    tls.session = std::move(s);
    if (g_conn.stats) g_conn.stats->connections.fetch_add(1, std::memory_order_relaxed);
  }
  return *tls.session;
}

blocking_pool::blocking_pool(std::string database_url, std::size_t threads, std::chrono::milliseconds connect_timeout,
                             std::chrono::milliseconds statement_timeout, std::chrono::milliseconds pool_timeout)
    : pool_(threads ? threads : 1), size_(threads ? threads : 1), pool_timeout_(pool_timeout) {
  g_conn.url = std::move(database_url);
  g_conn.connect_timeout = connect_timeout;
  g_conn.statement_timeout = statement_timeout;
  g_conn.stats = &stats_;
}

blocking_pool::~blocking_pool() {
  pool_.join();
  g_conn.stats = nullptr;
}

bool blocking_pool::begin(std::chrono::steady_clock::time_point enqueued, http::errc& error, std::string& detail) {
  auto now = std::chrono::steady_clock::now();
  stats_.waiting.fetch_sub(1, std::memory_order_relaxed);
  stats_.jobs.fetch_add(1, std::memory_order_relaxed);
  stats_.wait_us_total.fetch_add(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - enqueued).count()),
      std::memory_order_relaxed);
  if (now - enqueued > pool_timeout_) {
    stats_.timeouts.fetch_add(1, std::memory_order_relaxed);
    error = http::errc::unavailable;
    detail = "waited longer than pool_timeout for a database connection";
    return false;
  }
  stats_.busy.fetch_add(1, std::memory_order_relaxed);
  job_started = now;
  return true;
}

void blocking_pool::end() {
  stats_.busy.fetch_sub(1, std::memory_order_relaxed);
  stats_.query_us_total.fetch_add(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                                 std::chrono::steady_clock::now() - job_started)
                                                                 .count()),
                                  std::memory_order_relaxed);
}

void blocking_pool::classify(std::exception_ptr e, http::errc& error, std::string& detail) {
  try {
    std::rethrow_exception(e);
  } catch (const db::error& ex) {
    detail = ex.what();
    if (ex.sqlstate() == "23505") {
      error = http::errc::conflict;
      return;
    }
    stats_.failures.fetch_add(1, std::memory_order_relaxed);
    // Connection failures, statement timeouts, server shutting down: the database is unavailable.
    error = http::errc::unavailable;
    if (ex.sqlstate().empty() || ex.sqlstate().starts_with("08") || ex.sqlstate().starts_with("57")) {
      if (tls.session) {
        tls.session.reset();
        stats_.connections.fetch_sub(1, std::memory_order_relaxed);
      }
    }
  } catch (const std::exception& ex) {
    error = http::errc::internal;
    detail = ex.what();
  }
}

}  // namespace zuperior::api
