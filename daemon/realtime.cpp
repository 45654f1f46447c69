#include "daemon/realtime.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <unordered_set>

#include "api/accounts_cache.hpp"
#include "api/limits.hpp"
#include "api/revocations.hpp"
#include "api/routes.hpp"
#include "auth/jwt.hpp"
#include "cache/async_client.hpp"
#include "core/url.hpp"
#include "db/pool.hpp"
#include "feed/market_feed.hpp"
#include "http/server.hpp"
#include "metrics/registry.hpp"
#include "ws/local_limiter.hpp"
#include "ws/market_app.hpp"
#include "ws/server.hpp"
#include "ws/test_app.hpp"

namespace zuperior::daemon {

namespace net = boost::asio;

struct realtime::impl {
  realtime_deps d;
  std::shared_ptr<ws::server> sio;
  std::shared_ptr<ws::server> raw;  // protocol test mode: /engine.io/ echo
  std::shared_ptr<cache::async_client> redis;
  std::unique_ptr<feed::market_feed> feed;
  std::unique_ptr<ws::local_limiter> connect_limit;
  std::shared_ptr<std::atomic<bool>> stopped = std::make_shared<std::atomic<bool>>(false);
};

namespace {

ws::server_options base_options(const config::settings& s) {
  ws::server_options o;
  o.ping_interval = s.realtime.ping_interval;
  o.ping_timeout = s.realtime.ping_timeout;
  o.max_payload = s.realtime.max_payload;
  o.outbox_limit = s.realtime.outbox_limit;
  o.max_polling_sessions_per_ip = s.server.max_connections_per_ip;
  o.ipv6_prefix = s.server.ipv6_prefix;
  o.cors_origins = s.server.cors_origins;
  return o;
}

void register_metrics(metrics::registry& r, ws::server& srv, feed::market_feed& feed) {
  auto& st = srv.stats();
  auto g = [&r](const char* name, const char* help, auto fn) { r.add_callback_gauge(name, help, std::move(fn)); };
  auto c = [&r](const char* name, const char* help, auto fn) { r.add_callback_counter(name, help, std::move(fn)); };
  g("zuperior_ws_sessions_websocket", "Engine.IO sessions on the WebSocket transport",
    [&st] { return static_cast<double>(st.sessions_websocket.load()); });
  g("zuperior_ws_sessions_polling", "Engine.IO sessions on HTTP long-polling",
    [&st] { return static_cast<double>(st.sessions_polling.load()); });
  g("zuperior_ws_sockets", "Connected Socket.IO sockets", [&st] { return static_cast<double>(st.sockets.load()); });
  g("zuperior_ws_subscriptions", "Room memberships (market symbols and accounts)",
    [&st] { return static_cast<double>(st.subscriptions.load()); });
  c("zuperior_ws_messages_in_total", "Engine.IO messages received",
    [&st] { return static_cast<double>(st.messages_in.load()); });
  c("zuperior_ws_messages_out_total", "Engine.IO packets sent",
    [&st] { return static_cast<double>(st.messages_out.load()); });
  c("zuperior_ws_bytes_out_total", "Bytes of Engine.IO packets sent",
    [&st] { return static_cast<double>(st.bytes_out.load()); });
  c("zuperior_ws_conflated_total", "Market frames replaced by a newer one for a slow client",
    [&st] { return static_cast<double>(st.conflated.load()); });
  c("zuperior_ws_dropped_total", "Frames lost with slow clients' disconnects",
    [&st] { return static_cast<double>(st.dropped.load()); });
  c("zuperior_ws_slow_disconnects_total", "Sessions closed because their outbox overflowed",
    [&st] { return static_cast<double>(st.slow_disconnects.load()); });
  c("zuperior_ws_protocol_errors_total", "Sessions closed for malformed packets",
    [&st] { return static_cast<double>(st.protocol_errors.load()); });
  c("zuperior_ws_connect_refused_total", "Socket.IO CONNECTs refused (token, rate limit)",
    [&st] { return static_cast<double>(st.connect_refused.load()); });
  auto& fs = feed.stats();
  c("zuperior_feed_ticks_total", "Market ticks received", [&fs] { return static_cast<double>(fs.ticks.load()); });
  c("zuperior_feed_account_updates_total", "Account updates received",
    [&fs] { return static_cast<double>(fs.account_updates.load()); });
  c("zuperior_feed_malformed_total", "Bus messages ignored as malformed",
    [&fs] { return static_cast<double>(fs.malformed.load()); });
  g("zuperior_feed_bus_connected", "1 while the Redis pub/sub connection is up",
    [&feed] { return feed.bus_connected() ? 1.0 : 0.0; });
  auto& lag = r.add_histogram(
      "zuperior_ws_delivery_lag_seconds", "Delay from a tick's source timestamp to its hand-off to the client's socket",
      {}, {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5});
  auto* h = &lag.get();
  // The ts is the publisher's: a feeder whose clock runs ahead gave negative lags (the histogram's
  // _sum then fell, which rate() cannot take), a bogus one lags of decades. Below zero counts as
  // zero; over an hour is no measurement.
  srv.on_delivery_lag = [h](double s) {
    if (s > 3600) return;
    h->observe(s < 0 ? 0 : s);
  };
}

net::awaitable<std::optional<bool>> refuse() { co_return std::nullopt; }

// Every `every`, on worker `worker`: each account subscription of its sockets is checked again
// (the account still the socket user's, the user still active), in one query; a subscription that
// fails leaves the room and the client gets an `error` event naming the account. A suspension or a
// change of owner is a database change nobody announces, so without this a socket subscribed before
// it would go on receiving the account's updates. The database being away changes nothing.
// A user whose subscription ended also loses their cached GET /apis/accounts answer (it lists the
// account, or was read while they were active) when `fence` is set (the cache is on).
net::awaitable<void> recheck_accounts(std::weak_ptr<ws::server> weak, db::pool* db, std::size_t worker,
                                      std::chrono::milliseconds every, std::shared_ptr<std::atomic<bool>> stopped,
                                      std::weak_ptr<cache::async_client> redis, std::chrono::milliseconds fence) {
  net::steady_timer timer(co_await net::this_coro::executor);
  for (;;) {
    timer.expires_after(every);
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec || stopped->load()) co_return;
    std::vector<std::pair<std::shared_ptr<ws::socket>, std::string>> subs;  // socket, account id
    std::vector<std::string> accounts;
    {
      auto srv = weak.lock();
      if (!srv) co_return;
      for (auto& s : srv->sockets_on(worker))
        for (const auto& room : s->rooms())
          if (auto account = ws::account_in_room(room); !account.empty()) subs.emplace_back(s, std::string(account));
    }
    if (subs.empty()) continue;
    for (const auto& [s, account] : subs) accounts.push_back(account);
    std::sort(accounts.begin(), accounts.end());
    accounts.erase(std::unique(accounts.begin(), accounts.end()), accounts.end());
    auto owners = co_await api::active_owners(*db, std::move(accounts));
    if (!owners || stopped->load()) continue;
    std::size_t ended = 0;
    std::unordered_set<std::string> users;
    for (auto& [s, account] : subs) {
      auto it = owners->find(account);
      if (!s->connected() || (it != owners->end() && it->second == s->user_id)) continue;
      ws::market_app::end_account_subscription(s, account);
      users.insert(s->user_id);
      ++ended;
    }
    if (ended) spdlog::info("realtime: {} account subscription(s) ended (owner changed or user not active)", ended);
    if (fence.count() > 0)
      for (const auto& user : users) {
        auto client = redis.lock();
        if (!client || stopped->load()) break;
        co_await api::invalidate_user_accounts(std::move(client), user, fence);
      }
  }
}

net::awaitable<std::optional<std::string>> cached_balance(std::shared_ptr<cache::async_client> redis,
                                                          std::string account) {
  if (!redis) co_return std::nullopt;  // shutting down: the client is gone
  std::vector<std::string> cmd{"GET", redis->key("balance:" + account)};
  auto r = co_await redis->command(std::move(cmd));
  if (!r || r.value.kind != cache::reply::type::string) co_return std::nullopt;
  co_return r.value.text;
}

// One inbound event of `user` against the websocket tier, decided on the socket's worker.
net::awaitable<ws::event_verdict> allow_event(api::limiter* limits, std::string user, std::size_t worker) {
  if (!limits) co_return ws::event_verdict::allowed;
  auto d = co_await limits->check(worker, api::tier::websocket, "user:" + user);
  if (d.allowed) co_return ws::event_verdict::allowed;
  co_return d.source == "closed" ? ws::event_verdict::unavailable : ws::event_verdict::limited;
}

}  // namespace

