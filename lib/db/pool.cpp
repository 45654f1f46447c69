#include "db/pool.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <pqxx/pqxx>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "config/settings.hpp"
#include "core/redact.hpp"
#include "core/strings.hpp"
#include "db/conninfo.hpp"
#include "metrics/registry.hpp"

namespace zuperior::db {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

class category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "db.pool"; }
  std::string message(int ev) const override {
    switch (static_cast<pool_errc>(ev)) {
      case pool_errc::pool_timeout:
        return "no database connection became free in time";
      case pool_errc::unavailable:
        return "the database is unavailable";
      case pool_errc::statement_timeout:
        return "the statement exceeded statement_timeout";
      case pool_errc::query_failed:
        return "the statement failed";
      case pool_errc::connection_lost:
        return "the database connection was lost during the statement";
      case pool_errc::unknown_statement:
        return "unknown prepared statement";
      case pool_errc::shutting_down:
        return "the database pool is shutting down";
    }
    return "unknown database pool error";
  }
};

enum job_state : int { queued, running, finished, abandoned };

struct unknown_statement_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `secrets`: the forms of the URL's password (db::password_forms), which libpq may quote in a
// connection error whatever their shape ("invalid percent-encoded token: ...").
std::string clean_message(const std::exception& e, const std::vector<std::string>& secrets) {
  std::string msg = e.what();
  // pqxx appends the query text; the statement is not repeated in results or logs.
  if (auto pos = msg.find("\nQuery was:"); pos != std::string::npos) msg.resize(pos);
  // An integrity violation's detail quotes the data: a NOT NULL or CHECK violation the whole row
  // (on a register INSERT the e-mail, the phone and the password hash), a unique violation the key
  // (an e-mail). Values may hold newlines and the server may speak another language, so everything
  // after the first line (which names the column or the constraint) is withheld.
  if (auto* s = dynamic_cast<const pqxx::sql_error*>(&e); s && s->sqlstate().rfind("23", 0) == 0) {
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.replace(nl, std::string::npos, " (details withheld)");
  }
  return redact_secrets(core::one_line(msg), secrets);  // libpq's DETAIL/HINT lines: one log line
}

result to_result(const pqxx::result& r) {
  result out;
  out.affected = r.affected_rows();
  for (pqxx::row::size_type c = 0; c < r.columns(); ++c) out.columns.emplace_back(r.column_name(c));
  out.rows.reserve(r.size());
  for (const auto& row : r) {
    db::row values;
    values.reserve(row.size());
    for (const auto& f : row)
      values.push_back(f.is_null() ? std::nullopt : std::optional<std::string>(std::in_place, f.c_str(), f.size()));
    out.rows.push_back(std::move(values));
  }
  return out;
}

std::vector<const char*> raw_params(const std::vector<param>& params) {
  std::vector<const char*> raw;
  raw.reserve(params.size());
  for (const auto& p : params) raw.push_back(p ? p->c_str() : nullptr);
  return raw;
}

}  // namespace

const boost::system::error_category& pool_category() noexcept {
  static const category_impl c;
  return c;
}

boost::system::error_code make_error_code(pool_errc e) noexcept { return {static_cast<int>(e), pool_category()}; }

bool is_unavailable(const boost::system::error_code& ec) noexcept {
  return ec == pool_errc::pool_timeout || ec == pool_errc::unavailable || ec == pool_errc::statement_timeout ||
         ec == pool_errc::connection_lost || ec == pool_errc::shutting_down;
}

bool sqlstate_means_unavailable(std::string_view st) noexcept {
  if (st.size() != 5) return false;
  const auto cls = st.substr(0, 2);
  return st == "25006"   // read_only_sql_transaction
         || cls == "53"  // insufficient_resources: disk_full, out_of_memory, too_many_connections
         || cls == "08"  // connection_exception
         || st == "57P01" || st == "57P02" || st == "57P03";  // admin/crash shutdown, cannot_connect_now
}

