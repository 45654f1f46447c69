#pragma once
// The HTTP/1.1 server: one single-threaded io_context per worker thread, an SO_REUSEPORT listener per
// worker (the kernel spreads connections), a connection never leaves its worker. Limits: header size
// (431), body size (413), header/request/idle timeouts, total and per-IP connection caps (503).
#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "http/message.hpp"
#include "http/router.hpp"
#include "http/takeover.hpp"

namespace zuperior::http {

/// Called once per finished request (access log, metrics); runs on the worker thread.
struct request_record {
  const request_context* ctx = nullptr;  // null when the request never reached the router (4xx at parse)
  std::string_view method;               // "OTHER" for a method Beast does not know (any token is a method)
  std::string_view route;                // route pattern, mount prefix, or "-" for unmatched
  unsigned status = 0;
  std::size_t bytes = 0;  // response body bytes
  std::chrono::steady_clock::duration duration{};
  std::string_view request_id;
  std::string_view client_ip;
  std::string_view identity;
};

/// Observers the daemon plugs in; every callback may be empty.
struct server_hooks {
  std::function<void(const request_record&)> on_request;
  /// +1 when a connection opens, -1 when it closes.
  std::function<void(int)> on_connection;
  /// A connection refused at accept (cap reached); `per_ip` tells which cap.
  std::function<void(bool per_ip)> on_rejected;
  /// +1 when a request starts, -1 when it ends.
  std::function<void(int)> on_in_flight;
  /// An accept failed (out of descriptors or similar); the listener retries after 50 ms.
  std::function<void()> on_accept_error;
};

/// The HTTP server. Construct, mount and add routes, then start(); stop in reverse.
class server {
 public:
  /// Creates the worker io_contexts (server.workers, 0 = one per core); nothing listens yet.
  server(const config::server_settings& settings, std::shared_ptr<const router> routes, server_hooks hooks = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Hands every request whose path starts with `prefix` to one shared `handler` (called from all workers).
  void mount(const std::string& prefix, const std::shared_ptr<takeover_handler>& handler);
  /// Same, with one handler instance per worker built by `factory(worker_index)`.
  void mount(const std::string& prefix, const std::function<std::shared_ptr<takeover_handler>(std::size_t)>& factory);

  /// Number of workers.
  std::size_t worker_count() const noexcept;
  /// The executors of the workers, index = connection_info::worker; valid from construction on.
  std::vector<boost::asio::any_io_executor> worker_executors() const;

  /// Binds the listeners (throws core::command_error when it cannot) and starts the worker threads.
  void start();
  /// The port actually bound (useful with server.port = 0).
  std::uint16_t port() const noexcept;
  /// The address actually bound, "host:port".
  std::string local_address() const;

  /// Stops accepting: closes the listeners; open connections go on.
  void stop_accepting();
  /// Drain mode: idle keep-alive connections are closed, busy ones close after their response.
  void begin_drain();
  /// True while draining.
  bool draining() const noexcept;
  /// Requests being processed right now.
  std::uint64_t in_flight() const noexcept;
  /// Connections open right now.
  std::uint64_t connections() const noexcept;
  /// Stops the io_contexts and joins the threads (closes whatever is left).
  void stop();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace zuperior::http
