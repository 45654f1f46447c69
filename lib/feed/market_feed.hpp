#pragma once
// Feeds the real-time server: subscribes to the market and account channels in Redis (every
// instance does, so a tick published once reaches the clients of all instances), or runs a
// simulated random walk (`market.feed: sim`). Account updates are also stored as
// `balance:<accountId>` so the next subscriber gets them at once.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <memory>

#include "config/settings.hpp"
#include "ws/server.hpp"

namespace zuperior::feed {

/// Counters for /metrics and /apis/health.
struct feed_stats {
  std::atomic<std::uint64_t> ticks{0};
  std::atomic<std::uint64_t> account_updates{0};
  std::atomic<std::uint64_t> malformed{0};
};

/// The market and account feed of one `serve` process.
class market_feed {
 public:
  /// Builds the feed; nothing runs before start(). `ex` is the executor its Redis connections and timer use.
  market_feed(const config::settings& settings, std::shared_ptr<ws::server> server, boost::asio::any_io_executor ex);
  ~market_feed();
  /// Connects/subscribes (redis) or starts the random walk (sim); throws on a bad Redis URL.
  void start();
  /// Stops everything; idempotent.
  void stop();
  /// True while the pub/sub connection is up (always true for sim/none).
  bool bus_connected() const;
  /// Counters.
  const feed_stats& stats() const { return stats_; }
  /// Delivers one tick to local sockets (used by the sim feed and the Redis handler), on the feed's
  /// executor. The ticks of one event-loop turn (one Redis read, one sim step) leave together.
  void deliver(const struct tick& t);

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
  feed_stats stats_;
};

}  // namespace zuperior::feed