realtime::realtime(const realtime_deps& deps) : impl_(std::make_unique<impl>()) {
  auto& I = *impl_;
  I.d = deps;
  const auto& s = *deps.settings;
  auto executors = deps.server->worker_executors();
  auto opts = base_options(s);

  if (s.realtime.protocol_test_mode) {
    // The public protocol test suites' server: no token, echo events, /custom namespace.
    auto test = std::make_shared<ws::test_app>();
    opts.namespaces["/"] = test;
    opts.namespaces["/custom"] = test;
    auto raw_opts = base_options(s);
    raw_opts.raw_echo = true;
    I.raw = std::make_shared<ws::server>(raw_opts, executors);
    deps.server->mount("/engine.io/", I.raw);
    spdlog::warn("protocol test mode: {} accepts connections without a token; /engine.io/ echoes", s.realtime.path);
  } else {
    auto copts = cache::client_options::from(s);
    copts.name = "realtime";
    I.redis = cache::async_client::create(executors.front(), copts);
    I.connect_limit =
        std::make_unique<ws::local_limiter>(s.realtime.connect_rate.limit, s.realtime.connect_rate.window);

    ws::market_checks checks;
    const auth::jwt_codec* jwt = deps.jwt;
    const api::revocations* revoked = deps.revoked;
    checks.authenticate = [jwt, revoked](const std::string& token) -> std::optional<ws::token_identity> {
      auto r = jwt->verify(token);
      if (!r || (revoked && revoked->revoked(r.value.jti))) return std::nullopt;
      return ws::token_identity{std::move(r.value.sub), std::move(r.value.jti)};
    };
    // The account-owner check is a prepared statement on the PostgreSQL pool (within its
    // connection_limit); without a pool it cannot be checked (refused, as "unavailable").
    db::pool* db = deps.db;
    checks.owns_account = [db](std::string user, std::string account) -> net::awaitable<std::optional<bool>> {
      if (!db) return refuse();
      return api::owns_account(*db, std::move(user), std::move(account));
    };
    // A weak reference: the market app lives as long as the HTTP server's mount (past ~realtime),
    // and the client's destructor posts to a worker's event loop, which must still exist then.
    // Owned here, the client goes with ~realtime, before the HTTP server (heap-use-after-free at
    // exit under ASan otherwise).
    std::weak_ptr<cache::async_client> redis = I.redis;
    checks.cached_balance = [redis](std::string account) { return cached_balance(redis.lock(), std::move(account)); };
    // The websocket tier is decided like the HTTP tiers: in Redis, on the socket's worker's
    // connection, so a user's events count once across every instance (with the tier's fallback
    // while Redis is away).
    api::limiter* limits = deps.limits;
    checks.allow_event = [limits](std::string user, std::size_t worker) -> net::awaitable<ws::event_verdict> {
      return allow_event(limits, std::move(user), worker);
    };
    ws::local_limiter* cl = I.connect_limit.get();
    checks.allow_connect = [cl, v6 = s.server.ipv6_prefix](const std::string& ip) {
      return cl->allow(core::client_key(ip, v6));
    };
    if (s.market.feed == "sim") {
      auto known = std::make_shared<std::unordered_set<std::string>>(s.market.symbols.begin(), s.market.symbols.end());
      checks.known_symbol = [known](const std::string& sym) { return known->count(sym) > 0; };
    }
    ws::market_limits limits_cfg;
    limits_cfg.max_symbols_per_socket = s.realtime.max_symbols_per_socket;
    limits_cfg.max_violations = s.realtime.max_violations;
    limits_cfg.cookie_name = s.auth.cookie_name;
    opts.namespaces["/"] = std::make_shared<ws::market_app>(std::move(checks), limits_cfg);
    for (const auto& nsp : s.realtime.namespaces)
      if (nsp != "/") opts.namespaces[nsp] = opts.namespaces["/"];
  }
  I.sio = std::make_shared<ws::server>(opts, executors);
  deps.server->mount(s.realtime.path, I.sio);
  I.feed = std::make_unique<feed::market_feed>(s, I.sio, executors.front());
  if (deps.registry) register_metrics(*deps.registry, *I.sio, *I.feed);
}

