#include "ratelimit/limiter.hpp"

#include <openssl/evp.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <atomic>

#include "core/strings.hpp"
#include "core/url.hpp"
#include "metrics/registry.hpp"

namespace zuperior::ratelimit {

namespace {

enum failure { unavailable = 0, error_reply = 1, bad_reply = 2 };
constexpr std::array<std::string_view, 3> failure_names{"unavailable", "error_reply", "bad_reply"};
constexpr std::array<std::string_view, 4> source_names{"redis", "local", "open", "closed"};

// An address is counted as its client (an IPv6 client by its network); long identifiers by a hash.
std::string key_identifier(std::string_view identifier, unsigned ipv6_prefix) {
  std::string id = identifier.starts_with("ip:") && identifier.find(':', 3) != std::string_view::npos
                       ? "ip:" + core::client_key(identifier.substr(3), ipv6_prefix)
                       : std::string(identifier);
  if (id.size() <= max_identifier_size) return id;
  return "sha1:" + sha1_hex(id);
}

// A counter's value as GET/MGET gives it: nil is 0; anything but a whole number is not our counter.
// A negative one (a DECRBY after `ratelimit reset` deleted the counter) counts as 0.
std::optional<std::int64_t> count_of(const cache::reply& r) {
  if (r.kind == cache::reply::type::nil) return 0;
  if (r.kind != cache::reply::type::string) return std::nullopt;
  std::string_view t = r.text;
  const bool negative = t.starts_with('-');
  if (negative) t.remove_prefix(1);
  if (t.empty() || t.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return negative ? 0 : v;
}

// Takes a counted request off `counter` again (DECRBY), and sets its expiry again after it: the
// DECRBY makes the counter anew if `ratelimit reset` deleted it meanwhile. Run detached: the request
// does not wait for it; a lost one leaves the counter one higher until it expires, never a request
// wrongly let through.
boost::asio::awaitable<void> take_back(std::shared_ptr<store> redis, std::string counter, std::int64_t ttl_ms,
                                       std::uint32_t cost) {
  std::vector<std::vector<std::string>> commands(2);
  commands[0].emplace_back("DECRBY");
  commands[0].push_back(counter);
  commands[0].push_back(std::to_string(cost));
  commands[1].emplace_back("PEXPIRE");
  commands[1].push_back(std::move(counter));
  commands[1].push_back(std::to_string(ttl_ms));
  co_await redis->pipeline(std::move(commands));
}

}  // namespace

std::string sha1_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha1(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(static_cast<std::size_t>(n) * 2);
  for (unsigned int i = 0; i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string window_key(std::string_view key, std::int64_t index) {
  std::string k;
  k.reserve(key.size() + 21);
  k += key;
  k += ':';
  k += std::to_string(index);
  return k;
}

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
  for (std::size_t i = 0; i < failures_.size(); ++i) failures_[i] = &f.labels({failure_names[i]});
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
  // A Redis that answers but refuses the counters (out of memory with noeviction, a read-only
  // replica, a failed save with stop-writes-on-bgsave-error) is otherwise silent: said once per
  // 10 s for the whole process, with what Redis answered.
  static std::atomic<std::int64_t> last_ms{0};
  const std::int64_t now = unix_ms();
  std::int64_t last = last_ms.load(std::memory_order_relaxed);
  if (now - last < 10'000 || !last_ms.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  spdlog::warn(
      "ratelimit: Redis {} the rate-limit counters ({}); deciding by the fallback (ratelimit.fallback_*) "
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

std::int64_t limiter::shared_now(std::int64_t local) {
  std::int64_t now = local + offset_ms_.load(std::memory_order_relaxed);
  // Never back (a clock stepped back, a new offset below the last): stay in the newer window
  // rather than count into one whose count is already forgotten.
  std::int64_t high = high_water_.load(std::memory_order_relaxed);
  while (now > high && !high_water_.compare_exchange_weak(high, now, std::memory_order_relaxed)) {
  }
  return std::max(now, high);
}

void limiter::learn_clock(const store_reply& time, std::int64_t sent_ms, std::int64_t received_ms) {
  const auto& v = time.value;
  if (time.state != store_reply::status::ok || v.kind != cache::reply::type::array || v.elements.size() != 2) return;
  const auto sec = count_of(v.elements[0]), usec = count_of(v.elements[1]);
  if (!sec || !usec) return;
  // Redis read its clock somewhere in the round trip: take the middle.
  const std::int64_t redis_ms = *sec * 1000 + *usec / 1000;
  offset_ms_.store(redis_ms - (sent_ms + received_ms) / 2, std::memory_order_relaxed);
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
  const std::int64_t window = std::max<std::int64_t>(1, ts.window.count());
  const std::int64_t local = clock_();
  const std::int64_t now = shared_now(local);
  const bool sync = local - last_sync_.load(std::memory_order_relaxed) >= clock_sync_every_ms;
  if (sync) last_sync_.store(local, std::memory_order_relaxed);
  const std::int64_t index = now / window;
  const std::int64_t ttl = (index + 2) * window - now;  // to the end of the next window
  const std::string base = redis_key(t, identifier);
  std::string current = window_key(base, index);
  // Built before co_await: GCC 12 miscompiles string literals in a braced list inside a coroutine.
  std::vector<std::vector<std::string>> commands(sync ? 4 : 3);
  commands[0].reserve(3);
  commands[0].emplace_back("INCRBY");
  commands[0].push_back(current);
  commands[0].push_back(std::to_string(cost));
  // The expiry in the same pipeline, every time: a counter is never left without one, whatever
  // happens after this write. Relative, so Redis' own clock ends it: the end of the next window.
  commands[1].reserve(3);
  commands[1].emplace_back("PEXPIRE");
  commands[1].push_back(current);
  commands[1].push_back(std::to_string(ttl));
  commands[2].reserve(3);
  commands[2].emplace_back(with_key ? "MGET" : "GET");
  commands[2].push_back(window_key(base, index - 1));
  if (with_key) commands[2].push_back(std::move(key));
  if (sync) commands[3].emplace_back("TIME");
  const auto ex = co_await boost::asio::this_coro::executor;  // for the take-back, if any
  auto r = co_await redis_->pipeline(std::move(commands));
  if (sync && r.size() == 4) learn_clock(r[3], local, clock_());

  int why = bad_reply;
  std::string detail;
  for (const auto& one : r) {
    if (one.state == store_reply::status::unavailable) {
      why = unavailable;
      break;
    }
    if (one.state == store_reply::status::error_reply) {
      why = error_reply;
      detail = one.value.text;
    }
  }
  std::optional<std::int64_t> previous;
  const cache::reply* value = nullptr;
  const bool counted_ok =
      r.size() >= 3 && r[0].state == store_reply::status::ok && r[0].value.kind == cache::reply::type::integer;
  if (counted_ok && r[2].state == store_reply::status::ok) {
    const auto& got = r[2].value;
    if (!with_key) {
      previous = count_of(got);
    } else if (got.kind == cache::reply::type::array && got.elements.size() == 2) {
      previous = count_of(got.elements[0]);
      value = &got.elements[1];
    }
  }
  if (previous && (!with_key || value->kind == cache::reply::type::nil || value->kind == cache::reply::type::string)) {
    const auto c = counted(r[0].value.integer, *previous, ts.limit, window, cost, now);
    out.d = describe(c.state, c.allowed, ts.limit, window, cost, now);
    out.d.source = source::redis;
    count(t, out.d);
    if (with_key && c.allowed) {
      out.read = true;
      if (value->kind == cache::reply::type::string) out.value = std::move(r[2].value.elements[1].text);
    }
    if (!c.allowed) boost::asio::co_spawn(ex, take_back(redis_, std::move(current), ttl, cost), boost::asio::detached);
    co_return out;
  }
  // The INCRBY counted but the decision is the fallback's: take it off again.
  if (counted_ok) boost::asio::co_spawn(ex, take_back(redis_, std::move(current), ttl, cost), boost::asio::detached);
  count_failure(why, detail);
  out.d = fallback(t, *s, identifier, cost);
  count(t, out.d);
  co_return out;
}

}  // namespace zuperior::ratelimit
