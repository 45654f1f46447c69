#pragma once
// Internal to lib/ws: one Engine.IO session and the per-worker state it lives in, shared by
// session.cpp (the session: outbox, heartbeat, packets, both transports), socket.cpp (Socket.IO
// sockets on a session) and server.cpp (request routing, fan-out, shutdown).
#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket/stream_fwd.hpp>
#include <boost/container/devector.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/url.hpp"
#include "http/cors.hpp"
#include "ws/eio_codec.hpp"
#include "ws/server.hpp"
#include "ws/sio_codec.hpp"

namespace zuperior::ws {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using ws_stream = boost::beast::websocket::stream<tcp::socket>;
using clock = std::chrono::steady_clock;

// A frame waiting in a session's outbox. Broadcast frames share one buffer among all receivers.
struct out_frame {
  std::shared_ptr<const std::string> data;  // Engine.IO text packet, or raw bytes when binary
  std::uint64_t key = 0;                    // conflation key; 0 = never conflated
  std::int64_t ts_us = 0;                   // source timestamp for the delivery-lag metric
  bool binary = false;
  std::size_t sent = 0;  // bytes of its WebSocket frame (header + data) already written directly
};

// What a session answers to a polling request; written by the worker that owns the connection.
struct poll_answer {
  unsigned status = 200;
  std::string body;
  bool json = false;
  bool close_connection = false;
};

/// The Engine.IO error answer: 403 for `forbidden`, else 400, with Engine.IO's JSON code and message.
inline poll_answer error_answer(eio_error e) {
  return poll_answer{e == eio_error::forbidden ? 403u : 400u, eio_error_body(e), true, false};
}

/// `n` random characters of the URL-safe base64 alphabet (session and socket ids).
std::string random_token(std::size_t n);

class session;

/// How long a WebSocket closed by the server has for its last frames and the close handshake
/// before its TCP connection is closed.
inline constexpr std::chrono::seconds ws_close_grace{5};
/// Client messages one session may have waiting for the application before its transport stops
/// reading (also at most max_payload bytes of them).
inline constexpr std::size_t max_inbox_packets = 64;

/// What one worker thread owns: its sessions, its rooms and the sessions to flush after this turn.
struct worker_ctx {
  std::size_t index = 0;
  net::any_io_executor exec;
  std::unordered_map<std::string, std::shared_ptr<session>> sessions;
  struct room {
    // A dense list, not a hash set: a broadcast walks it in order and can prefetch the sockets
    // ahead of it (each socket knows its place: socket::room_pos_).
    std::vector<socket*> members;
    std::uint64_t frames = 0;  // broadcasts delivered to the room since it got its first member
  };
  std::unordered_map<std::string, room> rooms;
  std::unordered_multimap<std::string, socket*> by_token;  // connected sockets by token_id (when set)
  std::vector<std::shared_ptr<session>> dirty;             // sessions with frames to flush after this turn
  std::vector<std::shared_ptr<session>> flushing;
  // Frames and bytes flush_direct() sent in this flush, added to the shared counters once at its
  // end (each worker bumping them per session made their cache line travel between cores).
  server_stats* stats = nullptr;
  std::uint64_t sent_frames = 0;
  std::uint64_t sent_bytes = 0;
  bool flush_posted = false;
  bool sweeping = false;  // the heartbeat sweep runs (while the worker has sessions)
};

/// Writes every session queued in `w->dirty` with one system call each (posted once per turn).
void flush_worker(worker_ctx* w);

struct server::impl {
  server& owner;
  server_options opt;
  std::vector<std::unique_ptr<worker_ctx>> workers;
  http::cors_policy cors;
  std::size_t hard_limit;
  // Bytes a session may have queued: frames are up to max_payload each, so the frame cap alone let
  // a client that never reads pin hard_limit x max_payload (over 1 GB) of the daemon's memory.
  std::size_t byte_limit;
  std::atomic<bool> shutting_down{false};
  // WebSocket connections whose reader or writer still runs: shutdown waits for them to flush.
  std::atomic<int> ws_running{0};
  // Polling sessions closed by the server whose queued DISCONNECT packets no GET has taken yet:
  // shutdown waits for them too (the sweep gives up on each after ping_timeout).
  std::atomic<int> polling_goodbyes{0};
  // Polling sessions per client address, against opt.max_polling_sessions_per_ip: without a cap a
  // single client could open ~20,000 sessions a second over one keep-alive connection, each living
  // until connect_timeout (about 700 bytes apiece: hundreds of MB).
  std::mutex polling_mu;
  std::unordered_map<std::string, std::size_t> polling_per_ip;