realtime::~realtime() {
  impl_->stopped->store(true);
  if (impl_->feed) impl_->feed->stop();
  if (impl_->redis) impl_->redis->stop();
}

void realtime::start() {
  if (impl_->redis) impl_->redis->start();
  const auto every = impl_->d.settings->realtime.account_recheck;
  if (impl_->d.db && every.count() > 0 && !impl_->d.settings->realtime.protocol_test_mode) {
    auto executors = impl_->d.server->worker_executors();
    for (std::size_t i = 0; i < executors.size(); ++i)
      net::co_spawn(executors[i],
                    recheck_accounts(impl_->sio, impl_->d.db, i, every, impl_->stopped, impl_->redis,
                                     impl_->d.settings->market.accounts_ttl.count() > 0
                                         ? api::fence_for(impl_->d.settings->database.statement_timeout)
                                         : std::chrono::milliseconds(0)),
                    net::detached);
  }
  if (!impl_->d.settings->realtime.protocol_test_mode || impl_->d.settings->market.feed == "sim") impl_->feed->start();
}

void realtime::shutdown() {
  impl_->stopped->store(true);
  impl_->sio->shutdown();
  if (impl_->raw) impl_->raw->shutdown();
  impl_->feed->stop();
}

bool realtime::bus_connected() const { return impl_->feed->bus_connected(); }

std::function<void(std::string_view)> realtime::revocation_handler() const {
  // Weak: the handler may be called by the revocation listener while this object goes away.
  std::weak_ptr<ws::server> w = impl_->sio;
  return [w](std::string_view jti) {
    auto sio = w.lock();
    if (!sio || jti.empty()) return;
    sio->disconnect_token(std::string(jti));
  };
}

void realtime::reload(const config::settings& fresh) {
  if (impl_->connect_limit)
    impl_->connect_limit->set(fresh.realtime.connect_rate.limit, fresh.realtime.connect_rate.window);
}

}  // namespace zuperior::daemon