pool_options pool_options::from(const config::settings& s) {
  pool_options o;
  o.url = s.database.url;
  o.size = s.database.pool_size;
  o.pool_timeout = s.database.pool_timeout;
  o.connect_timeout = s.database.connect_timeout;
  o.statement_timeout = s.database.statement_timeout;
  return o;
}

namespace detail {

// One connection, owned by one pool thread.
struct pool_slot {
  std::unique_ptr<pqxx::connection> conn;
  std::unordered_set<std::string> prepared;  // defined on this connection
};

struct pool_job {
  explicit pool_job(const asio::any_io_executor& e) : ex(e), timer(e) {}
  asio::any_io_executor ex;
  asio::steady_timer timer;  // used on `ex` only: the completion post cancels it
  std::function<query_result(void*)> work;
  std::atomic<int> state{queued};
  clock::time_point enqueued;
  query_result out;
  bool completed = false;  // set on `ex`
  // The caller stopped waiting for the running job and counted the error itself (connection_lost).
  std::atomic<bool> caller_gave_up{false};
};

}  // namespace detail

using detail::pool_job;
using detail::pool_slot;

struct detail::pool_shared {
  pool_options opts;
  std::string libpq_url;
  std::vector<std::string> secrets;  // the forms of the URL's password, taken out of messages
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<pool_job>> queue;
  bool stopping = false;
  std::vector<std::thread> threads;
  std::vector<pool_slot> slots;

  std::shared_mutex stmt_mu;
  std::unordered_map<std::string, std::string> statements;

  std::mutex down_mu;
  clock::time_point down_until{};  // fail fast (no connect attempt) until then
  unsigned connect_failures = 0;

  std::atomic<std::uint32_t> open{0}, in_use{0}, waiting{0};
  std::atomic<std::uint64_t> queries{0}, errors{0}, timeouts{0}, connects{0};
  std::atomic<std::uint64_t> wait_ns{0}, query_ns{0};

  metrics::histogram* wait_hist = nullptr;
  metrics::histogram* query_hist = nullptr;
  metrics::counter_family* error_family = nullptr;

  void count_error(const boost::system::error_code& ec) {
    errors.fetch_add(1, std::memory_order_relaxed);
    if (!error_family) return;
    static const char* kinds[] = {"",
                                  "pool_timeout",
                                  "unavailable",
                                  "statement_timeout",
                                  "query_failed",
                                  "connection_lost",
                                  "unknown_statement",
                                  "shutting_down"};
    int v = ec.value();
    error_family->labels({v > 0 && v < 8 ? kinds[v] : "other"}).inc();
  }
};

struct tx::impl {
  pqxx::transaction_base* t;
  pool_slot* s;
  detail::pool_shared* sh;
};

