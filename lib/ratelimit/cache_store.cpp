#include "ratelimit/cache_store.hpp"

#include "cache/async_client.hpp"

namespace zuperior::ratelimit {

cache_store::cache_store(std::shared_ptr<cache::async_client> client) : client_(std::move(client)) {}

boost::asio::awaitable<std::vector<store_reply>> cache_store::pipeline(std::vector<std::vector<std::string>> commands) {
  auto rs = co_await client_->pipeline(std::move(commands));
  std::vector<store_reply> out(rs.size());
  for (std::size_t i = 0; i < rs.size(); ++i) {
    auto& r = rs[i];
    if (!r.ec) {
      out[i].state = store_reply::status::ok;
      out[i].value = std::move(r.value);
    } else if (r.ec == cache::make_error_code(cache::errc::error_reply)) {
      out[i].state = store_reply::status::error_reply;
      out[i].value = std::move(r.value);
    }  // timeout, disconnected, stopped: Redis is unavailable for this decision
  }
  co_return out;
}

}  // namespace zuperior::ratelimit
