#include "daemon/daemon.hpp"
#include "daemon/realtime.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "api/accounts_cache.hpp"
#include "api/blocking.hpp"
#include "api/limits.hpp"
#include "api/revocations.hpp"
#include "api/routes.hpp"
#include "auth/cookie.hpp"
#include "auth/jwt.hpp"
#include "cache/cache.hpp"
#include "cache/sync_client.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "daemon/redis_limits.hpp"
#include "db/pool.hpp"
#include "db/session.hpp"
#include "health/checker.hpp"
#include "http/client_ip.hpp"
#include "http/server.hpp"
#include "log/log.hpp"
#include "metrics/process.hpp"
#include "metrics/registry.hpp"

namespace zuperior::daemon {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;

// Thousands of sockets need more descriptors than the usual soft limit of 1024. A limit still below
// what the connection cap needs is said at start: past it accept fails (and the cap's 503 never
// comes), which an operator would otherwise first see as a stream of accept warnings under load.
void raise_nofile_limit(const config::settings& s) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0) spdlog::info("open files limit raised from {} to {}", before, rl.rlim_cur);
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < s.open_files_needed())
    spdlog::warn(
        "open files limit {} is below the {} that server.max_connections ({}) needs with the pool and 64 "
        "spare: accept will fail before the connection cap answers 503; raise the hard limit (LimitNOFILE=, "
        "ulimit -Hn) or lower server.max_connections",
        rl.rlim_cur, s.open_files_needed(), s.server.max_connections);
}

// This process among the instances sharing one Redis: host:pid.
std::string instance_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}", host, getpid());
}

// Per-route request metrics; children are cached per thread so the hot path takes no lock.
class http_metrics {
 public:
  explicit http_metrics(metrics::registry& r)
      : requests_(r.add_counter("zuperior_http_requests_total", "HTTP requests by route, method and status class",
                                {"route", "method", "status"})),
        errors_(r.add_counter("zuperior_http_errors_total", "HTTP responses with status 4xx/5xx by exact status",
                              {"route", "code"})),
        latency_(r.add_histogram("zuperior_http_request_duration_seconds",
                                 "HTTP request latency by route and status class", {"route", "status"})),
        in_flight_(r.add_gauge("zuperior_http_in_flight_requests", "Requests being processed").get()),
        connections_(r.add_gauge("zuperior_http_open_connections", "Open HTTP connections").get()),
        rejected_(r.add_counter("zuperior_http_rejected_connections_total",
                                "Connections refused at accept because a cap was reached", {"cap"})),
        accept_errors_(r.add_counter("zuperior_http_accept_errors_total",
                                     "Failed accepts (out of descriptors or similar), each retried after 50 ms")
                           .get()) {}

