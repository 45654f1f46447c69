#pragma once
// The daemon's HTTP API: probes, /metrics, /apis/*. Handlers run on network threads and never block:
// SQL goes to the PostgreSQL pool (lib/db/pool, prepared statements), bcrypt to a small CPU pool,
// cached reads to the worker's own asynchronous Redis connection.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/settings.hpp"
#include "http/router.hpp"

namespace zuperior::health {
class checker;
}
namespace zuperior::http {
class proxy_list;
}
namespace zuperior::metrics {
class registry;
}

namespace zuperior::auth {
class jwt_codec;
struct cookie_options;
}  // namespace zuperior::auth
namespace zuperior::db {
class pool;
}
namespace zuperior::cache {
class cache;
class async_client;
}  // namespace zuperior::cache

namespace zuperior::api {

class blocking_pool;
class limiter;
class revocations;

/// What the handlers use; owned by the daemon, outliving the server.
struct services {
  const config::settings* settings = nullptr;
  metrics::registry* metrics = nullptr;
  health::checker* health = nullptr;
  const std::atomic<bool>* ready = nullptr;  // false until started and again while draining
  db::pool* db = nullptr;                    // PostgreSQL (statements from prepare_statements())
  blocking_pool* cpu = nullptr;              // bcrypt: CPU work kept off the network threads
  const auth::jwt_codec* jwt = nullptr;
  const auth::cookie_options* cookie = nullptr;
  limiter* limits = nullptr;       // null: no rate limiting
  revocations* revoked = nullptr;  // logged-out tokens; null: logout only clears the cookie
  /// Each worker's own Redis connection (index = request_context::worker), for logouts.
  std::vector<std::shared_ptr<cache::async_client>> redis;
  /// One cache per worker (index = request_context::worker), each on that worker's Redis
  /// connection; empty: nothing is cached.
  std::vector<std::shared_ptr<cache::cache>> caches;
  std::chrono::seconds accounts_ttl{60};  // 0: GET /apis/accounts is not cached
  /// server.internal_networks: who may read /metrics and health's error texts (null: nobody).
  const http::proxy_list* internal = nullptr;
};

/// Registers the API's prepared statements on `pool` (once, before serving).
void prepare_statements(db::pool& pool);

/// Whether MT5 account `account_id` belongs to `user_id` (prepared statement on the pool); nullopt
/// when the database cannot answer. For the real-time layer's subscribe:account check.
boost::asio::awaitable<std::optional<bool>> owns_account(db::pool& pool, std::string user_id, std::string account_id);

/// The active owner (user id) of each of `account_ids` that has one: an account whose owner is not
/// active, or that does not exist, is absent. nullopt when the database cannot answer. For the
/// real-time layer's periodic re-check of account subscriptions.
boost::asio::awaitable<std::optional<std::unordered_map<std::string, std::string>>> active_owners(
    db::pool& pool, std::vector<std::string> account_ids);

/// Adds the /apis/auth/* and /apis/accounts routes.
void add_auth_routes(http::router& r, services& s);

/// Builds the router with every route of the API.
std::shared_ptr<http::router> build_routes(services& s);

/// `{"timestamp":…,"status":…,"checks":{database,redis,api},"details":{…}}` stamped `now_ms` (epoch
/// milliseconds), and whether it is healthy.
std::pair<std::string, bool> health_body(const health::checker& h, std::int64_t now_ms, bool with_errors = true);

}  // namespace zuperior::api
