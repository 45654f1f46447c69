#pragma once
// The daemon's HTTP API: probes, /metrics, /apis/*. Handlers run on network threads and never block:
// database work and bcrypt go to the blocking pool via offload().
#include <atomic>
#include <memory>

#include "config/settings.hpp"
#include "http/router.hpp"

namespace zuperior::health {
class checker;
}
namespace zuperior::metrics {
class registry;
}

namespace zuperior::auth {
class jwt_codec;
struct cookie_options;
}  // namespace zuperior::auth

namespace zuperior::api {

class blocking_pool;
class limiter;

/// What the handlers use; owned by the daemon, outliving the server.
struct services {
  const config::settings* settings = nullptr;
  metrics::registry* metrics = nullptr;
  health::checker* health = nullptr;
  const std::atomic<bool>* ready = nullptr;  // false until started and again while draining
  blocking_pool* pool = nullptr;             // PostgreSQL and bcrypt
  const auth::jwt_codec* jwt = nullptr;
  const auth::cookie_options* cookie = nullptr;
  limiter* limits = nullptr;  // null: no rate limiting
};

/// Adds the /apis/auth/* and /apis/accounts routes.
void add_auth_routes(http::router& r, services& s);

/// Builds the router with every route of the API.
std::shared_ptr<http::router> build_routes(services& s);

/// `{"timestamp":…,"status":…,"checks":{database,redis,api},"details":{…}}` and whether it is healthy.
std::pair<std::string, bool> health_body(const health::checker& h);

}  // namespace zuperior::api
