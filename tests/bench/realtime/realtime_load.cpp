// A light Socket.IO load generator for tests/bench/realtime.sh.
//
// One thread holds N raw Engine.IO/Socket.IO WebSocket clients (no JSON library, no per-message
// allocation), authenticated with a JWT, each subscribed to 3 of the symbols: Beast connects and
// subscribes them, then one epoll loop reads every socket with plain recv() and parses the frames.
// A second thread publishes ticks into Redis (the daemon's `zuperior:market` channel) at RATE per
// symbol per second, evenly spread over time, and remembers every published ts, so that each
// (socket, symbol) stream's receipts can be checked for gaps: loss is exact, not estimated.
// Prints connect time, server memory per socket, delivered messages/s, delivery latency
// percentiles (tick ts -> received in the client's socket, and -> read by this program), each tick's
// fan-out time, loss, backlog trend and the generator's own CPU.
//   realtime_load HOST PORT SERVER_PID SOCKETS SECONDS JWT_SECRET REDIS_HOST REDIS_PORT RATE SYMBOL...
#include <hiredis/hiredis.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "auth/jwt.hpp"
#include "recv_stamped.hpp"

namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

namespace {

// One (socket, symbol) subscription's receipts during the measured window.
struct stream {
  std::int64_t first = 0, last = 0;
  std::uint32_t count = 0;
  std::uint32_t out_of_order = 0;
};

// One receiving thread's epoll set and what it counted (RECEIVERS threads share the sockets, as
// 10,000 clients on their own machines read in parallel: one thread reading a burst for every
// socket would add its own queueing to the latency measured).
struct receiver {
  int epfd = -1;
  std::uint64_t received = 0, pings = 0;
  std::size_t closed = 0;
  std::vector<std::uint32_t> lat_us;  // receipt - ts, microseconds, in receipt order
  // Arrival in the client's socket - ts: the kernel's receive timestamp (SO_TIMESTAMPNS) of the
  // read, without the time the frame then waited for this thread to read it.
  std::vector<std::uint32_t> arrival_us;
  std::vector<std::pair<std::int64_t, std::int64_t>> arrival_by_tick;  // (tick ts, arrival), for the fan-out time
};

// A subscribed client whose frames are read by the raw epoll loop (see receive_once()).
struct raw_conn {
  int fd = -1;
  std::size_t index = 0;
  receiver* rx = nullptr;
  std::string in = std::string(4096, '\0');
  std::size_t have = 0;
  std::int64_t arrived_us = 0;  // kernel receive time of the latest read (0: none reported)
};

struct shared_state {
  std::vector<receiver> rx;
  std::vector<std::unique_ptr<raw_conn>> raw;
  tcp::endpoint server;
  std::string host;
  std::vector<std::string> symbols;
  std::vector<std::string> tokens;
  std::size_t connected = 0, failed = 0, subscribed = 0, closed_early = 0;
  std::atomic<bool> measuring{false};
  std::vector<std::array<stream, 3>> streams;
  std::vector<std::array<std::uint8_t, 3>> stream_symbol;
  std::vector<std::uint8_t> is_subscribed;
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

double cpu_seconds(int who) {
  rusage ru{};
  getrusage(who, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Server process CPU (user + system, or user only) in seconds, from /proc.
double proc_cpu_seconds(int pid, bool user_only = false) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto p = s.rfind(')');
  if (p == std::string::npos) return 0;
  std::vector<std::string> fields;
  std::size_t i = p + 2;
  while (i < s.size()) {
    auto e = s.find(' ', i);
    if (e == std::string::npos) e = s.size();
    fields.push_back(s.substr(i, e - i));
    i = e + 1;
  }
  if (fields.size() < 13) return 0;  // utime = field 14, stime = 15 (1-based, fields[0] is field 3)
  const double ticks = std::stod(fields[11]) + (user_only ? 0.0 : std::stod(fields[12]));
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

net::awaitable<void> client(shared_state* st, std::size_t index) {
  auto ex = co_await net::this_coro::executor;
  websocket::stream<tcp::socket> ws(ex);
  auto [cec] = co_await ws.next_layer().async_connect(st->server, use_tuple);
  if (cec) {
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
  const auto& mine = st->stream_symbol[index];
  std::string sub = "42[\"subscribe:market\",[\"" + st->symbols[mine[0]] + "\",\"" + st->symbols[mine[1]] + "\",\"" +
                    st->symbols[mine[2]] + "\"]]";
  co_await ws.async_write(net::buffer(sub), use_tuple);
  st->subscribed++;
  st->is_subscribed[index] = 1;
  // From here on the frames are read by one epoll loop with plain recv() and parsed straight off
  // TCP (server frames are unmasked; nothing is sent to us between the CONNECT reply and the
  // subscription, so Beast holds no buffered bytes): several messages per read and no Asio
  // operation, coroutine resumption or Beast work per read.
  auto c = std::make_unique<raw_conn>();
  c->index = index;
  c->rx = &st->rx[index % st->rx.size()];
  c->fd = ws.next_layer().release();
  const int on = 1;
  (void)::setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  // Edge-triggered: a level-triggered descriptor is polled twice per burst (once more after it was
  // reported, to see whether it is still readable), which costs the generator about a tenth.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.ptr = c.get();
  if (epoll_ctl(c->rx->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
    ::close(c->fd);
    st->closed_early++;
    co_return;
  }
  st->raw.push_back(std::move(c));
}

// Parses the complete frames in c.in; false when the connection is over.
bool parse_frames(shared_state* st, raw_conn& c) {
  const auto& mine = st->stream_symbol[c.index];
  auto& streams = st->streams[c.index];
  std::string& in = c.in;
  std::size_t pos = 0;
  bool open = true;
  for (;;) {
    if (c.have - pos < 2) break;
    const auto* p = reinterpret_cast<const unsigned char*>(in.data() + pos);
    const int opcode = p[0] & 0x0f;
    std::uint64_t len = p[1] & 0x7f;
    std::size_t hl = 2;
    if (len == 126) {
      if (c.have - pos < 4) break;
      len = (std::uint64_t{p[2]} << 8) | p[3];
      hl = 4;
    } else if (len == 127) {
      if (c.have - pos < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      hl = 10;
    }
    if (c.have - pos < hl + len) {
      if (hl + len > in.size()) in.resize(hl + len);
      break;
    }
    const std::string_view msg(in.data() + pos + hl, len);
    pos += hl + len;
    if (opcode == 8) {
      open = false;
      break;
    }
    if (opcode != 1) continue;
    if (msg == "2") {
      // A client frame must be masked: a zero key leaves the payload as it is.
      static constexpr unsigned char pong[] = {0x81, 0x81, 0, 0, 0, 0, '3'};
      c.rx->pings++;
      (void)::send(c.fd, pong, sizeof pong, MSG_NOSIGNAL);
      continue;
    }
    if (!st->measuring.load(std::memory_order_relaxed)) continue;
    const auto tpos = msg.rfind("\"ts\":");
    if (tpos == std::string_view::npos) continue;
    std::int64_t ts = 0;
    for (std::size_t i = tpos + 5; i < msg.size() && msg[i] >= '0' && msg[i] <= '9'; ++i) ts = ts * 10 + (msg[i] - '0');
    const auto now = now_us();
    c.rx->received++;
    c.rx->lat_us.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(now - ts, 0, 4'000'000'000)));
    // The read's timestamp is its newest segment's: for a frame that came in an older one of the
    // same read it errs late, never early.
    if (c.arrived_us) {
      c.rx->arrival_us.push_back(
          static_cast<std::uint32_t>(std::clamp<std::int64_t>(c.arrived_us - ts, 0, 4'000'000'000)));
      c.rx->arrival_by_tick.emplace_back(ts, c.arrived_us);
    }
    const auto sp = msg.find("\"symbol\":\"");
    if (sp == std::string_view::npos) continue;
    const auto sym = msg.substr(sp + 10, msg.find('"', sp + 10) - (sp + 10));
    for (int k = 0; k < 3; ++k) {
      if (st->symbols[mine[k]] != sym) continue;
      auto& s = streams[k];
      if (s.count == 0) s.first = ts;
      if (ts <= s.last) s.out_of_order++;
      s.last = std::max(s.last, ts);
      s.count++;
      break;
    }
  }
  if (pos) {
    std::memmove(in.data(), in.data() + pos, c.have - pos);
    c.have -= pos;
  }
  return open;
}

// One epoll_wait of receiver `rx` (at most 1 ms) and the reads it reports.
void receive_once(shared_state* st, receiver& rx) {
  epoll_event evs[512];
  const int n = epoll_wait(rx.epfd, evs, 512, 1);
  for (int i = 0; i < n; ++i) {
    auto& c = *static_cast<raw_conn*>(evs[i].data.ptr);
    bool open = true;
    // Edge-triggered: read until a read comes back short (TCP then had nothing more queued; data
    // arriving later raises a new edge).
    for (;;) {
      if (c.have == c.in.size()) c.in.resize(c.in.size() * 2);
      const std::size_t room = c.in.size() - c.have;
      const ssize_t r = recv_stamped(c.fd, c.in.data() + c.have, room, MSG_DONTWAIT, c.arrived_us);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EAGAIN) break;
      if (r <= 0) {
        open = false;
        break;
      }
      c.have += static_cast<std::size_t>(r);
      if (!parse_frames(st, c)) {
        open = false;
        break;
      }
      if (static_cast<std::size_t>(r) < room) break;
    }
    if (!open) {
      epoll_ctl(rx.epfd, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      rx.closed++;
    }
  }
}

// Runs the Asio work left (handshakes, subscriptions) and the raw receive loops for `d`: receiver 0
// on this thread, the others on their own threads. Returns the CPU seconds those other threads used.
double run_for(net::io_context& ioc, shared_state* st, std::chrono::steady_clock::duration d) {
  const auto end = std::chrono::steady_clock::now() + d;
  std::vector<double> cpu(st->rx.size(), 0.0);
  std::vector<std::thread> others;
  for (std::size_t r = 1; r < st->rx.size(); ++r)
    others.emplace_back([st, r, end, &cpu] {
      const double c0 = cpu_seconds(RUSAGE_THREAD);
      while (std::chrono::steady_clock::now() < end) receive_once(st, st->rx[r]);
      cpu[r] = cpu_seconds(RUSAGE_THREAD) - c0;
    });
  while (std::chrono::steady_clock::now() < end) {
    ioc.poll();
    receive_once(st, st->rx[0]);
  }
  for (auto& t : others) t.join();
  double total = 0;
  for (double c : cpu) total += c;
  return total;
}

// Sockets closed since they were subscribed, by every receiver, and before.
std::size_t closed_total(const shared_state* st, std::size_t before_subscribe) {
  std::size_t n = before_subscribe;
  for (const auto& r : st->rx) n += r.closed;
  return n;
}

// The machine's CPU time from /proc/stat's first line (clock ticks): busy (all but idle and
// iowait) and stolen by the hypervisor. Steal is what makes the same run vary on a shared VM.
struct machine_cpu {
  double busy = 0, steal = 0, total = 0;
};
machine_cpu machine_cpu_now() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  double v[10] = {};
  f >> cpu;
  for (double& x : v) f >> x;
  machine_cpu m;
  for (double x : v) m.total += x;
  m.total -= v[8] + v[9];  // guest time is already counted in user
  m.busy = m.total - v[3] - v[4];
  m.steal = v[7];
  return m;
}

// REVOKE=N: the cost of a logout's revocation in a server holding these sockets. `seconds` with
// the sockets idle (the baseline: heartbeats), then `seconds` in which N revocations of ids no
// socket holds are announced evenly on the channel (REVOKE_CHANNEL, default "revoked-tokens", the
// server's with no redis.key_prefix), as another instance's logout announces them: each one makes
// every worker of the server check each of its sockets. The difference of the server's CPU time
// over N is the cost of one.
void revocation_phase(net::io_context& ioc, shared_state* st, int pid, int count, int seconds, const std::string& host,
                      int port) {
  const char* ch = std::getenv("REVOKE_CHANNEL");
  const std::string channel = ch ? ch : "revoked-tokens";
  const std::size_t open_before = st->connected - closed_total(st, st->closed_early);
  double cpu0 = proc_cpu_seconds(pid);
  run_for(ioc, st, std::chrono::seconds(seconds));
  const double idle = proc_cpu_seconds(pid) - cpu0;
  std::atomic<bool> failed{false};
  std::thread announcer([&] {
    redisContext* c = redisConnect(host.c_str(), port);
    if (!c || c->err) {
      failed = true;
      if (c) redisFree(c);
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const long long until =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
        3600;
    for (int i = 0; i < count && !failed; ++i) {
      std::this_thread::sleep_until(t0 + std::chrono::microseconds(static_cast<long long>(1e6 * seconds) * i / count));
      const std::string msg = std::to_string(until) + " bench-revoked-" + std::to_string(i);
      auto* reply = static_cast<redisReply*>(
          redisCommand(c, "PUBLISH %b %b", channel.data(), channel.size(), msg.data(), msg.size()));
      if (!reply || reply->type == REDIS_REPLY_ERROR) failed = true;
      if (reply) freeReplyObject(reply);
    }
    redisFree(c);
  });
  cpu0 = proc_cpu_seconds(pid);
  run_for(ioc, st, std::chrono::seconds(seconds));
  announcer.join();
  run_for(ioc, st, std::chrono::milliseconds(200));  // the last ones are handled
  const double busy = proc_cpu_seconds(pid) - cpu0;
  const std::size_t open_after = st->connected - closed_total(st, st->closed_early);
  std::printf(
      "revocations: %d announced in %d s to a server holding %zu sockets%s: server CPU %.3f s (idle %.3f s "
      "over as long) -> %.1f us per revocation; sockets closed meanwhile: %zu\n",
      count, seconds, open_before, failed ? " (ANNOUNCER FAILED)" : "", busy, idle, 1e6 * (busy - idle) / count,
      open_before - open_after);
}

double pct(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k] / 1000.0;
}

// Publishes ticks round-robin over the symbols, RATE per symbol per second, evenly spaced; records
// every ts it published per symbol (strictly increasing per symbol).
struct publisher {
  std::string host;
  int port = 0;
  double rate = 0;
  bool burst = false;  // all symbols tick together RATE times a second (like the sim feed), not spread
  std::vector<std::string> symbols;
  std::vector<std::vector<std::int64_t>> published;
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  double cpu = 0;

  void run() {
    published.assign(symbols.size(), {});
    redisContext* c = redisConnect(host.c_str(), port);
    if (!c || c->err) {
      std::fprintf(stderr, "publisher: cannot connect to Redis %s:%d\n", host.c_str(), port);
      failed = true;
      if (c) redisFree(c);
      return;
    }
    std::mt19937_64 rng{42};
    std::normal_distribution<double> step(0.0, 1.0);
    std::vector<double> mid(symbols.size());
    for (std::size_t i = 0; i < mid.size(); ++i) mid[i] = 1.0 + static_cast<double>(i % 7) * 0.35;
    const double per_s = rate * static_cast<double>(symbols.size());
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t sent = 0;
    std::size_t next_symbol = 0;
    std::int64_t last_ts = 0;
    char payload[256];
    while (!stop) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      auto due = static_cast<std::uint64_t>(elapsed * per_s);
      if (burst) due = static_cast<std::uint64_t>(elapsed * rate) * symbols.size();
      int pending = 0;
      while (sent < due && pending < 512) {
        const auto i = next_symbol;
        next_symbol = (next_symbol + 1) % symbols.size();
        mid[i] = std::max(mid[i] * (1.0 + step(rng) * 0.0002), 1e-6);
        auto ts = now_us();
        if (ts <= last_ts) ts = last_ts + 1;  // distinct ts per tick: a stream's gaps are countable
        last_ts = ts;
        const int n = std::snprintf(payload, sizeof payload, R"({"symbol":"%s","bid":%.5f,"ask":%.5f,"ts":%lld})",
                                    symbols[i].c_str(), mid[i] * 0.99995, mid[i] * 1.00005, static_cast<long long>(ts));
        redisAppendCommand(c, "PUBLISH zuperior:market %b", payload, static_cast<std::size_t>(n));
        published[i].push_back(ts);
        ++sent;
        ++pending;
      }
      for (int k = 0; k < pending; ++k) {
        void* r = nullptr;
        if (redisGetReply(c, &r) != REDIS_OK) {
          failed = true;
          stop = true;
          break;
        }
        freeReplyObject(r);
      }
      if (pending == 0) {
        // Asleep until the next tick is due (at most 50 ms, to see `stop`): polling every 200 us
        // cost the generator about 7% of a core and 5,000 wakeups a second on the shared cores.
        const double next_s = burst ? std::floor(elapsed * rate + 1) / rate : static_cast<double>(sent + 1) / per_s;
        const auto wake =
            t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(next_s));
        std::this_thread::sleep_until(std::min(wake, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
      }
    }
    redisFree(c);
    cpu = cpu_seconds(RUSAGE_THREAD);
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 11) {
    std::fprintf(stderr,
                 "usage: realtime_load HOST PORT SERVER_PID SOCKETS SECONDS JWT_SECRET REDIS_HOST REDIS_PORT RATE "
                 "SYMBOL...\n");
    return 2;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  shared_state st;
  st.host = argv[1];
  st.server = tcp::endpoint(net::ip::make_address(argv[1]), static_cast<unsigned short>(std::atoi(argv[2])));
  const int pid = std::atoi(argv[3]);
  const std::size_t sockets = std::strtoul(argv[4], nullptr, 10);
  const int seconds = std::atoi(argv[5]);
  zuperior::auth::jwt_codec jwt(argv[6], std::chrono::hours(2), std::chrono::seconds(30));
  publisher pub;
  pub.host = argv[7];
  pub.port = std::atoi(argv[8]);
  pub.rate = std::atof(argv[9]);
  if (const char* mode = std::getenv("PUBLISH"); mode && std::string_view(mode) == "burst") pub.burst = true;
  for (int i = 10; i < argc; ++i) st.symbols.emplace_back(argv[i]);
  pub.symbols = st.symbols;
  if (st.symbols.size() < 3 || st.symbols.size() > 255) {
    std::fprintf(stderr, "realtime_load: 3 to 255 symbols\n");
    return 2;
  }
  for (int u = 0; u < 100; ++u) st.tokens.push_back(jwt.issue("bench-user-" + std::to_string(u)));
  const auto n = st.symbols.size();
  st.streams.assign(sockets, {});
  st.stream_symbol.resize(sockets);
  st.is_subscribed.assign(sockets, 0);
  for (std::size_t i = 0; i < sockets; ++i)
    st.stream_symbol[i] = {static_cast<std::uint8_t>(i % n), static_cast<std::uint8_t>((i + 7) % n),
                           static_cast<std::uint8_t>((i + 13) % n)};

  net::io_context ioc(1);
  // RECEIVERS threads read the sockets (default 1); the machine's cores are shared with the server.
  const char* receivers = std::getenv("RECEIVERS");
  st.rx.resize(static_cast<std::size_t>(std::clamp(receivers ? std::atoi(receivers) : 1, 1, 64)));
  for (auto& r : st.rx) r.epfd = epoll_create1(EPOLL_CLOEXEC);
  st.go = std::make_unique<net::steady_timer>(ioc, net::steady_timer::time_point::max());
  const long rss_before = rss_kb(pid);
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds(RUSAGE_THREAD);
  // At most 500 handshakes in flight, like a crowd reconnecting, not a SYN flood.
  std::size_t started = 0;
  while (st.connected + st.failed < sockets) {
    while (started < sockets && started - (st.connected + st.failed) < 500) {
      net::co_spawn(ioc, client(&st, started), net::detached);
      ++started;
    }
    ioc.run_one();
  }
  const double connect_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu_connect = cpu_seconds(RUSAGE_THREAD) - cpu0;
  ioc.run_for(std::chrono::seconds(2));
  const long rss_idle = rss_kb(pid);
  std::printf("connect: %zu connected, %zu refused/failed, in %.2f s (%.0f/s, 500 in flight); generator CPU %.2f s\n",
              st.connected, st.failed, connect_s, st.connected / connect_s, cpu_connect);
  std::printf("memory: server RSS %.1f MB before, %.1f MB with %zu idle authenticated sockets -> %.2f KB per socket\n",
              rss_before / 1024.0, rss_idle / 1024.0, st.connected,
              st.connected ? (rss_idle - rss_before) / static_cast<double>(st.connected) : 0.0);
  std::fflush(stdout);

  st.go->cancel();
  run_for(ioc, &st, std::chrono::seconds(2));  // subscriptions settle
  std::thread pub_thread([&pub] { pub.run(); });
  run_for(ioc, &st, std::chrono::seconds(1));  // the feed reaches a steady state
  const double expected_rate = pub.rate * 3.0 * static_cast<double>(st.subscribed);
  for (auto& r : st.rx) {
    const auto expect =
        static_cast<std::size_t>(expected_rate * seconds * 1.1 / static_cast<double>(st.rx.size())) + 1024;
    r.lat_us.reserve(expect);
    r.arrival_us.reserve(expect);
    r.arrival_by_tick.reserve(expect);
  }
  st.measuring = true;
  const double cpu1 = cpu_seconds(RUSAGE_THREAD);
  const double scpu1 = proc_cpu_seconds(pid);
  const double suser1 = proc_cpu_seconds(pid, true);
  const machine_cpu m1 = machine_cpu_now();
  const auto t1 = std::chrono::steady_clock::now();
  const double cpu_others = run_for(ioc, &st, std::chrono::seconds(seconds));
  st.measuring = false;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  const double cpu_run = cpu_seconds(RUSAGE_THREAD) - cpu1 + cpu_others;
  const double scpu_run = proc_cpu_seconds(pid) - scpu1;
  const double suser_run = proc_cpu_seconds(pid, true) - suser1;
  const machine_cpu m2 = machine_cpu_now();
  const long rss_busy = rss_kb(pid);
  pub.stop = true;
  pub_thread.join();

  // Loss: per stream, ticks published between its first and last receipt that never arrived.
  std::uint64_t lost = 0, streams_silent = 0, out_of_order = 0;
  for (std::size_t i = 0; i < st.streams.size(); ++i) {
    for (int k = 0; k < 3; ++k) {
      const auto& s = st.streams[i][k];
      const auto& p = pub.published[st.stream_symbol[i][k]];
      out_of_order += s.out_of_order;
      if (s.count == 0) {
        if (st.is_subscribed[i]) streams_silent++;
        continue;
      }
      const auto lo = std::lower_bound(p.begin(), p.end(), s.first);
      const auto hi = std::upper_bound(p.begin(), p.end(), s.last);
      const auto expected = static_cast<std::uint64_t>(hi - lo);
      if (expected > s.count) lost += expected - s.count;
    }
  }
  // Backlog: compare the lag of the first and last fifths of the run (receipt order).
  // Each receiver's first and last fifth, and all receipts together for the percentiles.
  std::vector<std::uint32_t> head, tail, ahead, atail, lat_us, arrival_us;
  std::uint64_t received = 0, pings = 0;
  for (const auto& r : st.rx) {
    const std::size_t fifth = r.lat_us.size() / 5;
    head.insert(head.end(), r.lat_us.begin(), r.lat_us.begin() + static_cast<long>(fifth));
    tail.insert(tail.end(), r.lat_us.end() - static_cast<long>(fifth), r.lat_us.end());
    const std::size_t afifth = r.arrival_us.size() / 5;
    ahead.insert(ahead.end(), r.arrival_us.begin(), r.arrival_us.begin() + static_cast<long>(afifth));
    atail.insert(atail.end(), r.arrival_us.end() - static_cast<long>(afifth), r.arrival_us.end());
    lat_us.insert(lat_us.end(), r.lat_us.begin(), r.lat_us.end());
    arrival_us.insert(arrival_us.end(), r.arrival_us.begin(), r.arrival_us.end());
    received += r.received;
    pings += r.pings;
  }
  std::printf("offered: %.0f ticks/s (%g per symbol x %zu symbols, %s) -> %.0f msg/s to %zu subscribed sockets%s\n",
              pub.rate * static_cast<double>(n), pub.rate, n, pub.burst ? "all symbols at once" : "evenly spread",
              expected_rate, st.subscribed, pub.failed ? " (PUBLISHER FAILED)" : "");
  std::printf("delivered: %llu market:update in %.1f s = %.0f msg/s (%.1f%% of offered); pings answered %llu\n",
              static_cast<unsigned long long>(received), elapsed, received / elapsed,
              expected_rate > 0 ? 100.0 * received / elapsed / expected_rate : 0.0,
              static_cast<unsigned long long>(pings));
  // Latency twice. Received: when the frame was in the client's socket, by the kernel's receive
  // timestamp (SO_TIMESTAMPNS), which is what a client on its own machine gets. Read: when this
  // generator's thread got to it; that adds the thread's own queueing, as it reads for every
  // client at once (the floor below shows the same queueing with no server at all).
  if (!arrival_us.empty()) {
    // Each tick's fan-out: from its ts until the last of its subscribers had it.
    std::vector<std::pair<std::int64_t, std::int64_t>> by_tick;
    for (auto& r : st.rx) by_tick.insert(by_tick.end(), r.arrival_by_tick.begin(), r.arrival_by_tick.end());
    std::sort(by_tick.begin(), by_tick.end());
    std::vector<std::uint32_t> fan_out;
    for (std::size_t i = 0; i < by_tick.size();) {
      std::size_t j = i;
      std::int64_t last = 0;
      for (; j < by_tick.size() && by_tick[j].first == by_tick[i].first; ++j) last = std::max(last, by_tick[j].second);
      fan_out.push_back(
          static_cast<std::uint32_t>(std::clamp<std::int64_t>(last - by_tick[i].first, 0, 4'000'000'000)));
      i = j;
    }
    std::printf("latency ms (tick ts -> received in the client's socket): p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f",
                pct(arrival_us, 50), pct(arrival_us, 99), pct(arrival_us, 99.9), pct(arrival_us, 100));
    if (arrival_us.size() < lat_us.size())
      std::printf(" (%.1f%% of frames had a timestamp)",
                  100.0 * static_cast<double>(arrival_us.size()) / static_cast<double>(lat_us.size()));
    std::printf("\n");
    std::printf(
        "fan-out ms (tick ts -> its last subscriber's socket, %zu ticks): p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
        fan_out.size(), pct(fan_out, 50), pct(fan_out, 90), pct(fan_out, 99), pct(fan_out, 100));
  }
  std::printf("latency ms (tick ts -> read by the generator): p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
              pct(lat_us, 50), pct(lat_us, 99), pct(lat_us, 99.9), pct(lat_us, 100));
  // Its shape: the first reads show the fixed cost (publisher -> Redis -> server), the spread up
  // to p99 how long a burst takes to drain.
  std::printf("read latency shape ms: min %.2f  p1 %.2f  p10 %.2f  p25 %.2f  p75 %.2f  p90 %.2f\n", pct(lat_us, 0),
              pct(lat_us, 1), pct(lat_us, 10), pct(lat_us, 25), pct(lat_us, 75), pct(lat_us, 90));
  std::printf(
      "loss: %llu messages missing inside streams, %llu silent streams, %llu out of order, %zu sockets closed\n",
      static_cast<unsigned long long>(lost), static_cast<unsigned long long>(streams_silent),
      static_cast<unsigned long long>(out_of_order), closed_total(&st, st.closed_early));
  std::printf("backlog: p50 first fifth -> last fifth of the run: read %.2f -> %.2f ms, arrival %.2f -> %.2f ms\n",
              pct(head, 50), pct(tail, 50), pct(ahead, 50), pct(atail, 50));
  const double per_msg = received ? 1e6 / static_cast<double>(received) : 0.0;
  std::printf(
      "cpu: server %.0f%% of one core (%.2f us per delivered message, %.2f us of it in user space); generator "
      "receiver %.0f%% of one core in %zu thread(s) (%.2f us per message), publisher %.1f s total; server RSS %.1f "
      "MB\n",
      100.0 * scpu_run / elapsed, scpu_run * per_msg, suser_run * per_msg, 100.0 * cpu_run / elapsed, st.rx.size(),
      cpu_run * per_msg, pub.cpu, rss_busy / 1024.0);
  const double ticks = m2.total - m1.total;
  if (ticks > 0)
    std::printf("machine: cores %.0f%% busy, %.1f%% stolen by the hypervisor (of all cores' time, measured window)\n",
                100.0 * (m2.busy - m1.busy) / ticks, 100.0 * (m2.steal - m1.steal) / ticks);
  std::fflush(stdout);
  if (const char* r = std::getenv("REVOKE"); r && std::atoi(r) > 0)
    revocation_phase(ioc, &st, pid, std::atoi(r), seconds, pub.host, pub.port);
  return 0;
}