  void on_request(const http::request_record& rec) {
    static constexpr const char* classes[] = {"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"};
    unsigned cls = rec.status / 100;
    const char* cls_name = rec.status == 0 ? "takeover" : (cls < 6 ? classes[cls] : "5xx");
    struct key {
      const char* route;
      std::size_t route_len;
      std::string method;
      unsigned status;
      bool matches(std::string_view r, std::string_view m, unsigned st) const {
        return route == r.data() && route_len == r.size() && status == st && method == m;
      }
    };
    // Thread-local memo of label lookups: the family's shared lock stays off the hot path.
    thread_local std::vector<std::pair<key, std::pair<metrics::counter*, metrics::histogram*>>> memo;
    const unsigned st = rec.status / 100 * 100;
    std::pair<metrics::counter*, metrics::histogram*> found{nullptr, nullptr};
    for (auto& [mk, v] : memo)
      if (mk.matches(rec.route, rec.method, st)) {  // no allocation on the hot path
        found = v;
        break;
      }
    if (!found.first) {
      found.first = &requests_.labels({rec.route, rec.method, cls_name});
      // A takeover's duration is how long a long-poll was held (up to the ping interval), not a
      // latency: it would dominate any percentile taken across routes. No series for it.
      found.second = rec.status != 0 ? &latency_.labels({rec.route, cls_name}) : nullptr;
      if (memo.size() < 512)
        memo.emplace_back(key{rec.route.data(), rec.route.size(), std::string(rec.method), st}, found);
    }
    found.first->inc();
    if (found.second) found.second->observe(rec.duration);
    if (rec.status >= 400) {
      // Memoized like the above: a 429 storm took the family's shared lock and allocated per request.
      thread_local std::vector<std::pair<key, metrics::counter*>> error_memo;
      metrics::counter* c = nullptr;
      for (auto& [mk, v] : error_memo)
        if (mk.matches(rec.route, {}, rec.status)) {  // the series has no method label
          c = v;
          break;
        }
      if (!c) {
        c = &errors_.labels({rec.route, std::to_string(rec.status)});
        if (error_memo.size() < 512)
          error_memo.emplace_back(key{rec.route.data(), rec.route.size(), std::string(), rec.status}, c);
      }
      c->inc();
    }
  }
  void on_connection(int d) { connections_.inc(d); }
  void on_in_flight(int d) { in_flight_.inc(d); }
  void on_rejected(bool per_ip) { rejected_.labels({per_ip ? "per_ip" : "total"}).inc(); }
  void on_accept_error() { accept_errors_.inc(); }

 private:
  metrics::counter_family& requests_;
  metrics::counter_family& errors_;
  metrics::histogram_family& latency_;
  metrics::gauge& in_flight_;
  metrics::gauge& connections_;
  metrics::counter_family& rejected_;
  metrics::counter& accept_errors_;
};

void access_log(const http::request_record& r) {
  log::access_entry e;
  e.request_id = r.request_id;
  e.method = r.method;
  e.route = r.route;
  e.status = r.status;
  e.bytes = r.bytes;
  e.duration_us = std::chrono::duration_cast<std::chrono::microseconds>(r.duration).count();
  // A request refused before routing has no identity yet: its address is what it is known by.
  std::string by_ip;
  if (r.identity.empty()) by_ip = "ip:" + std::string(r.client_ip);
  e.identity = r.identity.empty() ? std::string_view(by_ip) : r.identity;
  log::access(e);
}

}  // namespace

