#pragma once
// The API's rate-limit port over lib/ratelimit: one Redis-backed limiter per worker (each with the
// worker's own pipelined async Redis connection), sharing one in-process fallback limiter.
#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <vector>

#include "api/limits.hpp"
#include "config/settings.hpp"

namespace zuperior::cache {
class async_client;
}
namespace zuperior::ratelimit {
class limiter;
class local_limiter;
}  // namespace zuperior::ratelimit

namespace zuperior::daemon {

/// Rate limits decided in Redis (shared by every instance), falling back per tier while it is down.
class redis_limits final : public api::limiter {
 public:
  /// One Redis client and limiter per executor (index = worker); clients start connecting at once.
  redis_limits(const config::settings& s, const std::vector<boost::asio::any_io_executor>& workers);
  ~redis_limits() override;
  boost::asio::awaitable<api::decision> check(std::size_t worker, api::tier t, std::string identifier) override;
  /// The decision and the entry's value from one round trip (see ratelimit::limiter::check_and_get).
  boost::asio::awaitable<checked_read> check_and_get(std::size_t worker, api::tier t, std::string identifier,
                                                     std::string redis_key) override;
  /// New tiers and fallbacks (SIGHUP).
  void reload(const config::ratelimit_settings& s);
  /// Closes the Redis connections (before the workers stop).
  void stop();
  /// The worker's Redis client (shared with other users of Redis on that worker).
  std::shared_ptr<cache::async_client> client(std::size_t worker) const;

 private:
  std::shared_ptr<ratelimit::local_limiter> local_;
  std::vector<std::shared_ptr<cache::async_client>> clients_;
  std::vector<std::unique_ptr<ratelimit::limiter>> limiters_;
};

}  // namespace zuperior::daemon