  bool take_polling_slot(const std::string& ip) {
    if (opt.max_polling_sessions_per_ip == 0) return true;
    auto client = core::client_key(ip, opt.ipv6_prefix);
    std::lock_guard lock(polling_mu);
    auto& n = polling_per_ip[client];
    if (n >= opt.max_polling_sessions_per_ip) return false;
    ++n;
    return true;
  }
  void release_polling_slot(const std::string& ip) {
    if (opt.max_polling_sessions_per_ip == 0) return;
    const auto client = core::client_key(ip, opt.ipv6_prefix);
    std::lock_guard lock(polling_mu);
    auto it = polling_per_ip.find(client);
    if (it != polling_per_ip.end() && --it->second == 0) polling_per_ip.erase(it);
  }

  impl(server& o, server_options op, std::vector<net::any_io_executor> ex)
      : owner(o),
        opt(std::move(op)),
        cors(opt.cors_origins),
        hard_limit(opt.outbox_hard_limit ? opt.outbox_hard_limit : opt.outbox_limit * 4 + 256),
        byte_limit(std::max<std::size_t>(4 * opt.max_payload, std::size_t{4} << 20)) {
    for (std::size_t i = 0; i < ex.size(); ++i) {
      auto w = std::make_unique<worker_ctx>();
      w->index = i;
      w->exec = ex[i];
      w->stats = &o.stats();
      workers.push_back(std::move(w));
    }
  }
  std::string open_packet(const std::string& sid, bool polling) const {
    std::string s = "0{\"sid\":\"" + sid + "\",\"upgrades\":";
    s += polling ? "[\"websocket\"]" : "[]";
    s += ",\"pingInterval\":" + std::to_string(opt.ping_interval.count());
    s += ",\"pingTimeout\":" + std::to_string(opt.ping_timeout.count());
    s += ",\"maxPayload\":" + std::to_string(opt.max_payload) + "}";
    return s;
  }
};

/// One Engine.IO session (and the Socket.IO sockets multiplexed on it). Owned by one worker.
class session : public std::enable_shared_from_this<session> {
 public:
  session(server::impl& S, worker_ctx& w, std::string sid, bool websocket, std::string client_ip, std::string cookies);
  ~session();

  /// The Engine.IO session id (its first two hex digits name the worker).
  const std::string& sid() const { return sid_; }
  /// The client address (after trusted proxies).
  const std::string& client_ip() const { return client_ip_; }
  /// The index of the owning worker.
  std::size_t worker_index() const { return w_.index; }
  /// The Cookie header of the request that opened the session.
  const std::string& cookies() const { return cookies_; }
  /// The owning worker's state.
  worker_ctx& worker() { return w_; }
  /// The server this session belongs to.
  server::impl& srv() { return S_; }

  /// Queues a broadcast frame (the shared buffer is referenced, not copied); conflated by `key` when behind.
  void enqueue_shared(const std::shared_ptr<const std::string>& data, std::uint64_t key, std::int64_t ts_us);
  /// Queues a Socket.IO packet (and its binary attachments).
  void send_sio(const sio_packet& p);
  /// Writes the outbox with one sendmsg, without the writer coroutine: the frames queued during one
  /// turn of the worker's event loop (a broadcast burst, or everything that piled up while the
  /// worker was busy) leave together. What the kernel does not take goes to the writer, which
  /// waits for the socket to become writable.
  void flush_direct();
  // Cache prefetches for the fan-out, which walks thousands of sessions that went cold since the
  // last burst: it asks for the next ones while it works on this one.
  /// What enqueue_shared() reads and writes in the session.
  void prefetch_enqueue() const {
    __builtin_prefetch(&closed_);
    __builtin_prefetch(&outbox_);
  }
  /// Where enqueue_shared() will put the frame (after prefetch_enqueue() brought the outbox in).
  void prefetch_outbox_tail() const {
    if (outbox_.capacity() > outbox_.size()) __builtin_prefetch(outbox_.data() + outbox_.size(), 1);
  }
  /// What flush_direct() reads in the session.
  void prefetch_flush() const {
    __builtin_prefetch(&dirty_);
    __builtin_prefetch(&outbox_);
    __builtin_prefetch(&tcp_);
  }
  /// The outbox's frames and the TCP socket's descriptor (after prefetch_flush()).
  void prefetch_flush_data() const {
    if (!outbox_.empty()) __builtin_prefetch(outbox_.data());
    if (tcp_) __builtin_prefetch(tcp_);
  }

