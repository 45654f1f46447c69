#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <map>

#include "metrics/registry.hpp"
#include "ratelimit/cache_reply.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/script.hpp"

using namespace zuperior;
using namespace zuperior::ratelimit;
namespace asio = boost::asio;

namespace {

// Redis as far as the limiter can tell: SCRIPT LOAD, EVALSHA running the same steps as the Lua
// script, NOSCRIPT until loaded, and an outage switch.
class fake_store : public store {
 public:
  bool down = false;
  bool loaded = false;
  std::int64_t now = 1'700'000'000'000;
  int evalsha_calls = 0, loads = 0;
  std::map<std::string, window_state> keys;
  std::vector<std::string> last;

  asio::awaitable<store_reply> command(std::vector<std::string> args) override {
    last = args;
    store_reply r;
    if (down) co_return r;  // unavailable
    if (args.at(0) == "SCRIPT") {
      ++loads;
      loaded = true;
      r.state = store_reply::status::ok;
      r.text = sha1_hex(args.at(2));
      co_return r;
    }
    REQUIRE(args.at(0) == "EVALSHA");
    ++evalsha_calls;
    if (!loaded || args.at(1) != script_sha1()) {
      r.state = store_reply::status::error_reply;
      r.text = "NOSCRIPT No matching script. Please use EVAL.";
      co_return r;
    }
    auto& s = keys[args.at(3)];
    const auto limit = static_cast<std::uint32_t>(std::stoul(args.at(4)));
    const auto window = std::stoll(args.at(5));
    const auto cost = static_cast<std::uint32_t>(std::stoul(args.at(6)));
    const bool ok = step(s, limit, window, cost, now);
    r.state = store_reply::status::ok;
    r.is_array = true;
    r.integers = {ok ? 1 : 0, s.current, s.previous, s.window, now};
    co_return r;
  }
};

template <class F>
auto run(F f) {
  asio::io_context io;
  auto fut = asio::co_spawn(io, f(), asio::use_future);
  io.run();
  return fut.get();
}

}  // namespace

TEST_CASE("decisions go through Redis by EVALSHA, loading the script on NOSCRIPT") {
  auto st = std::make_shared<fake_store>();
  metrics::registry reg;
  config::ratelimit_settings s;
  limiter lim(s, st, nullptr, "zp:", &reg);
  int ok = 0;
  for (int i = 0; i < 12; ++i) ok += run([&]() { return lim.check(tier::strict, "ip:1.2.3.4"); }).allowed;
  CHECK(ok == 10);
  CHECK(st->loads == 1);
  CHECK(st->evalsha_calls == 13);  // one NOSCRIPT, then one per decision
  CHECK(st->keys.count("zp:ratelimit:strict:ip:1.2.3.4") == 1);
  const auto d = run([&]() { return lim.check(tier::strict, "ip:1.2.3.4"); });
  CHECK_FALSE(d.allowed);
  CHECK(d.source == source::redis);
  CHECK(d.limit == 10);
  CHECK(d.retry_after.count() > 0);
  const std::string m = reg.render();
  CHECK(m.find("zuperior_ratelimit_decisions_total{tier=\"strict\",outcome=\"allowed\",source=\"redis\"} 10\n") !=
        std::string::npos);
  CHECK(m.find("zuperior_ratelimit_decisions_total{tier=\"strict\",outcome=\"limited\",source=\"redis\"} 3\n") !=
        std::string::npos);
  CHECK(m.find("zuperior_ratelimit_redis_failures_total{reason=\"noscript\"} 1\n") != std::string::npos);
  // Redis flushed its scripts: reloaded transparently.
  st->loaded = false;
  CHECK(run([&]() { return lim.check(tier::standard, "user:9"); }).allowed);
  CHECK(st->loads == 2);
}

TEST_CASE("load_script checks the SHA Redis returns") {
  auto st = std::make_shared<fake_store>();
  limiter lim({}, st, nullptr, "", nullptr);
  CHECK(run([&]() { return lim.load_script(); }));
  st->down = true;
  CHECK_FALSE(run([&]() { return lim.load_script(); }));
}

TEST_CASE("with Redis down each tier follows its fallback mode") {
  auto st = std::make_shared<fake_store>();
  st->down = true;
  metrics::registry reg;
  config::ratelimit_settings s;
  s.fallback_strict = config::fallback_mode::local;
  s.fallback_standard = config::fallback_mode::open;
  s.fallback_generous = config::fallback_mode::closed;
  auto local = std::make_shared<local_limiter>();
  limiter lim(s, st, local, "", &reg);
  int ok = 0;
  for (int i = 0; i < 15; ++i) {
    auto d = run([&]() { return lim.check(tier::strict, "ip:9.9.9.9"); });
    ok += d.allowed;
    CHECK(d.source == source::local);
  }
  CHECK(ok == 10);
  CHECK(local->size() == 1);
  for (int i = 0; i < 200; ++i) CHECK(run([&]() { return lim.check(tier::standard, "ip:9.9.9.9"); }).allowed);
  const auto closed = run([&]() { return lim.check(tier::generous, "ip:9.9.9.9"); });
  CHECK_FALSE(closed.allowed);
  CHECK(closed.source == source::closed);
  CHECK(closed.retry_after.count() > 0);
  const std::string m = reg.render();
  CHECK(m.find("reason=\"unavailable\"} 216\n") != std::string::npos);
  CHECK(m.find("{tier=\"standard\",outcome=\"allowed\",source=\"open\"} 200\n") != std::string::npos);
  CHECK(m.find("{tier=\"strict\",outcome=\"limited\",source=\"local\"} 5\n") != std::string::npos);
  CHECK(m.find("zuperior_ratelimit_local_keys 1\n") != std::string::npos);
  // Redis is back: decisions return to it.
  st->down = false;
  CHECK(run([&]() { return lim.check(tier::strict, "ip:9.9.9.9"); }).source == source::redis);
}

