// The asynchronous Redis client against real servers: commands, pipelining, deadlines, reconnect
// with fast failure while down, pub/sub delivery and resubscription.
#include <catch2/catch.hpp>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/async_client.hpp"
#include "cache/cache.hpp"
#include "cache/subscriber.hpp"
#include "test_support.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using zuperior::cache::async_client;
using zuperior::cache::client_options;
using zuperior::cache::errc;
using zuperior::cache::reply;
using zuperior::cache::result;
using zuperior::cache::subscriber;
using zuperior::testing::run_until;

namespace {

std::string shared_url() { return zuperior::testing::env("ZUPERIOR_TEST_REDIS_URL"); }

std::string unique_prefix() {
  return "test:cache_async:" + std::to_string(::getpid()) + ":" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ":";
}

client_options options(const std::string& url, std::string prefix = {}) {
  client_options o;
  o.url = url;
  o.key_prefix = std::move(prefix);
  o.connect_timeout = 1s;
  o.command_timeout = 2s;
  o.register_metrics = false;
  return o;
}

asio::awaitable<result> cmd(std::shared_ptr<async_client> c, std::vector<std::string> args) {
  co_return co_await c->command(std::move(args));
}

asio::awaitable<std::vector<result>> pipe(std::shared_ptr<async_client> c, std::vector<std::vector<std::string>> cmds,
                                          std::chrono::milliseconds t = 2s) {
  co_return co_await c->pipeline(std::move(cmds), t);
}

asio::awaitable<result> cmd_t(std::shared_ptr<async_client> c, std::vector<std::string> args,
                              std::chrono::milliseconds t) {
  co_return co_await c->command(std::move(args), t);
}

// A Redis stand-in that answers one command every `gap`, in order: replies keep coming, but a
// client that asks faster falls further behind (Redis itself answers a pipelined batch at once).
class one_by_one_server {
 public:
  explicit one_by_one_server(std::chrono::milliseconds gap) : gap_(gap) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~one_by_one_server() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    for (int c : clients_) ::shutdown(c, SHUT_RDWR);
    thread_.join();
    for (int c : clients_) ::close(c);
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      clients_.push_back(c);
      std::string buf;
      char chunk[4096];
      for (;;) {
        // Answers every complete command (an array of bulk strings) in the buffer, one per gap.
        std::size_t pos = 0;
        while (auto used = complete_command(buf, pos)) {
          std::this_thread::sleep_for(gap_);
          if (::send(c, "+OK\r\n", 5, MSG_NOSIGNAL) != 5) break;
          pos += used;
        }
        buf.erase(0, pos);
        ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
        if (n <= 0) break;
        buf.append(chunk, static_cast<std::size_t>(n));
      }
    }
  }
  // The length of the command starting at `pos`, or 0 when it is not complete yet.
  static std::size_t complete_command(const std::string& b, std::size_t pos) {
    auto line = [&](std::size_t& p) -> std::optional<long> {
      auto e = b.find("\r\n", p);
      if (e == std::string::npos) return std::nullopt;
      long v = std::stol(b.substr(p + 1, e - p - 1));
      p = e + 2;
      return v;
    };
    std::size_t p = pos;
    if (p >= b.size() || b[p] != '*') return 0;
    auto n = line(p);
    if (!n) return 0;
    for (long i = 0; i < *n; ++i) {
      auto len = line(p);
      if (!len || p + static_cast<std::size_t>(*len) + 2 > b.size()) return 0;
      p += static_cast<std::size_t>(*len) + 2;
    }
    return p - pos;
  }
  std::chrono::milliseconds gap_;
  int fd_ = -1;
  unsigned port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> clients_;
  std::thread thread_;
};

asio::awaitable<bool> connected(std::shared_ptr<async_client> c, std::chrono::milliseconds t) {
  co_return co_await c->wait_connected(t);
}

asio::awaitable<bool> sub_connected(std::shared_ptr<subscriber> s, std::chrono::milliseconds t) {
  co_return co_await s->wait_connected(t);
}

asio::awaitable<void> incr_one(std::shared_ptr<async_client> c, std::string key, int* ok, int* done) {
  std::vector<std::string> args{"INCR", std::move(key)};  // GCC 12: no braced list inside co_await
  auto r = co_await c->command(std::move(args));
  if (r && r.value.kind == reply::type::integer) ++*ok;
  ++*done;
}

}  // namespace