  /// True once the session closed (it may linger briefly for a poll that crossed the client's close).
  bool closed() const { return closed_; }
  /// This session took a place under the per-address polling cap; close() gives it back.
  void hold_polling_slot() { polling_slot_ = true; }

  // Heartbeat, driven by the worker's sweep (heartbeat_sweep), as the reference server does it: a
  // ping pingInterval after the open or the last pong, the session closed when no pong follows
  // within pingTimeout. A session that never connected a namespace is closed at its first ping
  // once `connect_timeout` has passed.
  /// True when the sweep has work for this session now.
  bool heartbeat_due(clock::time_point now) const { return (!closed_ || lingering_) && now >= heartbeat_due_; }
  /// Pings, closes a session whose pong is late, or forgets a lingering closed session.
  void heartbeat(clock::time_point now);
  /// True when the pong deadline has passed: the session is over even if the sweep has not come by yet.
  bool pong_overdue(clock::time_point now) const { return awaiting_pong_ && !closed_ && now >= heartbeat_due_; }
  /// Closes a session whose pong deadline passed.
  void close_overdue() { close(close_kind::force); }

  /// Answers a long-polling GET: the queued packets, or waits for some.
  net::awaitable<poll_answer> poll_get();
  /// Takes the packets of a long-polling POST.
  net::awaitable<poll_answer> poll_post(std::string body);
  /// Starts a fresh WebSocket session (no polling before it). `slot` keeps the connection counted
  /// against the HTTP server's connection caps for the session's life.
  void start_ws(std::unique_ptr<ws_stream> ws, std::shared_ptr<void> slot);
  /// The polling-to-WebSocket upgrade: 2probe/3probe, the pending poll released with a noop, then 5.
  net::awaitable<void> upgrade(std::unique_ptr<ws_stream> ws, std::shared_ptr<void> slot);

  /// Server-initiated end of one namespace socket (and of the session when it was the last).
  void disconnect_socket(const std::shared_ptr<socket>& s);
  /// The namespace sockets of this session, by namespace.
  const std::map<std::string, std::shared_ptr<socket>>& sockets() const { return sockets_; }
  /// Graceful shutdown: every namespace gets DISCONNECT, then the transport closes.
  void shutdown();

 private:
  enum class close_kind { graceful, force, client };

  // Outgoing.
  void enqueue(out_frame f);
  // Every frame leaves the outbox here, so that outbox_bytes_ stays exact.
  out_frame pop_frame();
  // After a burst, an emptied outbox gives its memory back (10,000 idle sessions add up).
  void trim_outbox();
  // Starts the WebSocket writer: frames the direct flush could not send, Beast's own writes after a
  // control frame, or the close handshake. It runs only while it has work, so an idle session holds
  // no writer coroutine frame and no pending timer.
  void wake_writer();
  void send_packet(eio_type t, std::string_view data = {});
  void schedule_flush();
  void notify();
  void count_sent(std::size_t frames, std::size_t bytes);

  void close(close_kind kind);
  // Bounds a server-closed WebSocket's last writes and close handshake (ws_close_grace).
  net::awaitable<void> close_deadline();
  void release_polling_slot();
  // Ends the short linger of a client-closed polling session (see close()).
  void forget();
  // The DISCONNECT packets of a server-closed polling session were taken (or never will be).
  void took_goodbye();

