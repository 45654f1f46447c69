#include "ratelimit/cache_store.hpp"

#include "cache/async_client.hpp"
#include "ratelimit/cache_reply.hpp"

namespace zuperior::ratelimit {

cache_store::cache_store(std::shared_ptr<cache::async_client> client) : client_(std::move(client)) {}

boost::asio::awaitable<store_reply> cache_store::command(std::vector<std::string> args) {
  auto r = co_await client_->command(std::move(args));
  if (!r.ec) co_return to_store_reply(std::move(r.value));
  if (r.ec == cache::make_error_code(cache::errc::error_reply)) {
    store_reply out;
    out.state = store_reply::status::error_reply;
    out.text = r.value.text;
    co_return out;
  }
  co_return store_reply{};  // timeout, disconnected, stopped: Redis is unavailable for this decision
}

}  // namespace zuperior::ratelimit