TEST_CASE("async client: basic commands, error replies, key prefix", "[integration][cache]") {
  if (shared_url().empty()) {
    FAIL("ZUPERIOR_TEST_REDIS_URL is not set: run through scripts/test");
    return;
  }
  asio::io_context io;
  auto prefix = unique_prefix();
  auto c = async_client::create(io.get_executor(), options(shared_url(), prefix));
  c->start();
  REQUIRE(run_until(io, connected(c, 5s)));
  REQUIRE(c->connected());
  CHECK(c->key("a") == prefix + "a");

  auto r = run_until(io, cmd(c, {"SET", c->key("k"), std::string("bin\0ary", 7)}));
  REQUIRE(r);
  CHECK(r.value.kind == reply::type::status);
  r = run_until(io, cmd(c, {"GET", c->key("k")}));
  REQUIRE(r);
  CHECK(r.value.text == std::string("bin\0ary", 7));
  r = run_until(io, cmd(c, {"GET", c->key("missing")}));
  REQUIRE(r);
  CHECK(r.value.kind == reply::type::nil);

  r = run_until(io, cmd(c, {"INCR", c->key("k")}));  // not an integer
  CHECK(r.ec == errc::error_reply);
  CHECK(r.value.kind == reply::type::error);
  CHECK(r.value.text.find("ERR") == 0);

  r = run_until(io, cmd(c, {"EVALSHA", "0000000000000000000000000000000000000000", "0"}));
  CHECK(r.ec == errc::error_reply);
  CHECK(r.value.text.rfind("NOSCRIPT", 0) == 0);

  r = run_until(io, cmd(c, {}));
  CHECK(r.ec == errc::invalid_argument);
  r = run_until(io, cmd(c, {"subscribe", "x"}));
  CHECK(r.ec == errc::invalid_argument);

  r = run_until(io, cmd(c, {"MGET", c->key("k"), c->key("missing")}));
  REQUIRE(r);
  REQUIRE(r.value.kind == reply::type::array);
  REQUIRE(r.value.elements.size() == 2);
  CHECK(r.value.elements[1].kind == reply::type::nil);

  // A pipeline: one result per command, in order, an error reply only where it happened.
  const auto commands_before = c->stats().commands.load();
  auto p = run_until(
      io, pipe(c, {{"INCRBY", c->key("n"), "5"}, {"INCR", c->key("k")}, {"MGET", c->key("n"), c->key("missing")}}));
  REQUIRE(p.size() == 3);
  REQUIRE(p[0]);
  CHECK(p[0].value.integer == 5);
  CHECK(p[1].ec == errc::error_reply);
  REQUIRE(p[2]);
  REQUIRE(p[2].value.elements.size() == 2);
  CHECK(p[2].value.elements[0].text == "5");
  CHECK(p[2].value.elements[1].kind == reply::type::nil);
  CHECK(c->stats().commands.load() == commands_before + 3);
  CHECK(run_until(io, pipe(c, {})).empty());
  // One command the client does not run refuses the whole pipeline, before anything is sent.
  p = run_until(io, pipe(c, {{"INCR", c->key("n")}, {"SUBSCRIBE", "x"}}));
  REQUIRE(p.size() == 2);
  CHECK(p[0].ec == errc::invalid_argument);
  CHECK(p[1].ec == errc::invalid_argument);
  r = run_until(io, cmd(c, {"GET", c->key("n")}));
  CHECK(r.value.text == "5");

  run_until(io, cmd(c, {"DEL", c->key("k"), c->key("n")}));
  CHECK(c->stats().error_replies.load() == 3);
  c->stop();
  r = run_until(io, cmd(c, {"PING"}));
  CHECK(r.ec == errc::stopped);
}

TEST_CASE("async client: bad URLs are rejected up front", "[integration][cache]") {
  asio::io_context io;
  CHECK_THROWS_AS(async_client::create(io.get_executor(), options("http://x")), zuperior::cache::error);
  CHECK_THROWS_AS(async_client::create(io.get_executor(), options("redis://127.0.0.1:6379/abc")),
                  zuperior::cache::error);
  CHECK_THROWS_AS(subscriber::create(io.get_executor(), options("nonsense")), zuperior::cache::error);
}

