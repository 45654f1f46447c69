#pragma once
// The real-time layer of `serve`: the Socket.IO endpoint (lib/ws) with the product checks wired to
// JWT, the database, Redis and the rate limiter, the market feed (lib/feed), and their metrics.
// Build it after the http::server and before server.start(); start() after the listeners,
// shutdown() first on SIGTERM.
#include <functional>
#include <memory>
#include <string_view>

#include "config/settings.hpp"

namespace zuperior::http {
class server;
}
namespace zuperior::api {
class limiter;
class revocations;
}  // namespace zuperior::api
namespace zuperior::db {
class pool;
}
namespace zuperior::auth {
class jwt_codec;
}
namespace zuperior::metrics {
class registry;
}

namespace zuperior::daemon {

/// What the real-time layer borrows from the composition root (all outlive it).
struct realtime_deps {
  const config::settings* settings = nullptr;
  http::server* server = nullptr;
  db::pool* db = nullptr;  // the PostgreSQL pool (account-owner checks)
  const auth::jwt_codec* jwt = nullptr;
  api::limiter* limits = nullptr;  // the rate limits (the websocket tier counts inbound events)
  metrics::registry* registry = nullptr;
  const api::revocations* revoked = nullptr;  // logged-out tokens, refused at CONNECT
};

/// The Socket.IO endpoint, its feed and metrics.
class realtime {
 public:
  /// Builds everything and mounts the endpoint (realtime.path; /engine.io/ too in protocol test mode).
  explicit realtime(const realtime_deps& deps);
  ~realtime();
  /// Starts the feed (Redis subscriptions or the simulated walk).
  void start();
  /// Clean disconnect of every client (SIGTERM), then the feed stops.
  void shutdown();
  /// True while the pub/sub connection is up (for /apis/health).
  bool bus_connected() const;
  /// For api::revocations::on_revoked: disconnects the sockets that connected with a revoked token.
  std::function<void(std::string_view jti)> revocation_handler() const;
  /// Applies the reloadable real-time keys of `fresh` (SIGHUP): realtime.connect_rate.
  void reload(const config::settings& fresh);

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace zuperior::daemon