namespace {

void drop_connection(detail::pool_shared& sh, pool_slot& s) {
  if (!s.conn) return;
  s.conn.reset();
  s.prepared.clear();
  sh.open.fetch_sub(1, std::memory_order_relaxed);
}

// An idle connection has nothing to read: readable or hung up means the server ended it
// (pg_terminate_backend, restart, idle timeout), so reopen it instead of failing a query on it.
bool stale(pqxx::connection& c) {
  pollfd p{c.sock(), POLLIN | POLLRDHUP, 0};
  if (p.fd < 0) return true;
  return ::poll(&p, 1, 0) != 0;
}

// True when the slot has a usable connection; `opened` says whether it was opened just now.
bool open_slot(detail::pool_shared& sh, pool_slot& s, query_result& out, bool& opened) {
  opened = false;
  if (s.conn && s.conn->is_open() && !stale(*s.conn)) return true;
  drop_connection(sh, s);
  {
    std::lock_guard<std::mutex> lock(sh.down_mu);
    if (clock::now() < sh.down_until) {
      out.ec = pool_errc::unavailable;
      out.message = "the last connection attempt failed moments ago";
      return false;
    }
  }
  try {
    auto c = std::make_unique<pqxx::connection>(resolve_host(sh.libpq_url, sh.opts.connect_timeout));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    c->inhibit_reactivation(true);  // we reopen ourselves, so that SET and prepares are redone
#pragma GCC diagnostic pop
    if (sh.opts.statement_timeout.count() > 0)
      c->set_variable("statement_timeout", std::to_string(sh.opts.statement_timeout.count()));
    s.conn = std::move(c);
    sh.open.fetch_add(1, std::memory_order_relaxed);
    sh.connects.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(sh.down_mu);
    if (sh.connect_failures > 0) spdlog::info("db pool: connected again after {} failure(s)", sh.connect_failures);
    sh.connect_failures = 0;
    sh.down_until = {};
    opened = true;
    return true;
  } catch (const std::exception& e) {
    out.ec = pool_errc::unavailable;
    out.message = clean_message(e, sh.secrets);
    std::lock_guard<std::mutex> lock(sh.down_mu);
    if (sh.connect_failures++ == 0) spdlog::warn("db pool: cannot connect: {}", out.message);
    sh.down_until = clock::now() + sh.opts.retry_interval;
    return false;
  }
}

void ensure_prepared(detail::pool_shared& sh, pool_slot& s, const std::string& name) {
  if (s.prepared.count(name)) return;
  std::string sql;
  {
    std::shared_lock<std::shared_mutex> lock(sh.stmt_mu);
    auto it = sh.statements.find(name);
    if (it == sh.statements.end()) throw unknown_statement_error("unknown prepared statement: " + name);
    sql = it->second;
  }
  s.conn->prepare(name, sql);
  s.prepared.insert(name);
}

pqxx::result run_statement(detail::pool_shared& sh, pool_slot& s, pqxx::transaction_base& t, const std::string& sql,
                           const std::vector<param>& params, bool prepared) {
  auto raw = raw_params(params);
  if (prepared) {
    ensure_prepared(sh, s, sql);
    return t.exec_prepared(sql, pqxx::prepare::make_dynamic_params(raw));
  }
  if (params.empty()) return t.exec(sql);
  return t.exec_params(sql, pqxx::prepare::make_dynamic_params(raw));
}

void classify(query_result& out, std::string sqlstate, std::string message) {
  out.sqlstate = std::move(sqlstate);
  out.message = std::move(message);
  out.ec = out.sqlstate == "57014"                    ? pool_errc::statement_timeout
           : sqlstate_means_unavailable(out.sqlstate) ? pool_errc::unavailable
                                                      : pool_errc::query_failed;
}

// Runs one pool_job's work on the slot's open connection, mapping every failure to a pool_errc.
query_result execute_once(detail::pool_shared& sh, pool_slot& s, pool_job& j) {
  query_result out;
  try {
    out = j.work(&s);
  } catch (const pqxx::broken_connection& e) {
    out.ec = pool_errc::connection_lost;
    out.message = clean_message(e, sh.secrets);
  } catch (const pqxx::in_doubt_error& e) {
    out.ec = pool_errc::connection_lost;
    out.message = clean_message(e, sh.secrets);
  } catch (const pqxx::sql_error& e) {
    classify(out, e.sqlstate(), clean_message(e, sh.secrets));
  } catch (const db::error& e) {
    classify(out, e.sqlstate(), e.what());
  } catch (const unknown_statement_error& e) {
    out.ec = pool_errc::unknown_statement;
    out.message = e.what();
  } catch (const std::exception& e) {
    out.ec = pool_errc::query_failed;
    out.message = clean_message(e, sh.secrets);
  }
  if (s.conn && !s.conn->is_open()) {
    if (out.ec == pool_errc::query_failed && out.sqlstate.empty()) out.ec = pool_errc::connection_lost;
    drop_connection(sh, s);
  }
  return out;
}

// Runs one pool_job: opens the slot's connection if need be, then the work.
query_result execute(detail::pool_shared& sh, pool_slot& s, pool_job& j) {
  for (;;) {
    query_result out;
    bool opened = false;
    if (!open_slot(sh, s, out, opened)) return out;
    out = execute_once(sh, s, j);
    if (out.sqlstate != "25006") return out;
    // Read-only: this server is (or became) a standby, or was read-only when this connection was
    // made. A new connection (its name looked up again) reaches the primary once a failover has
    // moved the name there, or sees the setting as it is now. Nothing was written (the write was
    // refused, so the transaction rolled back), so a connection that predates this job gets the
    // job once more on a new one: the clients of a failover see no error for stale connections.
    drop_connection(sh, s);
    if (opened) return out;
    spdlog::info("db pool: a pooled connection is read-only; retrying on a new connection");
  }
}

void complete(const std::shared_ptr<pool_job>& j) {
  asio::post(j->ex, [j] {
    j->completed = true;
    j->timer.cancel();
  });
}

void worker(std::shared_ptr<detail::pool_shared> sh, std::size_t index) {
  pthread_setname_np(pthread_self(), ("db-" + std::to_string(index)).substr(0, 15).c_str());
  pool_slot& s = sh->slots[index];
  for (;;) {
    std::shared_ptr<pool_job> j;
    {
      std::unique_lock<std::mutex> lock(sh->mu);
      sh->cv.wait(lock, [&] { return sh->stopping || !sh->queue.empty(); });
      if (sh->queue.empty()) break;  // stopping
      j = std::move(sh->queue.front());
      sh->queue.pop_front();
    }
    int expected = queued;
    if (!j->state.compare_exchange_strong(expected, running)) continue;  // its caller gave up
    sh->waiting.fetch_sub(1, std::memory_order_relaxed);
    auto started = clock::now();
    auto waited = started - j->enqueued;
    sh->wait_ns.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count(),
                          std::memory_order_relaxed);
    if (sh->wait_hist) sh->wait_hist->observe(waited);
    sh->in_use.fetch_add(1, std::memory_order_relaxed);
    j->out = execute(*sh, s, *j);
    sh->in_use.fetch_sub(1, std::memory_order_relaxed);
    auto took = clock::now() - started;
    sh->query_ns.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count(),
                           std::memory_order_relaxed);
    if (sh->query_hist) sh->query_hist->observe(took);
    sh->queries.fetch_add(1, std::memory_order_relaxed);
    if (j->out.ec && !j->caller_gave_up.load(std::memory_order_relaxed)) sh->count_error(j->out.ec);
    j->state.store(finished, std::memory_order_release);
    complete(j);
  }
  drop_connection(*sh, s);
}