TEST_CASE("async client: thousands of commands pipelined on one connection", "[integration][cache]") {
  if (shared_url().empty()) {
    FAIL("ZUPERIOR_TEST_REDIS_URL is not set: run through scripts/test");
    return;
  }
  asio::io_context io;
  auto c = async_client::create(io.get_executor(), options(shared_url(), unique_prefix()));
  c->start();
  REQUIRE(run_until(io, connected(c, 5s)));
  constexpr int n = 20000;
  int ok = 0, done = 0;
  for (int i = 0; i < n; ++i) asio::co_spawn(io, incr_one(c, c->key("counter"), &ok, &done), asio::detached);
  // The first n handlers start the coroutines; each queues its command without waiting for
  // the replies of the others, so they are all in flight together.
  io.restart();
  for (int i = 0; i < n; ++i) io.poll_one();
  CHECK(c->stats().in_flight.load() > n / 2);
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (done < n && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(50ms);
  }
  CHECK(done == n);
  CHECK(ok == n);
  auto r = run_until(io, cmd(c, {"GET", c->key("counter")}));
  REQUIRE(r);
  CHECK(r.value.text == std::to_string(n));
  CHECK(c->stats().in_flight.load() == 0);
  run_until(io, cmd(c, {"DEL", c->key("counter")}));
}

TEST_CASE("async client: called from another io_context", "[integration][cache]") {
  if (shared_url().empty()) {
    FAIL("ZUPERIOR_TEST_REDIS_URL is not set: run through scripts/test");
    return;
  }
  asio::io_context home;
  auto guard = asio::make_work_guard(home);
  std::thread t([&] { home.run(); });
  auto c = async_client::create(home.get_executor(), options(shared_url(), unique_prefix()));
  c->start();
  asio::io_context other;
  REQUIRE(run_until(other, connected(c, 5s)));
  auto r = run_until(other, cmd(c, {"PING"}));
  CHECK(r);
  CHECK(r.value.text == "PONG");
  c->stop();
  guard.reset();
  home.stop();
  t.join();
}

TEST_CASE("async client: a pipeline half answered at its deadline is a timeout as a whole", "[integration][cache]") {
  // The first reply comes after 100 ms, the second after 200 ms, the deadline is at 150 ms: the
  // caller learns that the pipeline timed out (even its first command's reply is withheld), and the
  // late reply is counted off when it comes.
  one_by_one_server server(100ms);
  asio::io_context io;
  auto c = async_client::create(io.get_executor(), options(server.url()));
  c->start();
  REQUIRE(run_until(io, connected(c, 5s)));
  auto p = run_until(io, pipe(c, {{"INCR", "a"}, {"INCR", "b"}}, 150ms));
  REQUIRE(p.size() == 2);
  CHECK(p[0].ec == errc::timeout);
  CHECK(p[1].ec == errc::timeout);
  CHECK(c->stats().timeouts.load() == 1);  // one command was still unanswered
  CHECK(zuperior::testing::run_until_true(
      io, [&] { return c->stats().in_flight.load() == 0; }, 5s));
  c->stop();
  zuperior::testing::run_for(io, 50ms);
}

TEST_CASE("async client: replies that keep coming but two deadlines late drop the connection", "[integration][cache]") {
  // Replies every 30 ms (so the connection is never silent for a deadline) to three commands sent every
  // 10 ms with a 100 ms deadline: each command waits longer than the last. Without the drop the
  // backlog grew for as long as the load lasted, in this process and in the server.
  one_by_one_server server(30ms);
  asio::io_context io;
  auto o = options(server.url());
  o.command_timeout = 100ms;
  auto c = async_client::create(io.get_executor(), o);
  c->start();
  REQUIRE(run_until(io, connected(c, 5s)));
  const auto connects = c->stats().connects.load();
  int ok = 0, done = 0, sent = 0;
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until && c->connected()) {
    // Three per turn: asked at least three times as fast as answered even on a slow machine.
    for (int k = 0; k < 3; ++k) asio::co_spawn(io, incr_one(c, "n", &ok, &done), asio::detached);
    sent += 3;
    zuperior::testing::run_for(io, 10ms);
  }
  CHECK_FALSE(c->connected());  // dropped while replies were still arriving
  CHECK(c->stats().timeouts.load() > 0);
  CHECK(zuperior::testing::run_until_true(
      io, [&] { return done == sent; }, 10s));
  CHECK(zuperior::testing::run_until_true(
      io, [&] { return c->stats().connects.load() > connects; }, 10s));
  c->stop();
  zuperior::testing::run_for(io, 50ms);
}

