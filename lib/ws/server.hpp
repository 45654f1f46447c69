#pragma once
// The Engine.IO v4 / Socket.IO v5 server, mounted on the HTTP server as a takeover handler.
//
// Threading: an Engine.IO session lives on one worker (its sid names the worker); HTTP long-polling
// requests that land on another worker hop to the owner for the session work, and a WebSocket
// (new, or an upgrade of a polling session) has its socket moved onto the owner's io_context, so a
// session and its sockets are only ever touched by one thread. Rooms are per worker; a broadcast
// is encoded once by the caller and the same buffer is queued on every receiving session.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/takeover.hpp"
#include "ws/sio_codec.hpp"

namespace zuperior::ws {

class session;

/// A Socket.IO socket: one namespace of one Engine.IO session. Used only on its worker's thread.
class socket : public std::enable_shared_from_this<socket> {
 public:
  socket(session* s, std::string id, std::string nsp, json auth);
  /// The Socket.IO id sent in the CONNECT reply.
  const std::string& id() const { return id_; }
  /// The namespace ("/" or "/custom").
  const std::string& nsp() const { return nsp_; }
  /// The CONNECT payload ({} when none); valid in on_connect and on_connected, released after.
  const json& auth() const { return auth_; }
  /// The client address (after trusted proxies).
  const std::string& client_ip() const;
  /// A cookie of the handshake request, empty when absent.
  std::string cookie(std::string_view name) const;
  /// True until the socket or its session closed.
  bool connected() const { return session_ != nullptr; }
  /// The index of the worker thread the socket lives on (connection_info::worker).
  std::size_t worker() const { return worker_; }
  /// Emits an event with these arguments (a JSON array; binary values become attachments).
  void emit(std::string_view event, json args = json::array());
  /// Answers an ack request of the client.
  void ack(std::uint64_t id, json args = json::array());
  /// Queues an already encoded Engine.IO text packet ("42[...]"), shared by many receivers.
  void send_shared(const std::shared_ptr<const std::string>& frame, std::uint64_t conflate_key = 0,
                   std::int64_t ts_us = 0);
  /// Joins a room of this worker; broadcasts to the room reach the socket in its own namespace.
  void join(const std::string& room);
  /// Leaves a room.
  void leave(const std::string& room);
  /// True when in `room`.
  bool in(const std::string& room) const;
  /// Broadcasts delivered to `room` on this socket's worker while it had members: a change across
  /// an await shows that a broadcast reached the room meanwhile.
  std::uint64_t room_frames(const std::string& room) const;
  /// Rooms joined.
  const std::vector<std::string>& rooms() const { return rooms_; }
  /// The session the socket lives on (null once it left); for the fan-out's prefetching.
  session* owner() const { return session_; }
  /// Server-side disconnect of the whole connection: DISCONNECT packet, then the transport closes.
  void disconnect();

  /// Application data: the authenticated user.
  std::string user_id;
  /// Application data: the id (jti) of the token the socket connected with; empty when none.
  std::string token_id;
  /// Application data: rate-limit refusals in a row.
  std::uint32_t violations = 0;

