#pragma once
#include <memory>

#include "ratelimit/store.hpp"

namespace zuperior::cache {
class async_client;
}

namespace zuperior::ratelimit {

/// The limiter's store over the daemon's asynchronous Redis client (pipelined, with deadlines;
/// fails at once while Redis is down, which sends the limiter to its fallback immediately).
class cache_store : public store {
 public:
  explicit cache_store(std::shared_ptr<cache::async_client> client);
  /// Runs the pipeline on the client; timeouts and disconnections become status::unavailable.
  boost::asio::awaitable<std::vector<store_reply>> pipeline(std::vector<std::vector<std::string>> commands) override;

 private:
  std::shared_ptr<cache::async_client> client_;
};

}  // namespace zuperior::ratelimit