TEST_CASE("async client: deadlines, a stuck server, kill and restart", "[integration][cache]") {
  if (!zuperior::testing::have_redis_server()) {
    FAIL("redis-server is not installed");
    return;
  }
  zuperior::testing::redis_process server;
  asio::io_context io;
  auto c = async_client::create(io.get_executor(), options(server.url(3)));
  c->start();
  REQUIRE(run_until(io, connected(c, 5s)));
  auto r = run_until(io, cmd(c, {"SET", "k", "v"}));
  REQUIRE(r);

  SECTION("a command past its deadline gets errc::timeout and the client recovers") {
    // A frozen server answers nothing: the command times out, the silent connection is dropped
    // (so later commands fail fast instead of queueing behind it) and re-established once it thaws.
    server.freeze();
    r = run_until(io, cmd_t(c, {"GET", "k"}, 150ms));
    CHECK(r.ec == errc::timeout);
    CHECK(c->stats().timeouts.load() == 1);
    CHECK_FALSE(c->connected());
    r = run_until(io, cmd(c, {"GET", "k"}));
    CHECK(r.ec == errc::disconnected);
    server.thaw();
    REQUIRE(run_until(io, connected(c, 10s)));
    r = run_until(io, cmd(c, {"GET", "k"}));  // SELECT 3 was applied again on the new connection
    REQUIRE(r);
    CHECK(r.value.text == "v");
  }

  SECTION("a pipeline past its deadline: every result is the timeout") {
    server.freeze();
    auto p = run_until(io, pipe(c, {{"GET", "k"}, {"GET", "k"}}, 150ms));
    REQUIRE(p.size() == 2);
    CHECK(p[0].ec == errc::timeout);
    CHECK(p[1].ec == errc::timeout);
    CHECK(c->stats().timeouts.load() == 2);
    p = run_until(io, pipe(c, {{"GET", "k"}, {"GET", "k"}}));  // the silent connection was dropped
    CHECK(p[0].ec == errc::disconnected);
    CHECK(p[1].ec == errc::disconnected);
    server.thaw();
    REQUIRE(run_until(io, connected(c, 10s)));
    p = run_until(io, pipe(c, {{"GET", "k"}, {"SET", "k", "w"}, {"GET", "k"}}));
    REQUIRE(p.size() == 3);
    CHECK(p[0].value.text == "v");
    CHECK(p[2].value.text == "w");
    CHECK(c->stats().in_flight.load() == 0);
  }

  SECTION("at most max_in_flight commands wait for replies on one connection; more fail at once") {
    auto o = options(server.url(3));
    o.max_in_flight = 1'000;
    auto capped = async_client::create(io.get_executor(), o);
    capped->start();
    REQUIRE(run_until(io, connected(capped, 5s)));
    server.freeze();
    int ok = 0, done = 0;
    for (int i = 0; i < 1'000; ++i) asio::co_spawn(io, incr_one(capped, "n", &ok, &done), asio::detached);
    zuperior::testing::run_for(io, 100ms);  // all queued, none answered (deadline 2 s)
    CHECK(done == 0);
    const auto fast = capped->stats().fast_failures.load();
    r = run_until(io, cmd(capped, {"GET", "k"}));
    CHECK(r.ec == errc::disconnected);
    CHECK(capped->stats().fast_failures.load() == fast + 1);
    server.thaw();
    CHECK(zuperior::testing::run_until_true(
        io, [&] { return done == 1'000; }, 20s));
    capped->stop();
  }

  SECTION("while Redis is down commands fail at once, then the client reconnects") {
    server.stop();
    zuperior::testing::run_for(io, 200ms);
    CHECK_FALSE(c->connected());
    // The deadline is long (2 s): an immediate errc::disconnected shows no command waits for a reconnect.
    for (int i = 0; i < 100; ++i) {
      r = run_until(io, cmd(c, {"GET", "k"}));
      REQUIRE(r.ec == errc::disconnected);
    }
    CHECK(c->stats().fast_failures.load() >= 100);
    auto connects = c->stats().connects.load();
    zuperior::testing::run_for(io, 500ms);  // several backoff rounds against a closed port
    CHECK(c->stats().connect_failures.load() >= 2);
    server.start();
    REQUIRE(run_until(io, connected(c, 10s)));
    CHECK(c->stats().connects.load() == connects + 1);
    r = run_until(io, cmd(c, {"PING"}));
    CHECK(r);
    r = run_until(io, cmd(c, {"CLIENT", "INFO"}));  // redis >= 6.2
    if (r) CHECK(r.value.text.find("db=3") != std::string::npos);
  }

  SECTION("commands in flight when the server dies fail with errc::disconnected") {
    int ok = 0, done = 0;
    for (int i = 0; i < 50; ++i) asio::co_spawn(io, incr_one(c, "n", &ok, &done), asio::detached);
    io.restart();
    io.poll();  // queued, possibly written, not answered yet
    server.stop();
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (done < 50 && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(50ms);
    }
    CHECK(done == 50);
    CHECK(c->stats().timeouts.load() == 0);
  }
  c->stop();
  zuperior::testing::run_for(io, 50ms);
}

TEST_CASE("async client: AUTH from the URL", "[integration][cache]") {
  if (!zuperior::testing::have_redis_server()) {
    FAIL("redis-server is not installed");
    return;
  }
  zuperior::testing::redis_process server;
  asio::io_context io;
  {
    auto admin = async_client::create(io.get_executor(), options(server.url()));
    admin->start();
    REQUIRE(run_until(io, connected(admin, 5s)));
    REQUIRE(run_until(io, cmd(admin, {"CONFIG", "SET", "requirepass", "s3cret:@/"})));
    admin->stop();
  }
  std::string base = "127.0.0.1:" + std::to_string(server.port()) + "/0";
  auto good = async_client::create(io.get_executor(), options("redis://:s3cret%3A%40%2F@" + base));
  good->start();
  CHECK(run_until(io, connected(good, 5s)));
  auto bad = async_client::create(io.get_executor(), options("redis://:wrong@" + base));
  bad->start();
  CHECK_FALSE(run_until(io, connected(bad, 500ms)));
  CHECK(bad->stats().connect_failures.load() >= 1);
  auto r = run_until(io, cmd(bad, {"PING"}));
  CHECK(r.ec == errc::disconnected);
  good->stop();
  bad->stop();
  zuperior::testing::run_for(io, 50ms);
}

namespace {
asio::awaitable<bool> publish(std::shared_ptr<async_client> c, std::string ch, std::string payload) {
  std::vector<std::string> args{"PUBLISH", std::move(ch), std::move(payload)};
  auto r = co_await c->command(std::move(args));
  co_return static_cast<bool>(r);
}
}  // namespace

TEST_CASE("subscriber: delivery, patterns, resubscription after a restart", "[integration][cache]") {
  if (!zuperior::testing::have_redis_server()) {
    FAIL("redis-server is not installed");
    return;
  }
  zuperior::testing::redis_process server;
  asio::io_context io;
  auto pub = async_client::create(io.get_executor(), options(server.url()));
  auto sub = subscriber::create(io.get_executor(), options(server.url()));
  std::vector<std::pair<std::string, std::string>> got;
  sub->subscribe({"ticks", "account"},
                 [&](std::string_view ch, std::string_view p) { got.emplace_back(std::string(ch), std::string(p)); });
  sub->psubscribe({"sym:*"}, [&](std::string_view ch, std::string_view p) {
    got.emplace_back("P " + std::string(ch), std::string(p));
  });
  pub->start();
  sub->start();
  REQUIRE(run_until(io, connected(pub, 5s)));
  REQUIRE(run_until(io, sub_connected(sub, 5s)));

  run_until(io, publish(pub, "ticks", "t1"));
  run_until(io, publish(pub, "sym:EURUSD", "1.1"));
  run_until(io, publish(pub, "other", "ignored"));
  REQUIRE(zuperior::testing::run_until_true(io, [&] { return got.size() >= 2; }));
  zuperior::testing::run_for(io, 50ms);
  REQUIRE(got.size() == 2);
  CHECK(got[0] == std::make_pair(std::string("ticks"), std::string("t1")));
  CHECK(got[1] == std::make_pair(std::string("P sym:EURUSD"), std::string("1.1")));

  server.stop();
  zuperior::testing::run_for(io, 200ms);
  CHECK_FALSE(sub->connected());
  server.start();
  REQUIRE(run_until(io, connected(pub, 10s)));
  REQUIRE(run_until(io, sub_connected(sub, 10s)));
  got.clear();
  run_until(io, publish(pub, "account", "a1"));
  run_until(io, publish(pub, "sym:XAU", "2000"));
  REQUIRE(zuperior::testing::run_until_true(io, [&] { return got.size() >= 2; }));
  REQUIRE(got.size() == 2);
  CHECK(got[0].first == "account");
  CHECK(got[1].first == "P sym:XAU");

  sub->unsubscribe({"account"});
  zuperior::testing::run_for(io, 50ms);
  got.clear();
  run_until(io, publish(pub, "account", "a2"));
  run_until(io, publish(pub, "ticks", "t2"));
  // Messages arrive in publish order: once t2 is here, a2 would have been too.
  REQUIRE(zuperior::testing::run_until_true(io, [&] { return !got.empty(); }));
  REQUIRE(got.size() == 1);
  CHECK(got[0].second == "t2");
  CHECK(sub->stats().messages.load() >= 5);
  pub->stop();
  sub->stop();
  zuperior::testing::run_for(io, 50ms);
}

namespace {

using zuperior::cache::cache;

asio::awaitable<bool> cache_flow(std::shared_ptr<cache> c) {
  bool ok = true;
  auto check = [&ok](bool cond, const char* what) {
    if (!cond) {
      ok = false;
      UNSCOPED_INFO("failed: " << what);
    }
  };
  check(!(co_await c->get("balance:1")), "miss before set");
  check(co_await c->set("balance:1", "100.5", std::chrono::seconds(60)), "set");
  auto v = co_await c->get("balance:1");
  check(v && *v == "100.5", "hit after set");
  auto t = co_await c->ttl("balance:1");
  check(t > 0 && t <= 60, "ttl within 60 s");
  check(co_await c->ttl("nope") == -2, "ttl of a missing key is -2");
  check(co_await c->exists("balance:1"), "exists");
  nlohmann::json j = {{"balance", 12.5}, {"currency", "USD"}};
  check(co_await c->set_json("account:7", j), "set_json");
  auto back = co_await c->get_json("account:7");
  check(back && *back == j, "get_json round trip");
  check(co_await c->set("notjson", "{oops"), "set text");
  check(!(co_await c->get_json("notjson")), "non-JSON text is a miss");
  check(co_await c->del("balance:1"), "del");
  check(!(co_await c->exists("balance:1")), "gone after del");
  // 1,200 keys over several SCAN batches, plus keys that must survive.
  for (int i = 0; i < 1200; ++i) co_await c->set("user:" + std::to_string(i) + ":profile", "x");
  co_await c->set("user*literal", "keep");
  co_await c->set("session:1", "keep");
  auto n = co_await c->del_by_pattern("user:*:profile", 100);
  check(n == 1200, "del_by_pattern deleted all 1200");
  check(co_await c->exists("session:1"), "other keys survive");
  check(co_await c->exists("user*literal"), "keys outside the pattern survive");
  check(co_await c->del_by_pattern("*") == 4, "the prefix confines deletion (4 keys left)");
  co_return ok;
}

asio::awaitable<bool> cache_down(std::shared_ptr<cache> c) {
  bool ok = !(co_await c->get("k"));
  ok = ok && !(co_await c->set("k", "v"));
  ok = ok && !(co_await c->exists("k"));
  ok = ok && (co_await c->del_by_pattern("*")) == 0;
  co_return ok;
}

}  // namespace

TEST_CASE("cache helpers: get/set/ttl/exists/del/del_by_pattern with prefix and counters", "[integration][cache]") {
  if (shared_url().empty()) {
    FAIL("ZUPERIOR_TEST_REDIS_URL is not set: run through scripts/test");
    return;
  }
  asio::io_context io;
  // A prefix with glob metacharacters: it must be matched literally by del_by_pattern.
  auto client = async_client::create(io.get_executor(), options(shared_url(), unique_prefix() + "[x]*:"));
  client->start();
  REQUIRE(run_until(io, connected(client, 5s)));
  auto c = std::make_shared<cache>(client);
  CHECK(run_until(io, cache_flow(c)));
  CHECK(c->hits() >= 2);
  CHECK(c->misses() >= 1);
  CHECK(c->errors() == 0);
  client->stop();
  auto errors = c->errors();
  CHECK(run_until(io, cache_down(c)));
  CHECK(c->errors() >= errors + 4);
}