void register_pool_metrics(const std::shared_ptr<detail::pool_shared>& sh) {
  auto& reg = metrics::default_registry();
  std::weak_ptr<detail::pool_shared> w = sh;
  auto read = [w](auto field) {
    return [w, field]() -> double {
      auto s = w.lock();
      return s ? static_cast<double>(field(*s)) : 0.0;
    };
  };
  auto& conns = reg.add_gauge("zuperior_db_pool_connections", "Pooled PostgreSQL connections by state.", {"state"});
  conns.set_callback({"open"}, read([](detail::pool_shared& s) { return s.open.load(); }));
  conns.set_callback({"in_use"}, read([](detail::pool_shared& s) { return s.in_use.load(); }));
  conns.set_callback({"idle"}, read([](detail::pool_shared& s) {
                       auto o = s.open.load(), u = s.in_use.load();
                       return o > u ? o - u : 0u;
                     }));
  reg.add_gauge("zuperior_db_pool_size", "Most connections the pool opens (connection_limit).")
      .get()
      .set(sh->opts.size);
  reg.add_gauge("zuperior_db_pool_waiting", "Requests waiting for a free connection.")
      .set_callback({}, read([](detail::pool_shared& s) { return s.waiting.load(); }));
  sh->wait_hist = &reg.add_histogram("zuperior_db_pool_wait_seconds", "Time a request waited for a connection.").get();
  sh->query_hist =
      &reg.add_histogram("zuperior_db_query_duration_seconds", "Time a pooled request held its connection.").get();
  sh->error_family = &reg.add_counter("zuperior_db_errors_total", "Failed pooled requests by kind.", {"kind"});
}

}  // namespace

// --- tx ---------------------------------------------------------------------------------------