int run(const options& opts) {
  const config::settings& s = opts.settings;
  // The log goes to stdout/stderr, often a pipe (| tee, a container's log driver, logger). When its
  // reader goes away the next log line raised SIGPIPE and killed the daemon (exit 141); a lost log
  // must not stop the service. Sockets already write with MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  raise_nofile_limit(s);

  // metrics
  auto& registry = metrics::default_registry();
  metrics::register_process_metrics(registry);
  http_metrics hm(registry);

  // database: the PostgreSQL pool (size from connection_limit, pool_timeout, statement_timeout;
  // connections opened lazily and re-opened after a failure). It exports its own figures:
  // zuperior_db_pool_{size,connections,waiting,wait_seconds}, zuperior_db_query_duration_seconds,
  // zuperior_db_errors_total.
  auto db_pool = db::pool::create(db::pool_options::from(s));
  api::prepare_statements(*db_pool);

  // bcrypt is CPU work: a small pool of its own keeps it off the network threads.
  const std::size_t cpu_threads = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 2, 8);
  api::blocking_pool cpu_pool(cpu_threads, s.database.pool_timeout);
  {
    auto& st = cpu_pool.stats();
    registry.add_callback_gauge("zuperior_cpu_pool_busy", "CPU pool threads running a job (bcrypt)",
                                [&st] { return static_cast<double>(st.busy.load()); });
    registry.add_callback_gauge("zuperior_cpu_pool_waiting", "Jobs waiting for a CPU pool thread",
                                [&st] { return static_cast<double>(st.waiting.load()); });
    registry.add_callback_counter("zuperior_cpu_pool_timeouts_total", "CPU jobs refused after waiting pool_timeout",
                                  [&st] { return static_cast<double>(st.timeouts.load()); });
    registry.add_callback_counter("zuperior_cpu_pool_jobs_total", "CPU pool jobs run",
                                  [&st] { return static_cast<double>(st.jobs.load()); });
  }

  // auth
  auto jwt = auth::jwt_codec::from_settings(s.auth);
  auto cookie = auth::cookie_options_from(s);

  // health: each dependency probed on its own thread with its own deadline.
  auto interval = 2s;
  health::checker checker(interval);
  {
    auto db_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::min<std::chrono::milliseconds>(s.database.connect_timeout, 2s));
    std::string db_url = s.database.url;
    auto db_session = std::make_shared<std::unique_ptr<db::session>>();
    auto pool_timeouts = std::make_shared<std::uint64_t>(0);
    checker.add(
        "database",
        [db_url, db_timeout, db_session, pool = db_pool.get(), pool_timeouts] {
          // The database answering this check's own connection is not enough: with every pool
          // connection held (long transactions, a lock), requests get 503 "Database unavailable"
          // while a fresh connection still answers. Requests that timed out waiting for a pool
          // connection since the last check make the database unhealthy.
          const auto st = pool->stats();
          const auto timed_out = st.timeouts - std::exchange(*pool_timeouts, st.timeouts);
          if (timed_out > 0)
            throw std::runtime_error(
                fmt::format("connection pool exhausted: {} request(s) timed out waiting for one of its {} connections",
                            timed_out, st.size));
          auto& sess = *db_session;
          auto open = [&] {
            sess = db::session::connect(db_url, db_timeout);
            sess->query(fmt::format("SET statement_timeout = {}", db_timeout.count()));
          };
          // Not just SELECT 1: a read-only server (a standby, default_transaction_read_only)
          // answers reads and fails every login and registration (they write).
          try {
            const bool kept = sess && sess->is_open();
            if (!kept) open();
            std::optional<std::string> read_only;
            try {
              read_only = sess->read_only_reason();
            } catch (const db::error&) {
              if (!kept) throw;
              // The kept session was closed by the server (a restart, pg_terminate_backend): one
              // new connection, rather than the dead session's error as the database's health.
              open();
              read_only = sess->read_only_reason();
            }
            if (read_only) throw std::runtime_error(*read_only);
          } catch (...) {
            sess.reset();
            throw;
          }
        },
        db_timeout);
    auto redis_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::min<std::chrono::milliseconds>(s.redis.connect_timeout, 1s));
    std::string redis_url = s.redis_url();
    auto redis_client = std::make_shared<std::unique_ptr<cache::sync_client>>();
    // A write, not a PING: a Redis that answers but refuses writes (maxmemory with noeviction, a
    // read-only replica, a failed save with stop-writes-on-bgsave-error) leaves every rate limit to
    // each instance's own fallback and the cache unwritten. That is degraded, and health says why.
    std::string health_key = fmt::format("{}health:{}", s.redis.key_prefix, instance_name());
    checker.add(
        "redis",
        [redis_url, redis_timeout, redis_client, health_key] {
          auto& c = *redis_client;
          try {
            if (!c) c = cache::sync_client::connect(redis_url, redis_timeout);
            c->write_probe(health_key);
          } catch (...) {
            c.reset();
            throw;
          }
        },
        redis_timeout);
  }
  // The pub/sub bus (market ticks, account updates): its subscriber reconnects by itself; the
  // check reports it. Started with the real-time layer below; a moment's grace covers a reconnect.
  std::atomic<const realtime*> bus{nullptr};
  checker.add(
      "bus",
      [&bus] {
        for (int i = 0; i < 10; ++i) {
          const realtime* r = bus.load();
          if (r && r->bus_connected()) return;
          std::this_thread::sleep_for(50ms);
        }
        throw std::runtime_error(bus.load() ? "pub/sub connection down" : "not started");
      },
      1s);

  // http
  std::atomic<bool> ready{false};
  api::services svc;
  svc.settings = &s;
  std::string bad_network;
  const auto internal = http::proxy_list::parse(s.server.internal_networks, &bad_network);
  if (!internal)
    throw core::command_error("server.internal_networks: not an IP address or CIDR: " + core::quote(bad_network));
  svc.internal = &*internal;
  svc.metrics = &registry;
  svc.health = &checker;
  svc.ready = &ready;
  svc.db = db_pool.get();
  svc.cpu = &cpu_pool;
  svc.accounts_ttl = std::chrono::duration_cast<std::chrono::seconds>(s.market.accounts_ttl);
  svc.jwt = &jwt;
  svc.cookie = &cookie;
  auto routes = api::build_routes(svc);
  http::server_hooks hooks;
  std::atomic<bool> log_access = s.log.access_log;  // reloadable
  hooks.on_request = [&hm, &log_access](const http::request_record& r) {
    hm.on_request(r);
    if (log_access.load(std::memory_order_relaxed)) access_log(r);
  };
  hooks.on_connection = [&hm](int d) { hm.on_connection(d); };
  hooks.on_in_flight = [&hm](int d) { hm.on_in_flight(d); };
  hooks.on_rejected = [&hm](bool per_ip) { hm.on_rejected(per_ip); };
  hooks.on_accept_error = [&hm] { hm.on_accept_error(); };
  http::server server(s.server, routes, hooks);
  // The accounts caches (below) hold the workers' Redis clients, whose destructors post to the
  // workers' event loops: they must go while `server` exists, on every way out (a port in use makes
  // server.start() throw). `svc` is declared before `server` and would release them after it.
  struct drop_caches {
    api::services& svc;
    ~drop_caches() {
      svc.caches.clear();
      svc.redis.clear();
    }
  } drop_caches_first{svc};

  // redis + limiter: one pipelined async connection per worker, on the worker's own event loop.
  redis_limits limits(s, server.worker_executors());
  svc.limits = &limits;
  // cache: the accounts read-through cache uses each worker's own Redis connection; account updates
  // on the bus drop the cached answer that lists the account, on every instance.
  std::unique_ptr<api::account_update_listener> invalidation;
  if (svc.accounts_ttl.count() > 0) {
    for (std::size_t i = 0; i < server.worker_count(); ++i)
      svc.caches.push_back(std::make_shared<cache::cache>(limits.client(i)));
    invalidation = std::make_unique<api::account_update_listener>(
        limits.client(0)->get_executor(), cache::client_options::from(s), s.market.account_channel, limits.client(0),
        api::fence_for(s.database.statement_timeout));
  }
  // logout: revoked tokens, refused by every instance (a set in Redis, announced on pub/sub, held
  // in memory so that checking a token costs nothing).
  api::revocations revoked(limits.client(0)->get_executor(), cache::client_options::from(s), limits.client(0),
                           &registry);
  svc.revoked = &revoked;
  for (std::size_t i = 0; i < server.worker_count(); ++i) svc.redis.push_back(limits.client(i));
  realtime rt({&s, &server, db_pool.get(), &jwt, &limits, &registry, &revoked});  // mounts /socket.io/ before start

  // Set before the listeners open: a logout on a worker reads it (it was set after, a data race).
  revoked.on_revoked(rt.revocation_handler());

  // Signals are caught from before the listeners open (Asio queues them until the wait below):
  // opened first, a SIGHUP (systemctl reload) in between ended the daemon, and a SIGTERM cut the
  // requests it had accepted instead of draining them.
  net::io_context ctl;
  net::signal_set signals(ctl, SIGINT, SIGTERM, SIGHUP);

  // listeners
  server.start();
  if (invalidation) invalidation->start();
  revoked.start();
  rt.start();
  // The bus check reads `rt`: its thread must be joined before `rt` goes, on every way out.
  struct stop_checks {
    health::checker& c;
    ~stop_checks() { c.stop(); }
  } stop_checks_first{checker};
  bus = &rt;
  checker.start();
  ready = true;
  spdlog::info("listening on {} ({} workers)", server.local_address(), server.worker_count());

  // signals: the main thread only waits for them.
  net::steady_timer drain_timer(ctl);
  bool draining = false;
  auto drain_deadline = std::chrono::steady_clock::now();
  std::function<void()> poll_drain;
  poll_drain = [&] {
    bool done = server.in_flight() == 0 && server.connections() == 0;
    if (done || std::chrono::steady_clock::now() >= drain_deadline) {
      if (!done)
        spdlog::warn("drain timeout: {} requests in flight, {} connections left; closing them", server.in_flight(),
                     server.connections());
      ctl.stop();
      return;
    }
    drain_timer.expires_after(20ms);
    drain_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) poll_drain();
    });
  };
  std::function<void(boost::system::error_code, int)> on_signal;
  on_signal = [&](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      if (opts.reload) {
        try {
          auto fresh = opts.reload();
          // Logging first: a request that already sees the new tiers is logged by the new rules.
          if (log::set_level(fresh.log.level)) spdlog::info("reloaded: log level {}", fresh.log.level);
          if (log_access.exchange(fresh.log.access_log) != fresh.log.access_log)
            spdlog::info("reloaded: access log {}", fresh.log.access_log ? "on" : "off");
          // Only the tiers reload: a new ratelimit.key_prefix (not reloadable) would have reset every
          // window at once (a fresh strict tier for logins) and split the instances' counters.
          if (fresh.ratelimit.key_prefix != s.ratelimit.key_prefix) {
            spdlog::warn("reload: ratelimit.key_prefix changed; it takes effect at the next start");
            fresh.ratelimit.key_prefix = s.ratelimit.key_prefix;
          }
          limits.reload(fresh.ratelimit);
          rt.reload(fresh);
          spdlog::info("reloaded: rate-limit tiers and the real-time connect rate");
        } catch (const std::exception& e) {
          spdlog::error("reload failed, keeping the running configuration: {}", e.what());
        }
      }
      signals.async_wait(on_signal);
      return;
    }
    if (draining) {
      spdlog::warn("second signal: exiting now");
      std::fflush(stdout);
      std::_Exit(1);
    }
    draining = true;
    spdlog::info(
        "{} received: draining (readiness 503, no new connections, finishing {} in-flight requests, up to {}s)",
        sig == SIGTERM ? "SIGTERM" : "SIGINT", server.in_flight(),
        std::chrono::duration_cast<std::chrono::seconds>(s.server.drain_timeout).count());
    ready = false;
    // The deadline counts from the signal: the Socket.IO shutdown below (up to 8 s with a client
    // that never answers the close) is part of the drain, not before it.
    drain_deadline = std::chrono::steady_clock::now() + s.server.drain_timeout;
    rt.shutdown();  // Socket.IO clients get a clean disconnect before the listeners close
    server.begin_drain();
    server.stop_accepting();
    poll_drain();
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  ctl.run();
  // From here nothing waits for signals: a second SIGTERM or SIGINT during the teardown (a pool
  // thread still in libpq with a dead network) was swallowed. It exits at once, as during the drain.
  signals.clear();
  for (int sig : {SIGINT, SIGTERM})
    std::signal(sig, [](int) {
      static constexpr char msg[] = "second signal during shutdown: exiting now\n";
      [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
      std::_Exit(1);
    });

  // stop in reverse
  svc.caches.clear();  // while the workers still run (see drop_caches)
  svc.redis.clear();
  if (invalidation) invalidation->stop();
  revoked.stop();
  limits.stop();
  cpu_pool.stop();  // its jobs' callers resume on the workers' event loops, which go with `server`
  server.stop();
  db_pool->stop();
  checker.stop();
  spdlog::info("stopped");
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace zuperior::daemon
