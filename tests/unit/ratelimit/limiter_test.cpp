#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <thread>

#include "metrics/registry.hpp"
#include "ratelimit/limiter.hpp"

using namespace zuperior;
using namespace zuperior::ratelimit;
namespace asio = boost::asio;

namespace {

// Redis as far as the limiter can tell: string counters (INCRBY, DECRBY, GET, MGET, PEXPIRE), TIME
// (`redis_ahead_ms` ahead of this host), a WRONGTYPE switch and an outage switch. Records every
// command it ran; `expiry` holds the last PEXPIRE of each key.
class fake_store : public store {
 public:
  bool down = false;
  bool wrongtype = false;  // INCRBY answers as for a key holding a hash
  std::int64_t redis_ahead_ms = 0;
  bool lose_followups = false;  // what a decision sends after its own pipeline is lost
  std::map<std::string, std::string> keys;
  std::map<std::string, std::int64_t> expiry;
  std::vector<std::vector<std::string>> ran;
  int pipelines = 0;

  asio::awaitable<std::vector<store_reply>> pipeline(std::vector<std::vector<std::string>> commands) override {
    ++pipelines;
    std::vector<store_reply> out(commands.size());
    if (down) co_return out;                                                // unavailable
    if (lose_followups && commands.at(0).at(0) != "INCRBY") co_return out;  // never reached Redis
    for (std::size_t i = 0; i < commands.size(); ++i) {
      const auto& c = commands[i];
      ran.push_back(c);
      auto& r = out[i];
      r.state = store_reply::status::ok;
      if (c.at(0) == "INCRBY" || c.at(0) == "DECRBY") {
        if (wrongtype) {
          r.state = store_reply::status::error_reply;
          r.value.kind = cache::reply::type::error;
          r.value.text = "WRONGTYPE Operation against a key holding the wrong kind of value";
          continue;
        }
        auto& v = keys[c.at(1)];
        const auto n = (v.empty() ? 0 : std::stoll(v)) + (c[0] == "INCRBY" ? 1 : -1) * std::stoll(c.at(2));
        v = std::to_string(n);
        r.value.kind = cache::reply::type::integer;
        r.value.integer = n;
      } else if (c.at(0) == "GET" || c.at(0) == "MGET") {
        auto get = [&](const std::string& k) {
          cache::reply e;
          if (auto it = keys.find(k); it != keys.end()) {
            e.kind = cache::reply::type::string;
            e.text = it->second;
          }
          return e;
        };
        if (c[0] == "GET") {
          r.value = get(c.at(1));
        } else {
          r.value.kind = cache::reply::type::array;
          for (std::size_t k = 1; k < c.size(); ++k) r.value.elements.push_back(get(c[k]));
        }
      } else if (c.at(0) == "TIME") {
        const std::int64_t t = unix_ms() + redis_ahead_ms;
        r.value.kind = cache::reply::type::array;
        r.value.elements.resize(2);
        for (auto& e : r.value.elements) e.kind = cache::reply::type::string;
        r.value.elements[0].text = std::to_string(t / 1000);
        r.value.elements[1].text = std::to_string(t % 1000 * 1000);
      } else {
        REQUIRE(c.at(0) == "PEXPIRE");
        expiry[c.at(1)] = std::stoll(c.at(2));
        r.value.kind = cache::reply::type::integer;
        r.value.integer = 1;
      }
    }
    co_return out;
  }
  int count(std::string_view name) const {
    return static_cast<int>(std::count_if(ran.begin(), ran.end(), [&](const auto& c) { return c[0] == name; }));
  }
};

template <class F>
auto run(F f) {
  asio::io_context io;
  auto fut = asio::co_spawn(io, f(), asio::use_future);
  io.run();  // also runs what a decision sends after it (DECRBY, PEXPIRE)
  return fut.get();
}

// Waits out the last second of a `window_ms` window, so what follows happens inside one window.
void settle(std::int64_t window_ms) {
  const auto into = unix_ms() % window_ms;
  if (into > window_ms - 1'000) std::this_thread::sleep_for(std::chrono::milliseconds(window_ms - into + 20));
}

}  // namespace

TEST_CASE("decisions go through Redis' counters: INCRBY, its expiry, and the previous window's count") {
  auto st = std::make_shared<fake_store>();
  metrics::registry reg;
  config::ratelimit_settings s;
  limiter lim(s, st, nullptr, "zp:", &reg);
  settle(10'000);
  const std::int64_t index = unix_ms() / 10'000;
  int ok = 0;
  for (int i = 0; i < 12; ++i) ok += run([&]() { return lim.check(tier::strict, "ip:1.2.3.4"); }).allowed;
  CHECK(ok == 10);
  CHECK(st->pipelines == 12 + 2);  // one per decision, and the two refusals' DECRBY
  const std::string counter = window_key("zp:ratelimit:strict:ip:1.2.3.4", index);
  CHECK(st->keys.at(counter) == "10");  // the two refused requests were taken off again
  CHECK(st->count("DECRBY") == 2);
  CHECK(st->count("PEXPIRE") == 12 + 2);  // with every INCRBY, in its pipeline, and every DECRBY
  CHECK(st->count("TIME") == 1);          // Redis' clock, read with the first decision
  // Relative, to the end of the next window.
  CHECK(st->expiry.at(counter) > 10'000);
  CHECK(st->expiry.at(counter) <= 20'000);
  CHECK(st->ran.at(0) == std::vector<std::string>{"INCRBY", counter, "1"});
  CHECK(st->ran.at(1).at(0) == "PEXPIRE");
  CHECK(st->ran.at(2) == std::vector<std::string>{"GET", window_key("zp:ratelimit:strict:ip:1.2.3.4", index - 1)});
  CHECK(st->ran.at(3) == std::vector<std::string>{"TIME"});
  CHECK(st->ran.at(st->ran.size() - 2) == std::vector<std::string>{"DECRBY", counter, "1"});
  CHECK(st->ran.back().at(0) == "PEXPIRE");
  const auto d = run([&]() { return lim.check(tier::strict, "ip:1.2.3.4"); });
  CHECK_FALSE(d.allowed);
  CHECK(d.source == source::redis);
  CHECK(d.limit == 10);
  CHECK(d.remaining == 0);
  CHECK(d.retry_after.count() > 0);
  const std::string m = reg.render();
  CHECK(m.find("zuperior_ratelimit_decisions_total{tier=\"strict\",outcome=\"allowed\",source=\"redis\"} 10\n") !=
        std::string::npos);
  CHECK(m.find("zuperior_ratelimit_decisions_total{tier=\"strict\",outcome=\"limited\",source=\"redis\"} 3\n") !=
        std::string::npos);
}

namespace {
std::int64_t fake_now = 0;
std::int64_t fake_clock() { return fake_now; }
}  // namespace

TEST_CASE("the windows run on Redis' clock (TIME), and never go back") {
  auto st = std::make_shared<fake_store>();
  config::ratelimit_settings s;
  limiter lim(s, st, nullptr, "", nullptr);
  lim.set_clock(&fake_clock);
  fake_now = 1'700'000'000'000;                          // a window boundary of 10 s
  st->redis_ahead_ms = 25'000 - (unix_ms() - fake_now);  // Redis reads fake_now + 25 s
  const auto first = run([&]() { return lim.check(tier::strict, "user:7"); });
  CHECK(first.now_ms == fake_now);  // before the first TIME: this host's clock
  fake_now += 1'000;
  const auto second = run([&]() { return lim.check(tier::strict, "user:7"); });
  // This host's clock plus Redis' lead (within the fake's own rounding and the run's duration).
  CHECK(second.now_ms >= fake_now + 25'000 - 50);
  CHECK(second.now_ms <= fake_now + 25'000 + 50);
  CHECK(st->keys.count(window_key("ratelimit:strict:user:7", second.now_ms / 10'000)) == 1);
  // The host's clock steps back a minute: the decisions stay in the newer window.
  fake_now -= 60'000;
  const auto third = run([&]() { return lim.check(tier::strict, "user:7"); });
  CHECK(third.now_ms == second.now_ms);
  CHECK(st->keys.at(window_key("ratelimit:strict:user:7", second.now_ms / 10'000)) == "2");
}

TEST_CASE("every counter gets its expiry in the decision's own pipeline") {
  // Nothing after the write is needed: a decision whose reply is lost still left an expiring counter.
  auto st = std::make_shared<fake_store>();
  config::ratelimit_settings s;
  s.generous.limit = 3;
  limiter lim(s, st, nullptr, "", nullptr);
  st->lose_followups = true;
  int refused = 0;
  for (int i = 0; i < 10; ++i)
    refused += !run([&]() { return lim.check(tier::generous, "user:" + std::to_string(i % 2)); }).allowed;
  CHECK(refused == 4);
  REQUIRE(st->keys.size() == 2);
  for (const auto& [k, v] : st->keys) {
    INFO(k);
    CHECK(st->expiry.count(k) == 1);
  }
}

TEST_CASE("the previous window's count weighs by the time left in the current one") {
  auto st = std::make_shared<fake_store>();
  config::ratelimit_settings s;
  s.standard.limit = 100;
  s.standard.window = std::chrono::milliseconds(3'600'000);  // an hour: the test stays inside one
  limiter lim(s, st, nullptr, "", nullptr);
  settle(3'600'000);
  const std::int64_t now = unix_ms();
  const std::int64_t index = now / 3'600'000;
  const double left = 1.0 - static_cast<double>(now % 3'600'000) / 3'600'000;
  // 100 in the previous hour: room now for 100 × (the share of this hour gone).
  st->keys[window_key("ratelimit:standard:user:5", index - 1)] = "100";
  int ok = 0;
  for (int i = 0; i < 100; ++i) ok += run([&]() { return lim.check(tier::standard, "user:5"); }).allowed;
  const int expected = static_cast<int>(100 - 100 * left);
  CHECK(ok >= expected - 1);
  CHECK(ok <= expected + 1);
}

TEST_CASE("a counter a late DECRBY took below zero (after ratelimit reset) counts as empty") {
  auto st = std::make_shared<fake_store>();
  config::ratelimit_settings s;
  s.standard.window = std::chrono::milliseconds(3'600'000);
  limiter lim(s, st, nullptr, "", nullptr);
  settle(3'600'000);
  const std::int64_t index = unix_ms() / 3'600'000;
  st->keys[window_key("ratelimit:standard:user:6", index - 1)] = "-1";
  const auto d = run([&]() { return lim.check(tier::standard, "user:6"); });
  CHECK(d.allowed);
  CHECK(d.source == source::redis);
  CHECK(d.remaining == 99);
}

TEST_CASE("check_and_get reads the key with the previous count (MGET) and hands it out only when allowed") {
  auto st = std::make_shared<fake_store>();
  config::ratelimit_settings s;
  s.strict.limit = 1;
  s.strict.window = std::chrono::milliseconds(3'600'000);
  limiter lim(s, st, nullptr, "", nullptr);
  settle(3'600'000);
  st->keys["cache:accounts:1"] = "{\"accounts\":[]}";
  auto first = run([&]() { return lim.check_and_get(tier::strict, "user:1", "cache:accounts:1"); });
  CHECK(first.d.allowed);
  CHECK(first.read);
  REQUIRE(first.value);
  CHECK(*first.value == "{\"accounts\":[]}");
  CHECK(st->ran.at(2).at(0) == "MGET");
  CHECK(st->ran.at(2).at(2) == "cache:accounts:1");
  auto refused = run([&]() { return lim.check_and_get(tier::strict, "user:1", "cache:accounts:1"); });
  CHECK_FALSE(refused.d.allowed);
  CHECK_FALSE(refused.read);
  CHECK_FALSE(refused.value);
  auto missing = run([&]() { return lim.check_and_get(tier::strict, "user:2", "cache:none"); });
  CHECK(missing.d.allowed);
  CHECK(missing.read);  // Redis decided and read: nothing there
  CHECK_FALSE(missing.value);
}

TEST_CASE("a counter Redis refuses, or a count that is not one: the fallback decides, and says why") {
  auto st = std::make_shared<fake_store>();
  metrics::registry reg;
  config::ratelimit_settings s;
  s.fallback_strict = config::fallback_mode::closed;
  limiter lim(s, st, nullptr, "", &reg);
  st->wrongtype = true;
  const auto d = run([&]() { return lim.check(tier::strict, "user:3"); });
  CHECK_FALSE(d.allowed);
  CHECK(d.source == source::closed);
  st->wrongtype = false;
  settle(10'000);
  const std::int64_t index = unix_ms() / 10'000;
  st->keys[window_key("ratelimit:strict:user:4", index - 1)] = "lots";
  const auto g = run([&]() { return lim.check(tier::strict, "user:4"); });
  CHECK(g.source == source::closed);
  // The INCRBY that counted is taken off again, and the counter has its expiry.
  CHECK(st->keys.at(window_key("ratelimit:strict:user:4", index)) == "0");
  CHECK(st->expiry.count(window_key("ratelimit:strict:user:4", index)) == 1);
  const std::string m = reg.render();
  CHECK(m.find("zuperior_ratelimit_redis_failures_total{reason=\"error_reply\"} 1\n") != std::string::npos);
  CHECK(m.find("zuperior_ratelimit_redis_failures_total{reason=\"bad_reply\"} 1\n") != std::string::npos);
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