TEST_CASE("reload changes limits; disabled limits allow everything; long identifiers are hashed") {
  auto st = std::make_shared<fake_store>();
  config::ratelimit_settings s;
  limiter lim(s, st, nullptr, "", nullptr);
  s.strict.limit = 2;
  lim.reload(s);
  CHECK(lim.settings()->strict.limit == 2);
  int ok = 0;
  for (int i = 0; i < 5; ++i) ok += run([&]() { return lim.check(tier::strict, "user:1"); }).allowed;
  CHECK(ok == 2);
  s.enabled = false;
  lim.reload(s);
  CHECK(run([&]() { return lim.check(tier::strict, "user:1"); }).allowed);
  const std::string long_id(5000, 'x');
  CHECK(lim.redis_key(tier::standard, long_id) == "ratelimit:standard:sha1:" + sha1_hex(long_id));
  CHECK(lim.local_key(tier::websocket, "ip:1") == "websocket:ip:1");
  // An IPv6 client is one client across its /64 (the default), in Redis and locally.
  CHECK(lim.redis_key(tier::strict, "ip:2001:db8:1:2::a") == "ratelimit:strict:ip:2001:db8:1:2::/64");
  CHECK(lim.redis_key(tier::strict, "ip:2001:db8:1:2:ffff:1:2:3") == lim.redis_key(tier::strict, "ip:2001:db8:1:2::b"));
  CHECK(lim.local_key(tier::strict, "ip:2001:db8:1:2::a") == "strict:ip:2001:db8:1:2::/64");
  CHECK(lim.redis_key(tier::strict, "ip:203.0.113.9") == "ratelimit:strict:ip:203.0.113.9");
  const std::string long_ip = "ip:" + std::string(300, ':');  // not an address: still bounded by a hash
  CHECK(lim.redis_key(tier::strict, long_ip) == "ratelimit:strict:sha1:" + sha1_hex(long_ip));
  limiter per_address(s, nullptr, nullptr, "", nullptr, 128);
  CHECK(per_address.redis_key(tier::strict, "ip:2001:db8:1:2::a") == "ratelimit:strict:ip:2001:db8:1:2::a");
}

TEST_CASE("without a store the local limiter decides") {
  limiter lim({}, nullptr, nullptr, "", nullptr);
  int ok = 0;
  for (int i = 0; i < 12; ++i) ok += run([&]() { return lim.check(tier::strict, "ip:1"); }).allowed;
  CHECK(ok == 10);
}

TEST_CASE("tier names") {
  CHECK(parse_tier("generous") == tier::generous);
  CHECK_FALSE(parse_tier("Generous"));
  config::ratelimit_settings s;
  CHECK(tier_settings(s, tier::websocket).limit == 10000);
  CHECK(tier_settings(s, tier::strict).window == std::chrono::milliseconds(10'000));
}

TEST_CASE("the script's reply: integers, then optionally the value it read") {
  using cache::reply;
  auto integer = [](std::int64_t v) {
    reply r;
    r.kind = reply::type::integer;
    r.integer = v;
    return r;
  };
  auto text = [](std::string s) {
    reply r;
    r.kind = reply::type::string;
    r.text = std::move(s);
    return r;
  };
  reply arr;
  arr.kind = reply::type::array;
  for (int i = 1; i <= 5; ++i) arr.elements.push_back(integer(i));

  auto plain = to_store_reply(arr);
  CHECK(plain.is_array);
  CHECK(plain.integers == std::vector<std::int64_t>{1, 2, 3, 4, 5});
  CHECK_FALSE(plain.read);

  auto nil = arr;
  nil.elements.emplace_back();  // kind nil: the key does not exist, or nothing was read
  auto with_nil = to_store_reply(nil);
  CHECK(with_nil.is_array);
  CHECK(with_nil.integers.size() == 5);
  CHECK(with_nil.read);
  CHECK_FALSE(with_nil.value);

  auto val = arr;
  val.elements.push_back(text("{\"success\":true}"));
  auto with_value = to_store_reply(val);
  CHECK(with_value.is_array);
  CHECK(with_value.integers.size() == 5);
  REQUIRE(with_value.value);
  CHECK(*with_value.value == "{\"success\":true}");

  // A string anywhere but last, or two trailing values, is not the script's answer.
  auto middle = arr;
  middle.elements.insert(middle.elements.begin() + 2, text("x"));
  CHECK_FALSE(to_store_reply(middle).is_array);
  CHECK(to_store_reply(middle).integers.empty());
  auto two = val;
  two.elements.push_back(text("y"));
  CHECK_FALSE(to_store_reply(two).is_array);
  CHECK_FALSE(to_store_reply(two).read);
}
