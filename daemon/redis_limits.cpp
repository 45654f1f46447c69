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
    limiters_.push_back(std::make_unique<ratelimit::limiter>(s.ratelimit, store, local_, s.redis.key_prefix));
    clients_.push_back(std::move(client));
  }
}

redis_limits::~redis_limits() = default;

boost::asio::awaitable<api::decision> redis_limits::check(std::size_t worker, api::tier t, std::string identifier) {
  auto& l = *limiters_.at(worker % limiters_.size());
  auto rt = t;  // api::tier is ratelimit::tier
  auto settings = l.settings();
  auto d = co_await l.check(rt, std::move(identifier));
  api::decision out;
  out.allowed = d.allowed;
  out.applied = settings->enabled;
  out.limit = d.limit;
  out.remaining = d.remaining;
  out.reset_ms = d.reset_at_ms();
  out.retry_after_s = (d.retry_after.count() + 999) / 1000;
  out.window = ratelimit::tier_settings(*settings, rt).window;
  out.source = source_name(d.source);
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