result tx::query(std::string_view sql, const std::vector<param>& params) {
  try {
    return to_result(run_statement(*impl_->sh, *impl_->s, *impl_->t, std::string(sql), params, false));
  } catch (const pqxx::sql_error& e) {
    throw error(clean_message(e, impl_->sh->secrets), e.sqlstate(), std::string(sql));
  } catch (const pqxx::failure& e) {
    throw error(clean_message(e, impl_->sh->secrets), "", std::string(sql));
  }
}

result tx::exec_prepared(const std::string& name, const std::vector<param>& params) {
  try {
    return to_result(run_statement(*impl_->sh, *impl_->s, *impl_->t, name, params, true));
  } catch (const pqxx::sql_error& e) {
    throw error(clean_message(e, impl_->sh->secrets), e.sqlstate(), name);
  } catch (const pqxx::failure& e) {
    throw error(clean_message(e, impl_->sh->secrets), "", name);
  }
}

// --- pool -------------------------------------------------------------------------------------

pool::pool(pool_options opts) : opts_(std::move(opts)) {}

std::shared_ptr<pool> pool::create(const pool_options& opts) {
  if (opts.size == 0 || opts.size > 1000) throw std::invalid_argument("database pool size must be 1..1000");
  if (opts.url.empty()) throw std::invalid_argument("database URL is empty");
  std::shared_ptr<pool> p(new pool(opts));
  p->shared_ = std::make_shared<detail::pool_shared>();
  auto& sh = *p->shared_;
  sh.opts = opts;
  sh.libpq_url = libpq_url(opts.url, opts.connect_timeout);
  sh.secrets = password_forms(opts.url);
  sh.slots.resize(opts.size);
  if (opts.register_metrics) register_pool_metrics(p->shared_);
  for (std::size_t i = 0; i < opts.size; ++i) sh.threads.emplace_back(worker, p->shared_, i);
  return p;
}

pool::~pool() { stop(); }

void pool::stop() {
  std::deque<std::shared_ptr<pool_job>> queued_jobs;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (shared_->stopping && shared_->threads.empty()) return;
    shared_->stopping = true;
    queued_jobs.swap(shared_->queue);
  }
  shared_->cv.notify_all();
  for (auto& j : queued_jobs) {
    int expected = queued;
    if (!j->state.compare_exchange_strong(expected, finished)) continue;
    shared_->waiting.fetch_sub(1, std::memory_order_relaxed);
    j->out.ec = pool_errc::shutting_down;
    complete(j);
  }
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    threads.swap(shared_->threads);
  }
  for (auto& t : threads)
    if (t.joinable()) t.join();
}

void pool::prepare(std::string name, std::string sql) {
  std::unique_lock<std::shared_mutex> lock(shared_->stmt_mu);
  shared_->statements[std::move(name)] = std::move(sql);
}

