#pragma once
// The contract between the HTTP server and modules that take connections over (the real-time
// Engine.IO/Socket.IO endpoint): whole requests under a mounted path prefix are handed to a
// takeover_handler on the connection's own worker thread, WebSocket upgrades included, without the
// server answering them itself.
//
// Mounting: server::mount(prefix, handler) with ONE shared instance for all workers; handle() is
// then called concurrently from every worker thread (each call on the worker that owns the
// connection), so the handler must be thread-safe or keep per-worker state indexed by
// connection_info::worker (0 .. server::worker_count()-1; server::worker_executors()[worker] is the
// executor the call runs on). server::mount(prefix, factory) builds one instance per worker instead.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>

#include <cstddef>
#include <memory>
#include <string>

namespace zuperior::http {

using request = boost::beast::http::request<boost::beast::http::string_body>;

/// What the server knows about a connection when it hands a request over.
struct connection_info {
  std::string client_ip;   // after X-Forwarded-For from trusted proxies
  std::string request_id;  // X-Request-Id honoured or generated
  std::size_t worker = 0;  // index of the worker (and its io_context) owning the connection
  // While any copy is alive the connection counts against server.max_connections and
  // max_connections_per_ip: a handler that takes the socket over (WebSocket) keeps it.
  std::shared_ptr<void> slot;
};

/// Receives whole requests under a mounted path prefix and may take over the connection (WebSocket).
class takeover_handler {
 public:
  virtual ~takeover_handler() = default;
  /// Handles `req`; returns true to keep serving HTTP on the connection, false when it consumed or closed it.
  virtual boost::asio::awaitable<bool> handle(boost::beast::tcp_stream& stream, boost::beast::flat_buffer& buffer,
                                              request req, const connection_info& info) = 0;
  /// The server has stopped and is about to destroy worker `worker`'s io_context: drop everything
  /// bound to it (timers, sockets) now, while it still exists. Called once per worker, in order.
  virtual void release_worker(std::size_t worker) {}
  /// The largest request body this handler takes; 0 = server.max_body_size. (Engine.IO polling
  /// POSTs are bounded by realtime.max_payload, which the handshake announces to clients.)
  virtual std::uint64_t body_limit() const { return 0; }
};

}  // namespace zuperior::http
