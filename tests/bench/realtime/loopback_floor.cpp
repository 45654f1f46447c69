// The machine's floor for tests/bench/realtime.sh: the same traffic with no server in it.
//
// SOCKETS loopback TCP connections; WRITERS threads (the daemon's workers) each own a share of
// their server ends, and at RATE bursts per second write every one of their sockets one sendmsg of
// three 100-byte frames stamped with the burst's time: exactly the system calls and bytes the
// daemon makes for a burst of ticks (each socket subscribed to 3 symbols), minus Redis, Engine.IO,
// Socket.IO, JSON and rooms. One reader thread reads every client end with epoll and recv, as the
// load generator does, and records stamp -> receipt. Whatever latency this shows, no server can beat
// on this machine: it is the cost of the kernel's loopback TCP and of the shared cores.
//   loopback_floor SOCKETS RATE SECONDS WRITERS
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "recv_stamped.hpp"

namespace {

constexpr std::size_t frame_bytes = 100;  // about a market:update frame
constexpr std::size_t frames_per_burst = 3;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double thread_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double pct(std::vector<std::uint32_t> v, double p) {
  if (v.empty()) return 0;
  const auto k = std::min(v.size() - 1, static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k] / 1000.0;
}

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: loopback_floor SOCKETS RATE SECONDS WRITERS\n");
    return 2;
  }
  const std::size_t sockets = std::strtoul(argv[1], nullptr, 10);
  const double rate = std::strtod(argv[2], nullptr);
  const int seconds = std::atoi(argv[3]);
  const std::size_t writers = std::max<std::size_t>(1, std::strtoul(argv[4], nullptr, 10));
  if (sockets == 0 || rate <= 0 || seconds <= 0) {
    std::fprintf(stderr, "loopback_floor: SOCKETS, RATE and SECONDS must be positive\n");
    return 2;
  }

  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof addr;
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(lfd, 4096) != 0 ||
      ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0)
    die("listen");

  // Two processes, as with the daemon and its load generator: the child holds the server ends and
  // writes, the parent holds the client ends and reads. The parent names the start time (the
  // monotonic clock is the same in both); the child sends back its figures.
  int to_child[2], to_parent[2];
  if (::pipe(to_child) != 0 || ::pipe(to_parent) != 0) die("pipe");
  const auto warmup = std::chrono::seconds(1);
  const auto period =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(1.0 / rate));
  struct writer_report {
    double cpu = 0;
    std::uint64_t calls = 0, shorts = 0;
  };
  const pid_t child = ::fork();
  if (child < 0) die("fork");
  if (child == 0) {
    std::vector<int> server(sockets);
    for (auto& fd : server) {
      fd = ::accept(lfd, nullptr, nullptr);
      if (fd < 0) die("accept");
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as the daemon's sockets
    }
    std::int64_t start_ns = 0;
    if (::read(to_child[0], &start_ns, sizeof start_ns) != sizeof start_ns) die("read start");
    const std::chrono::steady_clock::time_point start{std::chrono::nanoseconds(start_ns)};
    const auto end = start + warmup + std::chrono::seconds(seconds);
    std::vector<writer_report> reports(writers);
    std::vector<std::thread> threads;
    for (std::size_t w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        char buf[frame_bytes * frames_per_burst];
        std::memset(buf, 'x', sizeof buf);
        double cpu0 = 0;
        bool counting = false;
        for (auto t = start; t < end; t += period) {
          std::this_thread::sleep_until(t);
          if (!counting && t >= start + warmup) {
            counting = true;
            cpu0 = thread_cpu_seconds();
          }
          const std::int64_t stamp = now_us();  // the tick's ts: taken when the burst is due
          for (std::size_t f = 0; f < frames_per_burst; ++f) std::memcpy(buf + f * frame_bytes, &stamp, sizeof stamp);
          for (std::size_t i = w; i < sockets; i += writers) {
            iovec iov{buf, sizeof buf};
            msghdr m{};
            m.msg_iov = &iov;
            m.msg_iovlen = 1;
            const ssize_t n = ::sendmsg(server[i], &m, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (counting) ++reports[w].calls;
            if (n == static_cast<ssize_t>(sizeof buf)) continue;
            // The daemon would queue the rest for its writer; here the rest is sent at once (blocking),
            // so that the reader's 100-byte records stay aligned. Counted: it means the floor stalled.
            ++reports[w].shorts;
            std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
            while (done < sizeof buf) {
              const ssize_t k = ::send(server[i], buf + done, sizeof buf - done, MSG_NOSIGNAL);
              if (k <= 0) break;
              done += static_cast<std::size_t>(k);
            }
          }
        }
        if (counting) reports[w].cpu = thread_cpu_seconds() - cpu0;
      });
    }
    for (auto& t : threads) t.join();
    writer_report total;
    for (const auto& r : reports) {
      total.cpu += r.cpu;
      total.calls += r.calls;
      total.shorts += r.shorts;
    }
    if (::write(to_parent[1], &total, sizeof total) != sizeof total) die("write report");
    char drained;
    (void)::read(to_child[0], &drained, 1);  // the reader is done: the server ends may close now
    std::_Exit(0);
  }
  ::close(lfd);
  // The reader runs at the generator's niceness (GEN_NICE, as tests/bench/realtime.sh sets it),
  // the writers at the server's.
  if (const char* n = std::getenv("GEN_NICE")) (void)::setpriority(PRIO_PROCESS, 0, std::atoi(n));

  std::vector<int> client(sockets);
  for (auto& fd : client) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    const int on = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);  // arrival, as the generator times it
  }
  const int ep = ::epoll_create1(0);
  for (std::size_t i = 0; i < sockets; ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, client[i], &ev) != 0) die("epoll_ctl");
  }
  const auto start = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);  // the child's accepts finish
  const auto end = start + warmup + std::chrono::seconds(seconds);
  const std::int64_t start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count();
  if (::write(to_child[1], &start_ns, sizeof start_ns) != sizeof start_ns) die("write start");
  bool measuring = false;

  // The reader: frames are whole 100-byte records; a short read keeps its remainder per socket.
  std::vector<std::uint32_t> lat, arrival;
  arrival.reserve(static_cast<std::size_t>(static_cast<double>(sockets) * frames_per_burst * rate * seconds * 1.1) +
                  1024);
  lat.reserve(static_cast<std::size_t>(static_cast<double>(sockets) * frames_per_burst * rate * seconds * 1.1) + 1024);
  std::vector<std::uint8_t> have(sockets, 0);
  std::vector<std::array<char, frame_bytes>> partial(sockets);
  std::uint64_t received = 0;
  double reader_cpu0 = 0;
  std::chrono::steady_clock::time_point t_measure;
  std::vector<epoll_event> evs(1024);
  char in[64 * 1024];
  while (std::chrono::steady_clock::now() < end + std::chrono::milliseconds(500)) {
    if (!measuring && std::chrono::steady_clock::now() >= start + warmup) {
      measuring = true;
      reader_cpu0 = thread_cpu_seconds();
      t_measure = std::chrono::steady_clock::now();
    }
    const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 50);
    const std::int64_t now = now_us();
    for (int e = 0; e < n; ++e) {
      const std::size_t i = evs[e].data.u64;
      for (;;) {
        std::int64_t arrived = 0;
        const ssize_t r = recv_stamped(client[i], in, sizeof in, 0, arrived);
        if (r <= 0) break;
        std::size_t off = 0;
        auto len = static_cast<std::size_t>(r);
        while (off < len) {
          const std::size_t take = std::min(frame_bytes - have[i], len - off);
          std::memcpy(partial[i].data() + have[i], in + off, take);
          have[i] = static_cast<std::uint8_t>(have[i] + take);
          off += take;
          if (have[i] == frame_bytes) {
            have[i] = 0;
            std::int64_t stamp;
            std::memcpy(&stamp, partial[i].data(), sizeof stamp);
            if (measuring && std::chrono::steady_clock::now() < end) {
              lat.push_back(static_cast<std::uint32_t>(std::max<std::int64_t>(0, now - stamp)));
              if (arrived) arrival.push_back(static_cast<std::uint32_t>(std::max<std::int64_t>(0, arrived - stamp)));
              ++received;
            }
          }
        }
        if (static_cast<std::size_t>(r) < sizeof in) break;
      }
    }
  }
  const double elapsed = std::chrono::duration<double>(end - t_measure).count();
  const double reader_cpu = thread_cpu_seconds() - reader_cpu0;
  writer_report wr;
  if (::read(to_parent[0], &wr, sizeof wr) != sizeof wr) die("read report");
  (void)::write(to_child[1], "x", 1);
  ::waitpid(child, nullptr, 0);
  const double wcpu = wr.cpu;
  const std::uint64_t calls = wr.calls, shorts = wr.shorts;
  const double offered = static_cast<double>(sockets) * frames_per_burst * rate;
  std::printf(
      "floor: bare loopback fan-out (%zu sockets, %zu writer threads, one sendmsg of %zu x %zu bytes per socket per "
      "burst, %g bursts/s, no server): delivered %.0f msg/s (%.1f%% of %.0f offered); latency ms received in the "
      "socket p50 %.2f  p99 %.2f, read p50 %.2f  p99 %.2f  p99.9 %.2f; writers %.2f us per sendmsg (%.0f%% of one "
      "core), %llu short writes; reader %.2f us per message\n",
      sockets, writers, frames_per_burst, frame_bytes, rate, static_cast<double>(received) / elapsed,
      100.0 * static_cast<double>(received) / elapsed / offered, offered, pct(arrival, 50), pct(arrival, 99),
      pct(lat, 50), pct(lat, 99), pct(lat, 99.9), calls ? 1e6 * wcpu / static_cast<double>(calls) : 0.0,
      100.0 * wcpu / elapsed, static_cast<unsigned long long>(shorts),
      received ? 1e6 * reader_cpu / static_cast<double>(received) : 0.0);
  for (int fd : client) ::close(fd);
  return 0;
}
