// A light Socket.IO load generator for tests/bench/realtime.sh: N raw Engine.IO/Socket.IO WebSocket
// clients on one thread (no JSON library, no per-message allocation beyond Beast's buffer),
// authenticated with a JWT, each subscribed to 3 of the symbols. Prints connect time, server memory
// per socket, delivered messages/s and delivery latency percentiles (tick ts -> receipt).
//   realtime_load HOST PORT SERVER_PID SOCKETS SECONDS JWT_SECRET SYMBOL...
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "auth/jwt.hpp"

namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

namespace {

struct shared_state {
  std::string host, port;
  std::vector<std::string> symbols;
  std::vector<std::string> tokens;
  std::size_t connected = 0, failed = 0, subscribed = 0;
  bool measuring = false;
  std::uint64_t received = 0, pings = 0;
  std::vector<std::uint32_t> lat_us;  // receipt - ts, microseconds
  std::unique_ptr<net::steady_timer> go;
};

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

long rss_kb(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

net::awaitable<void> client(shared_state* st, std::size_t index) {
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, eps] = co_await resolver.async_resolve(st->host, st->port, use_tuple);
  websocket::stream<tcp::socket> ws(ex);
  auto [cec, ep] = co_await net::async_connect(ws.next_layer(), eps, use_tuple);
  if (rec || cec) {
    st->failed++;
    co_return;
  }
  auto [hec] = co_await ws.async_handshake(st->host, "/socket.io/?EIO=4&transport=websocket", use_tuple);
  if (hec) {
    st->failed++;
    co_return;
  }
  boost::beast::flat_buffer buf;
  auto read = [&]() -> net::awaitable<std::string_view> {
    buf.consume(buf.size());
    auto [ec, n] = co_await ws.async_read(buf, use_tuple);
    if (ec) co_return std::string_view{};
    co_return std::string_view(static_cast<const char*>(buf.data().data()), buf.size());
  };
  auto msg = co_await read();  // open packet
  if (msg.empty() || msg[0] != '0') {
    st->failed++;
    co_return;
  }
  std::string hello = "40{\"token\":\"" + st->tokens[index % st->tokens.size()] + "\"}";
  co_await ws.async_write(net::buffer(hello), use_tuple);
  for (;;) {
    msg = co_await read();
    if (msg.empty() || msg.rfind("44", 0) == 0) {
      st->failed++;
      co_return;
    }
    if (msg == "2") {
      co_await ws.async_write(net::buffer(std::string_view("3")), use_tuple);
      continue;
    }
    if (msg.rfind("40", 0) == 0) break;
  }
  st->connected++;
  // Wait for everyone, then subscribe to 3 symbols (spread over the list).
  for (;;) {
    auto [ec] = co_await st->go->async_wait(use_tuple);
    if (ec == net::error::operation_aborted) break;
  }
  const auto n = st->symbols.size();
  std::string sub = "42[\"subscribe:market\",[\"" + st->symbols[index % n] + "\",\"" + st->symbols[(index + 7) % n] +
                    "\",\"" + st->symbols[(index + 13) % n] + "\"]]";
  co_await ws.async_write(net::buffer(sub), use_tuple);
  st->subscribed++;
  for (;;) {
    msg = co_await read();
    if (msg.empty()) co_return;
    if (msg == "2") {
      st->pings++;
      co_await ws.async_write(net::buffer(std::string_view("3")), use_tuple);
      continue;
    }
    if (!st->measuring) continue;
    const auto pos = msg.rfind("\"ts\":");
    if (pos == std::string_view::npos) continue;
    std::int64_t ts = 0;
    for (std::size_t i = pos + 5; i < msg.size() && msg[i] >= '0' && msg[i] <= '9'; ++i) ts = ts * 10 + (msg[i] - '0');
    st->received++;
    const auto lat = now_us() - ts;
    st->lat_us.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(lat, 0, 1'000'000'000)));
  }
}

double pct(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr, "usage: realtime_load HOST PORT SERVER_PID SOCKETS SECONDS JWT_SECRET SYMBOL...\n");
    return 2;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  shared_state st;
  st.host = argv[1];
  st.port = argv[2];
  const int pid = std::atoi(argv[3]);
  const std::size_t sockets = std::strtoul(argv[4], nullptr, 10);
  const int seconds = std::atoi(argv[5]);
  zuperior::auth::jwt_codec jwt(argv[6], std::chrono::hours(2), std::chrono::seconds(30));
  for (int i = 7; i < argc; ++i) st.symbols.emplace_back(argv[i]);
  for (int u = 0; u < 100; ++u) st.tokens.push_back(jwt.issue("bench-user-" + std::to_string(u)));

  net::io_context ioc(1);
  st.go = std::make_unique<net::steady_timer>(ioc, net::steady_timer::time_point::max());
  const long rss_before = rss_kb(pid);
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  // Connect in waves of 500 so the accept queue is never the bottleneck being measured.
  std::size_t started = 0;
  while (st.connected + st.failed < sockets) {
    while (started < sockets && started - (st.connected + st.failed) < 500) {
      net::co_spawn(ioc, client(&st, started), net::detached);
      ++started;
    }
    ioc.run_one();
  }
  const double connect_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu_connect = cpu_seconds() - cpu0;
  ioc.run_for(std::chrono::seconds(1));
  const long rss_idle = rss_kb(pid);
  std::printf("sockets: %zu connected, %zu refused/failed, in %.2f s (%.0f/s); load generator CPU %.2f s\n",
              st.connected, st.failed, connect_s, st.connected / connect_s, cpu_connect);
  std::printf("server RSS: %.1f MB before, %.1f MB with %zu idle authenticated sockets -> %.1f KB per socket\n",
              rss_before / 1024.0, rss_idle / 1024.0, st.connected,
              st.connected ? (rss_idle - rss_before) / static_cast<double>(st.connected) : 0.0);

  st.go->cancel();
  ioc.run_for(std::chrono::seconds(2));  // subscriptions settle
  st.lat_us.reserve(1 << 22);
  st.measuring = true;
  const double cpu1 = cpu_seconds();
  const auto t1 = std::chrono::steady_clock::now();
  ioc.run_for(std::chrono::seconds(seconds));
  st.measuring = false;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  const double cpu_run = cpu_seconds() - cpu1;
  const long rss_busy = rss_kb(pid);
  // Backlog: compare the lag of the first and last fifths of the run.
  const std::size_t fifth = st.lat_us.size() / 5;
  std::vector<std::uint32_t> head(st.lat_us.begin(), st.lat_us.begin() + static_cast<long>(fifth));
  std::vector<std::uint32_t> tail(st.lat_us.end() - static_cast<long>(fifth), st.lat_us.end());
  std::printf("delivered: %llu market:update in %.1f s = %.0f msg/s to %zu subscribed sockets; pings answered %llu\n",
              static_cast<unsigned long long>(st.received), elapsed, st.received / elapsed, st.subscribed,
              static_cast<unsigned long long>(st.pings));
  std::printf("latency ms (tick ts -> receipt): p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", pct(st.lat_us, 50),
              pct(st.lat_us, 99), pct(st.lat_us, 99.9), pct(st.lat_us, 100));
  std::printf("backlog check: p50 first fifth %.2f ms, last fifth %.2f ms\n", pct(head, 50), pct(tail, 50));
  std::printf("server RSS while delivering: %.1f MB; load generator CPU %.2f s for %.1f s (%.0f%% of one core)\n",
              rss_busy / 1024.0, cpu_run, elapsed, 100.0 * cpu_run / elapsed);
  return 0;
}