  // Incoming packets (either transport).
  net::awaitable<void> on_packet(eio_packet p);
  // Queues a message (or a close that follows messages) for drain_inbox(), waiting while the inbox
  // is full.
  net::awaitable<void> take_message(eio_packet p);
  // Handles the inbox's messages in order, one at a time; runs only while it has work.
  net::awaitable<void> drain_inbox();
  net::awaitable<void> on_message(eio_packet p);
  net::awaitable<void> on_connect(sio_packet pk);
  void send_connect_error(const std::string& nsp, const std::string& message);
  // A socket leaves its namespace. The client's DISCONNECT keeps the Engine.IO session open, as the
  // reference server does (the client may connect a namespace again; one without any is closed at a
  // ping once connect_timeout has passed); the server's own disconnect of the last socket closes it.
  void on_disconnect(const std::string& nsp, bool close_if_last);
  void drop_socket(const std::shared_ptr<socket>& s);

  // WebSocket.
  net::awaitable<void> ws_reader();
  // Writes the outbox. Frames that piled up (a broadcast burst) leave in one system call: the
  // server's frames are unmasked, so each is a small header plus the shared payload, copied into
  // one batch buffer and written on the TCP socket directly. Beast writes only control frames on
  // its own (pong, close reply), so a peer that sends WebSocket control frames gets Beast's
  // one-message writes from then on and the two writers never interleave on that connection.
  net::awaitable<void> ws_writer();
  net::awaitable<bool> write_one();
  net::awaitable<bool> write_batch();
  // Reads a WebSocket that is already accepted until it ends. The writer runs beside it only while
  // it has work (wake_writer); the heartbeat is the worker's sweep.
  net::awaitable<void> run_ws();

  server::impl& S_;
  worker_ctx& w_;
  std::string sid_;
  bool websocket_;
  bool closed_ = false;
  bool client_closed_ = false;
  bool overflowed_ = false;
  bool awaiting_pong_ = false;
  bool lingering_ = false;  // closed by the client, still findable for a poll that crossed the close
  bool poll_pending_ = false;
  bool post_pending_ = false;   // a polling POST's packets are being handled
  bool inbox_running_ = false;  // drain_inbox() runs
  bool owes_goodbye_ = false;   // server-closed polling session whose DISCONNECT no GET has taken yet
  bool probing_ = false;
  bool upgrading_ = false;
  bool upgraded_ = false;
  bool writer_running_ = false;  // a WebSocket writer coroutine runs (wake_writer)
  bool dirty_ = false;           // in the worker's list of sessions to flush
  bool raw_writes_ = true;       // false once the peer sent a control frame (Beast may answer it)
  bool polling_slot_ = false;    // counted in S_.polling_per_ip until close() or the upgrade
  // A devector, not a deque: an idle session's empty outbox then owns no memory at all.
  boost::container::devector<out_frame> outbox_;
  std::size_t outbox_bytes_ = 0;  // payload bytes in outbox_, against S_.byte_limit
  // Client messages waiting for the application (take_message); empty, it owns no memory.
  boost::container::devector<eio_packet> inbox_;
  std::size_t inbox_bytes_ = 0;
  net::steady_timer* inbox_room_ = nullptr;  // the timer of a transport waiting for inbox room
  net::steady_timer poll_wake_;
  std::unique_ptr<ws_stream> ws_;
  tcp::socket* tcp_ = nullptr;  // ws_'s TCP socket (it lives as long as ws_): one pointer less per flush
  std::shared_ptr<void> slot_;  // the WebSocket connection's place under the HTTP server's caps
  // A binary packet's attachments together may not exceed max_payload (the codec's default is
  // 1 MB, right only when max_payload is the default).
  sio_decoder decoder_{attachment_limits(S_.opt.max_payload)};
  static sio_limits attachment_limits(std::uint64_t max_payload) {
    sio_limits l;
    l.max_attachment_bytes = static_cast<std::size_t>(max_payload);
    return l;
  }
  std::map<std::string, std::shared_ptr<socket>> sockets_;
  std::string client_ip_;
  std::string cookies_;
  clock::time_point created_;
  clock::time_point heartbeat_due_;  // next ping, or the pong deadline while awaiting_pong_
};

}  // namespace zuperior::ws
