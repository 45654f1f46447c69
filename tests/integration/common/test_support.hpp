#pragma once
// Helpers shared by the C++ integration tests: run a coroutine to completion on an io_context
// whose other work never ends, and start/stop a private redis-server.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace zuperior::testing {

/// Runs `aw` on `io` until it completes (other handlers keep running); throws after `limit`.
template <class T>
T run_until(boost::asio::io_context& io, boost::asio::awaitable<T> aw,
            std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  std::optional<T> out;
  std::exception_ptr err;
  bool done = false;
  boost::asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T v) {
    err = e;
    if (!e) out.emplace(std::move(v));
    done = true;
  });
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("test coroutine did not finish in time");
    io.restart();
    io.run_one_for(std::chrono::milliseconds(50));
  }
  if (err) std::rethrow_exception(err);
  return std::move(*out);
}

/// Lets `io` run its handlers for `d`.
inline void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
  auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_until(deadline);
  }
}

/// Runs `io` until `pred()` holds or `limit` passes; returns pred().
template <class Pred>
bool run_until_true(boost::asio::io_context& io, Pred pred,
                    std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(10));
  }
  return pred();
}

/// A free TCP port on 127.0.0.1 (bound and released).
inline unsigned free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// True when `redis-server` is on PATH.
inline bool have_redis_server() { return std::system("command -v redis-server >/dev/null 2>&1") == 0; }

/// A redis-server child on a loopback port, killed on destruction; restartable on the same port.
class redis_process {
 public:
  explicit redis_process(unsigned port = free_port()) : port_(port) { start(); }
  ~redis_process() { stop(); }
  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;

  /// Starts the server and waits until it answers as this child (INFO's process_id), so a test never
  /// talks to another server that holds the port. The first start moves to another free port when
  /// this one was taken between free_port() and the bind; a restart must keep its port.
  void start() {
    if (pid_ > 0) return;
    for (int attempt = 0;; ++attempt) {
      if (launch()) {
        started_ = true;
        return;
      }
      if (started_ || attempt == 4)
        throw std::runtime_error("redis-server did not start on port " + std::to_string(port_));
      port_ = free_port();
    }
  }
  /// Kills the server (SIGKILL, so clients see the connection drop) and reaps it.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::kill(pid_, SIGCONT);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
  void freeze() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  /// Lets a frozen server run again (SIGCONT).
  void thaw() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }
  unsigned port() const { return port_; }
  std::string url(unsigned db = 0) const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }

 private:
  // Forks redis-server and waits until it answers as itself; false (child reaped) when it exits
  // first, as it does when the port is taken.
  bool launch() {
    std::string port = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      ::execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", port.c_str(), "--save", "",
               "--appendonly", "no", "--loglevel", "warning", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 250; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (answers_as_child()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    return false;
  }
  // Whether the server on port_ is our child: INFO server names its process id.
  bool answers_as_child() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port_));
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      static constexpr char info[] = "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";
      if (::send(fd, info, sizeof info - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof info - 1)) {
        char buf[4096];
        ssize_t n;
        while (reply.find("process_id:") == std::string::npos ||
               reply.find('\n', reply.find("process_id:")) == std::string::npos) {
          if ((n = ::recv(fd, buf, sizeof buf, 0)) <= 0) break;
          reply.append(buf, static_cast<std::size_t>(n));
        }
      }
    }
    ::close(fd);
    return reply.find("process_id:" + std::to_string(pid_) + "\r") != std::string::npos;
  }
  unsigned port_;
  pid_t pid_ = -1;
  bool started_ = false;
};

/// The value of an environment variable, or "".
inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace zuperior::testing
