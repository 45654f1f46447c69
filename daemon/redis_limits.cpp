#include "daemon/redis_limits.hpp"

#include "cache/async_client.hpp"
#include "ratelimit/cache_store.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/local_limiter.hpp"
#include "ratelimit/tier.hpp"

namespace zuperior::daemon {
namespace {

const char* source_name(ratelimit::source s) {
  switch (s) {
    case ratelimit::source::redis:
      return "redis";
    case ratelimit::source::local:
      return "local";
    case ratelimit::source::open:
      return "open";
    case ratelimit::source::closed:
      return "closed";
  }
  return "redis";
}

api::decision to_api(const ratelimit::decision& d, const config::ratelimit_settings& s, ratelimit::tier t) {
  api::decision out;
  out.allowed = d.allowed;
  out.applied = s.enabled;
  out.limit = d.limit;
  out.remaining = d.remaining;
  out.reset_ms = d.reset_at_ms();
  out.reset_after_ms = d.reset_after.count();
  out.retry_after_s = (d.retry_after.count() + 999) / 1000;
  out.window = ratelimit::tier_settings(s, t).window;
  out.source = source_name(d.source);
  return out;
}

}  // namespace

redis_limits::redis_limits(const config::settings& s, const std::vector<boost::asio::any_io_executor>& workers)
    : local_(std::make_shared<ratelimit::local_limiter>()) {
  std::size_t i = 0;
  for (const auto& ex : workers) {
    auto opts = cache::client_options::from(s);
    opts.name = "worker" + std::to_string(i++);
    auto client = cache::async_client::create(ex, opts);
    client->start();
    auto store = std::make_shared<ratelimit::cache_store>(client);
    limiters_.push_back(std::make_unique<ratelimit::limiter>(s.ratelimit, store, local_, s.redis.key_prefix,
                                                             ratelimit::limiter::default_metrics_registry(),
                                                             s.server.ipv6_prefix));
    clients_.push_back(std::move(client));
  }
}

redis_limits::~redis_limits() = default;

boost::asio::awaitable<api::decision> redis_limits::check(std::size_t worker, api::tier t, std::string identifier) {
  auto& l = *limiters_.at(worker % limiters_.size());
  auto settings = l.settings();
  auto d = co_await l.check(t, std::move(identifier));  // api::tier is ratelimit::tier
  co_return to_api(d, *settings, t);
}

boost::asio::awaitable<api::limiter::checked_read> redis_limits::check_and_get(std::size_t worker, api::tier t,
                                                                               std::string identifier,
                                                                               std::string redis_key) {
  auto& l = *limiters_.at(worker % limiters_.size());
  auto settings = l.settings();
  auto c = co_await l.check_and_get(t, std::move(identifier), std::move(redis_key));
  checked_read out;
  out.d = to_api(c.d, *settings, t);
  out.read = c.read;
  out.value = std::move(c.value);
  co_return out;
}

void redis_limits::reload(const config::ratelimit_settings& s) {
  for (auto& l : limiters_) l->reload(s);
}

void redis_limits::stop() {
  for (auto& c : clients_) c->stop();
}

std::shared_ptr<cache::async_client> redis_limits::client(std::size_t worker) const {
  return clients_.at(worker % clients_.size());
}

}  // namespace zuperior::daemon
