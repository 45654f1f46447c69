#include "feed/market_feed.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <random>
#include <utility>

#include "cache/async_client.hpp"
#include "cache/subscriber.hpp"
#include "feed/tick.hpp"
#include "ws/market_app.hpp"

namespace zuperior::feed {

namespace net = boost::asio;

struct market_feed::impl {
  config::settings s;
  std::shared_ptr<ws::server> server;
  net::any_io_executor ex;
  std::shared_ptr<cache::subscriber> sub;
  std::shared_ptr<cache::async_client> client;  // SET balance:<id>
  std::shared_ptr<net::steady_timer> sim_timer;
  std::shared_ptr<std::atomic<bool>> stopped = std::make_shared<std::atomic<bool>>(false);
  // Ticks delivered during the current turn of the feed's event loop (one Redis read, one sim step),
  // broadcast together when the turn ends.
  struct batch {
    std::vector<ws::server::room_frame> ticks;
    bool posted = false;
  };
  std::shared_ptr<batch> pending = std::make_shared<batch>();
};

namespace {

struct walk {
  std::string symbol;
  double mid;
  double spread;
};

net::awaitable<void> run_sim(market_feed* feed, std::shared_ptr<net::steady_timer> timer,
                             std::shared_ptr<std::atomic<bool>> stopped, std::vector<std::string> symbols,
                             double rate) {
  std::mt19937_64 rng{std::random_device{}()};
  std::normal_distribution<double> step(0.0, 1.0);
  std::vector<walk> walks;
  for (std::size_t i = 0; i < symbols.size(); ++i) {
    const double mid = 1.0 + static_cast<double>(i % 7) * 0.35;
    walks.push_back({symbols[i], mid, mid * 0.0001});
  }
  const auto period = std::chrono::microseconds(static_cast<std::int64_t>(1e6 / std::max(rate, 0.001)));
  auto next = std::chrono::steady_clock::now();
  while (!*stopped) {
    next += period;
    timer->expires_at(next);
    boost::system::error_code ec;
    co_await timer->async_wait(net::redirect_error(net::use_awaitable, ec));
    if (*stopped) break;
    const auto now = now_us();
    for (auto& w : walks) {
      w.mid = std::max(w.mid * (1.0 + step(rng) * 0.0002), 1e-6);
      tick t{w.symbol, std::round((w.mid - w.spread / 2) * 1e5) / 1e5, std::round((w.mid + w.spread / 2) * 1e5) / 1e5,
             now, std::nullopt};
      feed->deliver(t);
    }
  }
}

}  // namespace

market_feed::market_feed(const config::settings& settings, std::shared_ptr<ws::server> server, net::any_io_executor ex)
    : impl_(std::make_unique<impl>()) {
  impl_->s = settings;
  impl_->server = std::move(server);
  impl_->ex = std::move(ex);
}

market_feed::~market_feed() { stop(); }

void market_feed::deliver(const tick& t) {
  stats_.ticks++;
  auto& I = *impl_;
  I.pending->ticks.push_back({ws::market_room(t.symbol), std::make_shared<const std::string>(encode_market_update(t)),
                              conflation_key(t.symbol), t.ts});
  if (I.pending->posted) return;
  I.pending->posted = true;
  net::post(I.ex, [b = I.pending, server = I.server] {
    b->posted = false;
    server->broadcast_many(std::exchange(b->ticks, {}));
  });
}

void market_feed::start() {
  auto& I = *impl_;
  const auto& m = I.s.market;
  if (m.feed == "sim") {
    I.sim_timer = std::make_shared<net::steady_timer>(I.ex);
    net::co_spawn(I.ex, run_sim(this, I.sim_timer, I.stopped, m.symbols, m.sim_rate), net::detached);
    spdlog::info("market feed: simulated, {} symbols at {}/s each", m.symbols.size(), m.sim_rate);
  }
  // Account updates always come from Redis (market.feed: none is about ticks only: it returned
  // here, and account:update and balance:<id> silently stopped); ticks too when the feed is redis.
  auto opts = cache::client_options::from(I.s);
  opts.name = "pubsub";
  I.sub = cache::subscriber::create(I.ex, opts);
  auto copts = cache::client_options::from(I.s);
  copts.name = "feed";
  I.client = cache::async_client::create(I.ex, copts);
  I.client->start();
  I.sub->start();
  if (m.feed == "redis") {
    I.sub->subscribe({m.channel}, [this](std::string_view, std::string_view payload) {
      auto t = parse_tick(payload);
      if (!t) {
        stats_.malformed++;
        return;
      }
      deliver(*t);
    });
  }
  const auto ttl = std::to_string(std::max<std::int64_t>(1, I.s.market.balance_ttl.count() / 1000));
  I.sub->subscribe({m.account_channel}, [this, ttl](std::string_view, std::string_view payload) {
    auto u = parse_account_update(payload);
    if (!u) {
      stats_.malformed++;
      return;
    }
    stats_.account_updates++;
    auto frame = std::make_shared<const std::string>(encode_account_update(*u));
    impl_->server->broadcast(ws::account_room(u->account), std::move(frame));
    // Every instance writes the same value: idempotent, and no instance depends on another's feeder.
    net::co_spawn(impl_->ex,
                  impl_->client->command({"SET", impl_->client->key("balance:" + u->account), u->json, "EX", ttl}),
                  net::detached);
  });
  // The subscriptions are made once the pub/sub connection is up ("redis[pubsub]: connected"), and
  // again after every reconnect: this line cannot claim them yet.
  spdlog::info("market feed: listening on {}{} (Redis pub/sub)", m.feed == "redis" ? m.channel + " and " : "",
               m.account_channel);
}

void market_feed::stop() {
  auto& I = *impl_;
  if (I.stopped->exchange(true)) return;
  if (I.sim_timer) net::post(I.ex, [t = I.sim_timer] { t->cancel(); });
  if (I.sub) I.sub->stop();
  if (I.client) I.client->stop();
}

bool market_feed::bus_connected() const {
  if (!impl_->sub) return true;
  return impl_->sub->connected();
}

}  // namespace zuperior::feed