 private:
  friend class session;
  void detach_rooms();
  // After a leave moved this socket within a room's member list.
  void moved_in(const std::string& room, std::uint32_t pos);
  session* session_;
  std::size_t worker_;
  std::string id_;
  std::string nsp_;
  json auth_;
  std::vector<std::string> rooms_;
  std::vector<std::uint32_t> room_pos_;  // per entry of rooms_: its index in that room's member list
};

/// What an application does on a namespace. Methods run on the socket's worker thread.
class app {
 public:
  virtual ~app() = default;
  /// Decides a CONNECT: nullopt accepts, a string refuses with that CONNECT_ERROR message.
  virtual boost::asio::awaitable<std::optional<std::string>> on_connect(std::shared_ptr<socket> s) = 0;
  /// Called after the CONNECT reply went out.
  virtual void on_connected(const std::shared_ptr<socket>&) {}
  /// An EVENT from the client; `ack` is set when the client waits for an acknowledgement.
  virtual boost::asio::awaitable<void> on_event(std::shared_ptr<socket> s, std::string event, json args,
                                                std::optional<std::uint64_t> ack) = 0;
  /// The socket left (client disconnect, transport closed, server disconnect).
  virtual void on_disconnect(const std::shared_ptr<socket>&) {}
};

/// Engine.IO and Socket.IO settings of one mount.
struct server_options {
  std::chrono::milliseconds ping_interval{25'000};
  std::chrono::milliseconds ping_timeout{20'000};
  std::chrono::milliseconds connect_timeout{45'000};  // Engine.IO session without any Socket.IO CONNECT
  std::uint64_t max_payload = 1'000'000;
  std::size_t outbox_limit = 256;     // above it, market frames are conflated per key
  std::size_t outbox_hard_limit = 0;  // 0 = 4 * outbox_limit + 256: reaching it disconnects
  bool raw_echo = false;              // plain Engine.IO echo server (protocol test mode's /engine.io/)
  // Long-polling sessions one client address may hold (a polling session keeps no connection open,
  // so the HTTP server's per-address connection cap does not bound them); 0 = no cap.
  std::size_t max_polling_sessions_per_ip = 2000;
  unsigned ipv6_prefix = 64;  // an IPv6 client is counted by its network (core::client_key)
  std::vector<std::string> cors_origins;
  std::map<std::string, std::shared_ptr<app>> namespaces;  // "/" and others
};

/// Counters the daemon exports as metrics (monotonic unless noted).
struct server_stats {
  std::atomic<std::int64_t> sessions_websocket{0};  // gauge
  std::atomic<std::int64_t> sessions_polling{0};    // gauge
  std::atomic<std::int64_t> sockets{0};             // gauge: Socket.IO sockets
  std::atomic<std::int64_t> subscriptions{0};       // gauge: room memberships
  std::atomic<std::uint64_t> messages_in{0};
  std::atomic<std::uint64_t> messages_out{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::uint64_t> conflated{0};
  std::atomic<std::uint64_t> dropped{0};           // frames lost with a slow client's disconnect
  std::atomic<std::uint64_t> slow_disconnects{0};  // sessions closed because their outbox overflowed
  std::atomic<std::uint64_t> protocol_errors{0};
  std::atomic<std::uint64_t> connect_refused{0};
};

/// The Engine.IO/Socket.IO endpoint; one shared instance for all workers.
class server : public http::takeover_handler, public std::enable_shared_from_this<server> {
 public:
  /// Builds the server for these worker executors (index = connection_info::worker).
  server(server_options options, std::vector<boost::asio::any_io_executor> workers);
  ~server() override;

  /// Serves one request under the mount prefix (polling GET/POST, WebSocket upgrade, CORS preflight).
  boost::asio::awaitable<bool> handle(boost::beast::tcp_stream& stream, boost::beast::flat_buffer& buffer,
                                      http::request req, const http::connection_info& info) override;

  /// Queues `frame` (an Engine.IO text packet) on every default-namespace socket in `room`, on all workers.
  void broadcast(const std::string& room, std::shared_ptr<const std::string> frame, std::uint64_t conflate_key = 0,
                 std::int64_t ts_us = 0);
  /// One frame for one room, for broadcast_many.
  struct room_frame {
    std::string room;
    std::shared_ptr<const std::string> frame;
    std::uint64_t conflate_key = 0;
    std::int64_t ts_us = 0;
  };
  /// Broadcasts several frames as one unit of work per worker, so that a socket receiving several
  /// of them gets them in one write (a burst of ticks costs one system call per socket, not one per tick).
  void broadcast_many(std::vector<room_frame> frames);
  /// The sockets of worker `worker`; call it on that worker's thread only.
  std::vector<std::shared_ptr<socket>> sockets_on(std::size_t worker) const;
  /// Disconnects (Socket.IO DISCONNECT, as disconnect() does) every socket, on every worker, that
  /// connected with the token whose id (socket::token_id, set by the namespace's on_connect) is
  /// `token_id`: looked up in each worker's index, not by walking its sockets. Returns at once.
  void disconnect_token(std::string token_id);
  /// Sends a Socket.IO DISCONNECT and closes every session (SIGTERM); returns once all workers did it.
  void shutdown();
  /// Drops worker `worker`'s sessions and rooms (its io_context is about to be destroyed).
  void release_worker(std::size_t worker) override;
  /// Polling POSTs up to max_payload, whatever server.max_body_size says.
  std::uint64_t body_limit() const override;

  /// Live counters.
  server_stats& stats() { return stats_; }
  /// Called with the delay from a frame's source timestamp to its hand-off to the socket (seconds).
  std::function<void(double)> on_delivery_lag;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
  server_stats stats_;
};

}  // namespace zuperior::ws