asio::awaitable<query_result> pool::submit(std::function<query_result(void*)> work) {
  auto ex = co_await asio::this_coro::executor;
  auto j = std::make_shared<pool_job>(ex);
  j->work = std::move(work);
  j->enqueued = clock::now();
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (shared_->stopping) {
      query_result out;
      out.ec = pool_errc::shutting_down;
      co_return out;
    }
    shared_->queue.push_back(j);
    shared_->waiting.fetch_add(1, std::memory_order_relaxed);
  }
  shared_->cv.notify_one();
  j->timer.expires_after(opts_.pool_timeout);
  boost::system::error_code ec;
  co_await j->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (!j->completed) {
    int expected = queued;
    if (j->state.compare_exchange_strong(expected, abandoned)) {
      shared_->waiting.fetch_sub(1, std::memory_order_relaxed);
      shared_->timeouts.fetch_add(1, std::memory_order_relaxed);
      query_result out;
      out.ec = pool_errc::pool_timeout;
      out.message = fmt::format("no database connection became free within {} ms", opts_.pool_timeout.count());
      shared_->count_error(out.ec);
      co_return out;
    }
    // Already running. On a server that answers, connect_timeout and statement_timeout bound it.
    // One that stopped answering (its network dropped without a reset) left the caller waiting
    // for hours: the caller gives up a moment after those bounds, and the job, whenever its
    // connection fails (TCP keepalives, set in the connection string), completes to nobody.
    // (It started within pool_timeout of the request, which is when this wait begins.)
    const auto bound = opts_.statement_timeout.count() > 0
                           ? asio::steady_timer::clock_type::now() + opts_.connect_timeout + opts_.statement_timeout +
                                 std::chrono::seconds(2)
                           : asio::steady_timer::time_point::max();
    while (!j->completed) {
      if (asio::steady_timer::clock_type::now() >= bound) {
        query_result out;
        out.ec = pool_errc::connection_lost;
        out.message = fmt::format(
            "no answer from the database within {} ms of the request (pool_timeout + "
            "connect_timeout + statement_timeout + 2 s); the statement may or may not have run",
            (opts_.pool_timeout + opts_.connect_timeout + opts_.statement_timeout).count() + 2000);
        j->caller_gave_up.store(true, std::memory_order_relaxed);
        shared_->count_error(out.ec);
        co_return out;
      }
      j->timer.expires_at(bound);
      co_await j->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  co_return std::move(j->out);
}

asio::awaitable<query_result> pool::query(std::string sql, std::vector<param> params) {
  auto sh = shared_.get();
  // Not a coroutine: GCC 12 destroys lambda temporaries inside co_await twice.
  return submit([sh, sql = std::move(sql), params = std::move(params)](void* sp) {
    auto& s = *static_cast<pool_slot*>(sp);
    pqxx::nontransaction t(*s.conn);
    query_result out;
    out.value = to_result(run_statement(*sh, s, t, sql, params, false));
    return out;
  });
}

asio::awaitable<query_result> pool::exec_prepared(std::string name, std::vector<param> params) {
  auto sh = shared_.get();
  // Not a coroutine: GCC 12 destroys lambda temporaries inside co_await twice.
  return submit([sh, name = std::move(name), params = std::move(params)](void* sp) {
    auto& s = *static_cast<pool_slot*>(sp);
    pqxx::nontransaction t(*s.conn);
    query_result out;
    out.value = to_result(run_statement(*sh, s, t, name, params, true));
    return out;
  });
}

asio::awaitable<query_result> pool::transaction(std::vector<statement> statements) {
  auto sh = shared_.get();
  // Not a coroutine: GCC 12 destroys lambda temporaries inside co_await twice.
  return submit([sh, statements = std::move(statements)](void* sp) {
    auto& s = *static_cast<pool_slot*>(sp);
    pqxx::work t(*s.conn);
    query_result out;
    for (const auto& st : statements) out.value = to_result(run_statement(*sh, s, t, st.sql, st.params, st.prepared));
    t.commit();
    return out;
  });
}

asio::awaitable<query_result> pool::with_transaction(std::function<result(tx&)> fn) {
  auto sh = shared_.get();
  // Not a coroutine: GCC 12 destroys lambda temporaries inside co_await twice.
  return submit([sh, fn = std::move(fn)](void* sp) {
    auto& s = *static_cast<pool_slot*>(sp);
    pqxx::work t(*s.conn);
    tx::impl impl{&t, &s, sh};
    tx handle(&impl);
    query_result out;
    out.value = fn(handle);
    t.commit();
    return out;
  });
}

pool_stats pool::stats() const {
  auto& sh = *shared_;
  pool_stats s;
  s.size = opts_.size;
  s.open = sh.open.load();
  s.in_use = sh.in_use.load();
  s.idle = s.open > s.in_use ? s.open - s.in_use : 0;
  s.waiting = sh.waiting.load();
  s.queries = sh.queries.load();
  s.errors = sh.errors.load();
  s.timeouts = sh.timeouts.load();
  s.connects = sh.connects.load();
  s.wait_seconds = static_cast<double>(sh.wait_ns.load()) / 1e9;
  s.query_seconds = static_cast<double>(sh.query_ns.load()) / 1e9;
  return s;
}

}  // namespace zuperior::db
