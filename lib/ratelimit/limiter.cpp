#include "ratelimit/limiter.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <atomic>

#include "core/strings.hpp"
#include "core/url.hpp"
#include "metrics/registry.hpp"
#include "ratelimit/script.hpp"

namespace zuperior::ratelimit {

namespace {

enum failure { unavailable = 0, error_reply = 1, noscript = 2, bad_reply = 3 };
constexpr std::array<std::string_view, 4> failure_names{"unavailable", "error_reply", "noscript", "bad_reply"};
constexpr std::array<std::string_view, 4> source_names{"redis", "local", "open", "closed"};

// An address is counted as its client (an IPv6 client by its network); long identifiers by a hash.
std::string key_identifier(std::string_view identifier, unsigned ipv6_prefix) {
  std::string id = identifier.starts_with("ip:") && identifier.find(':', 3) != std::string_view::npos
                       ? "ip:" + core::client_key(identifier.substr(3), ipv6_prefix)
                       : std::string(identifier);
  if (id.size() <= max_identifier_size) return id;
  return "sha1:" + sha1_hex(id);
}

}  // namespace

metrics::registry* limiter::default_metrics_registry() { return &metrics::default_registry(); }

limiter::limiter(const config::ratelimit_settings& settings, std::shared_ptr<store> redis,
                 std::shared_ptr<local_limiter> local, std::string key_prefix, metrics::registry* registry,
                 unsigned ipv6_prefix)
    : settings_(std::make_shared<const config::ratelimit_settings>(settings)),
      redis_(std::move(redis)),
      local_(local ? std::move(local) : std::make_shared<local_limiter>()),
      key_prefix_(std::move(key_prefix)),
      ipv6_prefix_(ipv6_prefix) {
  if (!registry) return;
  auto& d = registry->add_counter("zuperior_ratelimit_decisions_total",
                                  "Rate-limit decisions by tier, outcome and where they were made.",
                                  {"tier", "outcome", "source"});
  for (tier t : all_tiers)
    for (int a = 0; a < 2; ++a)
      for (int s = 0; s < 4; ++s)
        decisions_[static_cast<int>(t)][a][s] = &d.labels({to_string(t), a ? "allowed" : "limited", source_names[s]});
  auto& f = registry->add_counter("zuperior_ratelimit_redis_failures_total",
                                  "Rate-limit calls to Redis that failed, by reason.", {"reason"});
  for (int i = 0; i < 4; ++i) failures_[i] = &f.labels({failure_names[i]});
  std::weak_ptr<local_limiter> weak = local_;
  registry->add_gauge("zuperior_ratelimit_local_keys", "Identifiers tracked by the in-process fallback limiter.")
      .set_callback({}, [weak] {
        auto l = weak.lock();
        return l ? static_cast<double>(l->size()) : 0.0;
      });
}

limiter::~limiter() = default;

std::shared_ptr<const config::ratelimit_settings> limiter::settings() const { return settings_.load(); }

void limiter::reload(const config::ratelimit_settings& settings) {
  settings_.store(std::make_shared<const config::ratelimit_settings>(settings));
}

std::string limiter::redis_key(tier t, std::string_view identifier) const {
  const auto s = settings_.load();
  std::string k = key_prefix_;
  k += s->key_prefix;
  k += ':';
  k += to_string(t);
  k += ':';
  k += key_identifier(identifier, ipv6_prefix_);
  return k;
}

std::string limiter::local_key(tier t, std::string_view identifier) const {
  std::string k(to_string(t));
  k += ':';
  k += key_identifier(identifier, ipv6_prefix_);
  return k;
}

void limiter::count(tier t, const decision& d) {
  if (auto* c = decisions_[static_cast<int>(t)][d.allowed ? 1 : 0][static_cast<int>(d.source)]) c->inc();
}

void limiter::count_failure(int reason, std::string_view detail) {
  if (auto* c = failures_[reason]) c->inc();
  if (reason != error_reply && reason != bad_reply) return;  // unavailable: the Redis link says it
  // A Redis that answers but refuses the script (out of memory with noeviction, a read-only
  // replica, a failed save with stop-writes-on-bgsave-error) is otherwise silent: said once per
  // 10 s for the whole process, with what Redis answered.
  static std::atomic<std::int64_t> last_ms{0};
  const std::int64_t now = unix_ms();
  std::int64_t last = last_ms.load(std::memory_order_relaxed);
  if (now - last < 10'000 || !last_ms.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  spdlog::warn(
      "ratelimit: Redis {} the rate-limit script ({}); deciding by the fallback (ratelimit.fallback_*) "
      "until it accepts it; zuperior_ratelimit_redis_failures_total counts every failure",
      reason == error_reply ? "refused" : "gave an unexpected answer to",
      detail.empty() ? "no detail" : core::one_line(detail.substr(0, 200)));
}

decision limiter::fallback(tier t, const config::ratelimit_settings& s, std::string_view identifier,
                           std::uint32_t cost) {
  const auto& ts = tier_settings(s, t);
  decision d;
  d.limit = ts.limit;
  d.now_ms = unix_ms();
  switch (fallback_of(s, t)) {
    case config::fallback_mode::local:
      return local_->decide(local_key(t, identifier), ts.limit, ts.window.count(), cost, d.now_ms);
    case config::fallback_mode::open:
      d.allowed = true;
      d.remaining = ts.limit;
      d.source = source::open;
      return d;
    case config::fallback_mode::closed:
      d.allowed = false;
      d.remaining = 0;
      d.retry_after = std::chrono::milliseconds(1000);  // Redis usually returns within seconds
      d.source = source::closed;
      return d;
  }
  return d;
}

boost::asio::awaitable<bool> limiter::load_script() {
  if (!redis_) co_return false;
  // Built before co_await: GCC 12 miscompiles string literals in a braced list inside a coroutine.
  std::vector<std::string> args;
  args.emplace_back("SCRIPT");
  args.emplace_back("LOAD");
  args.emplace_back(script_source());
  auto r = co_await redis_->command(std::move(args));
  if (r.state != store_reply::status::ok) {
    count_failure(r.state == store_reply::status::unavailable ? unavailable : error_reply, r.text);
    co_return false;
  }
  co_return r.text == script_sha1();
}

boost::asio::awaitable<decision> limiter::check(tier t, std::string identifier, std::uint32_t cost) {
  auto c = co_await check_and_get(t, std::move(identifier), {}, cost);
  co_return c.d;
}

boost::asio::awaitable<limiter::checked> limiter::check_and_get(tier t, std::string identifier, std::string key,
                                                                std::uint32_t cost) {
  const auto s = settings_.load();
  const auto& ts = tier_settings(*s, t);
  checked out;
  if (!s->enabled) {
    out.d.limit = ts.limit;
    out.d.remaining = ts.limit;
    out.d.now_ms = unix_ms();
    out.d.source = source::open;
    co_return out;
  }
  if (!redis_) {
    out.d = fallback(t, *s, identifier, cost);
    count(t, out.d);
    co_return out;
  }
  const bool with_key = !key.empty();
  // Built afresh for the rare retry, so the common case hands its only copy to the store.
  auto make_args = [&] {
    std::vector<std::string> args;
    args.reserve(8);
    args.emplace_back("EVALSHA");
    args.emplace_back(script_sha1());
    args.emplace_back(with_key ? "2" : "1");
    args.emplace_back(redis_key(t, identifier));
    if (with_key) args.push_back(key);
    args.emplace_back(std::to_string(ts.limit));
    args.emplace_back(std::to_string(ts.window.count()));
    args.emplace_back(std::to_string(cost));
    return args;
  };
  auto r = co_await redis_->command(make_args());
  if (r.state == store_reply::status::error_reply && r.text.rfind("NOSCRIPT", 0) == 0) {
    // Redis restarted or SCRIPT FLUSH: load once more and retry.
    count_failure(noscript);
    if (co_await load_script()) r = co_await redis_->command(make_args());
  }
  if (r.state == store_reply::status::ok && r.is_array && r.integers.size() == 5) {
    window_state st;
    st.current = static_cast<std::uint32_t>(r.integers[1]);
    st.previous = static_cast<std::uint32_t>(r.integers[2]);
    st.window = r.integers[3];
    const std::int64_t now = r.integers[4];
    out.d = describe(st, r.integers[0] == 1, ts.limit, ts.window.count(), cost, now);
    out.d.source = source::redis;
    count(t, out.d);
    if (with_key && out.d.allowed && r.read) {
      out.read = true;
      out.value = std::move(r.value);
    }
    co_return out;
  }
  count_failure(r.state == store_reply::status::unavailable ? unavailable
                : r.state == store_reply::status::ok        ? bad_reply
                                                            : error_reply,
                r.text);
  out.d = fallback(t, *s, identifier, cost);
  count(t, out.d);
  co_return out;
}

}  // namespace zuperior::ratelimit
