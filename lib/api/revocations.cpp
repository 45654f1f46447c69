#include "api/revocations.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <optional>

#include "auth/jwt.hpp"
#include "auth/revocation_list.hpp"
#include "cache/async_client.hpp"
#include "cache/subscriber.hpp"
#include "metrics/registry.hpp"

namespace zuperior::api {

namespace net = boost::asio;

namespace {

// KEYS[1] the set (also the channel); ARGV: jti, until (epoch seconds). One round trip: the id is
// stored (the later expiry kept; ZADD's GT flag would need Redis 6.2), ids past their expiry leave
// the set, every instance hears of it. "Past" by Redis' clock, the one every instance shares: by
// the revoking instance's own, one whose clock ran ahead dropped ids still valid elsewhere, and an
// instance reading the set after that accepted their tokens again.
constexpr const char* revoke_script =
    "local cur = redis.call('ZSCORE', KEYS[1], ARGV[1]) "
    "if not cur or tonumber(cur) < tonumber(ARGV[2]) then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. redis.call('TIME')[1]) "
    "redis.call('PUBLISH', KEYS[1], ARGV[2] .. ' ' .. ARGV[1]) "
    "return 1";

constexpr std::size_t scan_count = 1000;

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

struct revocations::state {
  net::any_io_executor ex;
  std::string key;  // prefixed; also the channel's name
  std::shared_ptr<cache::async_client> client;
  auth::revocation_list list;
  std::function<void(std::string_view)> on_revoked;
  // Adds one id; tells on_revoked when it is new here.
  bool add(std::string_view jti, std::int64_t until, std::int64_t now) {
    const bool fresh = !list.contains(jti);
    if (!list.add(jti, until, now)) return false;
    if (fresh && on_revoked) on_revoked(jti);
    return true;
  }
  state(net::any_io_executor e, std::string k, std::shared_ptr<cache::async_client> c)
      : ex(e), key(std::move(k)), client(std::move(c)) {}
};

namespace {

// Reads the whole set (the ids not yet expired) into memory with ZSCAN: incremental, so a large set
// never blocks Redis (paging ZRANGEBYSCORE by offset costs O(offset) a page); an id it returns
// twice is added twice, harmlessly. False when Redis did not answer.
net::awaitable<bool> load_once(const std::shared_ptr<revocations::state>& st, std::string& error) {
  const auto now = auth::unix_now();
  std::size_t loaded = 0;
  std::string cursor = "0";
  do {
    std::vector<std::string> cmd{"ZSCAN", st->key, cursor, "COUNT", std::to_string(scan_count)};
    auto r = co_await st->client->command(std::move(cmd));
    if (!r || r.value.kind != cache::reply::type::array || r.value.elements.size() != 2 ||
        r.value.elements[1].kind != cache::reply::type::array) {
      error = r ? "unexpected reply" : r.value.text.empty() ? r.ec.message() : r.value.text;
      co_return false;
    }
    cursor = r.value.elements[0].text;
    const auto& e = r.value.elements[1].elements;
    for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
      auto until = parse_int(e[i + 1].text);  // scores are whole seconds
      if (until && *until > now && !e[i].text.empty() && e[i].text.size() <= auth::max_jti_size &&
          st->add(e[i].text, *until, now))
        ++loaded;
    }
  } while (cursor != "0" && !cursor.empty());
  spdlog::debug("revoked tokens: {} read from Redis", loaded);
  co_return true;
}

// load_once() after the pub/sub link (re)connected. The command connection may come up a moment
// later than the pub/sub one (both start together): it is waited for, and a failed read retried.
net::awaitable<void> load(std::shared_ptr<revocations::state> st) {
  std::string error = "not connected";
  net::steady_timer pause(st->ex);
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (attempt > 0) {
      pause.expires_after(std::chrono::seconds(1));
      boost::system::error_code ec;
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    const bool up = co_await st->client->wait_connected(std::chrono::seconds(2));
    if (!up) continue;
    const bool done = co_await load_once(st, error);
    if (done) co_return;
  }
  spdlog::warn(
      "revoked tokens: cannot read {} from Redis ({}); logouts on other instances are known here only as "
      "they are announced",
      st->key, error);
}

}  // namespace

revocations::revocations(net::any_io_executor ex, const cache::client_options& opts,
                         std::shared_ptr<cache::async_client> client, metrics::registry* registry)
    : state_(std::make_shared<state>(ex, opts.key_prefix + std::string(revoked_tokens_key), std::move(client))) {
  auto o = opts;
  o.name = "revocations";
  sub_ = cache::subscriber::create(ex, o);
  if (registry) {
    std::weak_ptr<state> w = state_;
    registry->add_callback_gauge("zuperior_auth_revoked_tokens", "Logged-out tokens refused until they expire.", [w] {
      auto st = w.lock();
      return st ? static_cast<double>(st->list.size()) : 0.0;
    });
  }
}

revocations::~revocations() { stop(); }

bool revocations::revoked(std::string_view jti) const { return state_->list.contains(jti); }

void revocations::on_revoked(std::function<void(std::string_view jti)> fn) { state_->on_revoked = std::move(fn); }

void revocations::start() {
  auto st = state_;
  sub_->subscribe({st->key}, [st](std::string_view, std::string_view payload) {
    // "<until> <jti>"
    auto sp = payload.find(' ');
    if (sp == std::string_view::npos) return;
    auto until = parse_int(payload.substr(0, sp));
    auto jti = payload.substr(sp + 1);
    if (!until || jti.empty() || jti.size() > auth::max_jti_size) return;
    st->add(jti, *until, auth::unix_now());
  });
  sub_->on_subscribed([st] { net::co_spawn(st->ex, load(st), net::detached); });
  sub_->start();
}

void revocations::stop() {
  if (sub_) sub_->stop();
}

net::awaitable<bool> revocations::revoke(std::shared_ptr<cache::async_client> client, std::string jti,
                                         std::int64_t until, std::string request_id) {
  const auto now = auth::unix_now();
  if (!state_->add(jti, until, now))
    spdlog::warn("[{}] revoked tokens: {} held in memory, the most kept; this token stays valid until it expires",
                 request_id, state_->list.size());
  if (!client) co_return false;
  std::vector<std::string> cmd{"EVAL", revoke_script, "1", state_->key, jti, std::to_string(until)};
  auto r = co_await client->command(std::move(cmd));
  if (!r) {
    spdlog::warn("[{}] logout: the token is refused here, but Redis did not record it for the other instances: {}",
                 request_id, r.value.text.empty() ? r.ec.message() : r.value.text);
    co_return false;
  }
  co_return true;
}

}  // namespace zuperior::api
