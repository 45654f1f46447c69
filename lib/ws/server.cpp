#include "ws/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/container/devector.hpp>
#include <future>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "http/cors.hpp"
#include "ws/eio_codec.hpp"

namespace zuperior::ws {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using namespace net::experimental::awaitable_operators;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
using ws_stream = websocket::stream<tcp::socket>;
using clock = std::chrono::steady_clock;

namespace {

// A frame waiting in a session's outbox. Broadcast frames share one buffer among all receivers.
struct out_frame {
  std::shared_ptr<const std::string> data;  // Engine.IO text packet, or raw bytes when binary
  std::uint64_t key = 0;                    // conflation key; 0 = never conflated
  std::int64_t ts_us = 0;                   // source timestamp for the delivery-lag metric
  bool binary = false;
  std::size_t sent = 0;  // bytes of its WebSocket frame (header + data) already written directly
};

// The header of an unmasked, unfragmented server frame; returns its length (2, 4 or 10 bytes).
std::size_t frame_header(char* out, bool binary, std::size_t len) {
  out[0] = static_cast<char>(binary ? 0x82 : 0x81);  // FIN + text/binary opcode
  if (len < 126) {
    out[1] = static_cast<char>(len);
    return 2;
  }
  if (len < 65536) {
    out[1] = static_cast<char>(126);
    out[2] = static_cast<char>((len >> 8) & 0xff);
    out[3] = static_cast<char>(len & 0xff);
    return 4;
  }
  out[1] = static_cast<char>(127);
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>((len >> (56 - 8 * i)) & 0xff);
  return 10;
}

std::string random_token(std::size_t n) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   (std::hash<std::thread::id>{}(std::this_thread::get_id()) << 1)};
  std::string out(n, 'A');
  for (auto& c : out) c = alphabet[rng() & 63];
  return out;
}

// "sid" = two hex digits naming the owning worker + random characters.
std::string make_sid(std::size_t worker) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  s += hex[(worker >> 4) & 15];
  s += hex[worker & 15];
  return s + random_token(18);
}

std::optional<std::size_t> sid_worker(std::string_view sid, std::size_t workers) {
  if (sid.size() != 20) return std::nullopt;
  auto v = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = v(sid[0]);
  const int lo = v(sid[1]);
  if (hi < 0 || lo < 0) return std::nullopt;
  const auto w = static_cast<std::size_t>(hi * 16 + lo);
  if (w >= workers) return std::nullopt;
  return w;
}

std::string_view query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    const auto eq = part.find('=');
    if (part.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return {};
}

// RFC 6455 4.2.1: Sec-WebSocket-Key is the base64 of 16 bytes (24 characters ending "=="); the
// reference server (the `ws` package) answers 400 to anything else, while Beast accepts any short value.
bool valid_websocket_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22))
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
      return false;
  return true;
}

bool has_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    if (part.substr(0, part.find('=')) == name) return true;
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return false;
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What a session answers to a polling request; written by the worker that owns the connection.
struct poll_answer {
  unsigned status = 200;
  std::string body;
  bool json = false;
  bool close_connection = false;
};

poll_answer error_answer(eio_error e) {
  return poll_answer{e == eio_error::forbidden ? 403u : 400u, eio_error_body(e), true, false};
}

void configure(ws_stream& ws, std::uint64_t max_payload) {
  ws.read_message_max(max_payload);
  ws.auto_fragment(false);
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::seconds(10);
  t.idle_timeout = websocket::stream_base::none();  // Engine.IO heartbeats detect dead peers
  t.keep_alive_pings = false;
  ws.set_option(t);
}

}  // namespace

struct worker_ctx {
  std::size_t index = 0;
  net::any_io_executor exec;
  std::unordered_map<std::string, std::shared_ptr<session>> sessions;
  std::unordered_map<std::string, std::unordered_set<socket*>> rooms;
  std::vector<std::shared_ptr<session>> dirty;  // sessions with frames to flush after this turn
  std::vector<std::shared_ptr<session>> flushing;
  bool flush_posted = false;
  bool sweeping = false;  // the heartbeat sweep runs (while the worker has sessions)
};

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
  // Polling sessions per client address, against opt.max_polling_sessions_per_ip: without a cap a
  // single client could open ~20,000 sessions a second over one keep-alive connection, each living
  // until connect_timeout (about 700 bytes apiece: hundreds of MB).
  std::mutex polling_mu;
  std::unordered_map<std::string, std::size_t> polling_per_ip;

  bool take_polling_slot(const std::string& ip) {
    if (opt.max_polling_sessions_per_ip == 0) return true;
    std::lock_guard lock(polling_mu);
    auto& n = polling_per_ip[ip];
    if (n >= opt.max_polling_sessions_per_ip) return false;
    ++n;
    return true;
  }
  void release_polling_slot(const std::string& ip) {
    if (opt.max_polling_sessions_per_ip == 0) return;
    std::lock_guard lock(polling_mu);
    auto it = polling_per_ip.find(ip);
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

// One Engine.IO session (and the Socket.IO sockets multiplexed on it). Owned by one worker.
class session : public std::enable_shared_from_this<session> {
 public:
  session(server::impl& S, worker_ctx& w, std::string sid, bool websocket, std::string client_ip, std::string cookies)
      : S_(S),
        w_(w),
        sid_(std::move(sid)),
        websocket_(websocket),
        poll_wake_(w.exec),
        client_ip_(std::move(client_ip)),
        cookies_(std::move(cookies)),
        created_(clock::now()),
        heartbeat_due_(created_ + S.opt.ping_interval) {
    (websocket_ ? S_.owner.stats().sessions_websocket : S_.owner.stats().sessions_polling)++;
  }
  ~session() {}

  const std::string& sid() const { return sid_; }
  const std::string& client_ip() const { return client_ip_; }
  std::size_t worker_index() const { return w_.index; }
  const std::string& cookies() const { return cookies_; }
  worker_ctx& worker() { return w_; }
  server::impl& srv() { return S_; }

  // ---- outgoing ----
  void enqueue(out_frame f) {
    auto& st = S_.owner.stats();
    if (closed_ || overflowed_) return;
    if (f.key != 0 && outbox_.size() >= S_.opt.outbox_limit) {
      // The client is behind: only the newest frame per key needs to survive.
      for (auto it = outbox_.rbegin(); it != outbox_.rend(); ++it) {
        if (it->key == f.key && it->sent == 0) {
          outbox_bytes_ = outbox_bytes_ - it->data->size() + f.data->size();
          *it = std::move(f);
          st.conflated++;
          return;
        }
      }
    }
    if (outbox_.size() >= S_.hard_limit || outbox_bytes_ + f.data->size() > S_.byte_limit) {
      // Even conflation did not keep up: give up on this client without touching anyone else.
      overflowed_ = true;
      st.dropped += outbox_.size() + 1;
      st.slow_disconnects++;
      // Closing here could modify the room being iterated by the broadcast: do it next turn.
      net::post(w_.exec, [self = shared_from_this()] { self->close(close_kind::force); });
      return;
    }
    outbox_bytes_ += f.data->size();
    outbox_.push_back(std::move(f));
    notify();
  }

  // Every frame leaves the outbox here, so that outbox_bytes_ stays exact.
  out_frame pop_frame() {
    out_frame f = std::move(outbox_.front());
    outbox_.pop_front();
    outbox_bytes_ -= f.data->size();
    return f;
  }

  // A broadcast frame (the shared pointer is copied into the outbox).
  void enqueue_shared(const std::shared_ptr<const std::string>& data, std::uint64_t key, std::int64_t ts_us) {
    enqueue(out_frame{data, key, ts_us, false, 0});
  }

  // Writes the outbox with one sendmsg, without the writer coroutine: the frames queued during one
  // turn of the worker's event loop (a broadcast burst, or everything that piled up while the
  // worker was busy) leave together. What the kernel does not take goes to the writer, which
  // waits for the socket to become writable.
  void flush_direct() {
    dirty_ = false;
    if (outbox_.empty() || writer_running_) return;
    if (closed_ || !raw_writes_ || !ws_) {
      wake_writer();
      return;
    }
    constexpr std::size_t max_frames = 64;
    char hdrs[max_frames][10];
    iovec iov[2 * max_frames];
    std::size_t nio = 0, frames = 0;
    for (auto it = outbox_.begin(); it != outbox_.end() && frames < max_frames; ++it, ++frames) {
      const std::size_t hl = frame_header(hdrs[frames], it->binary, it->data->size());
      std::size_t skip = it->sent;
      if (skip < hl) {
        iov[nio++] = {hdrs[frames] + skip, hl - skip};
        skip = 0;
      } else {
        skip -= hl;
      }
      iov[nio++] = {const_cast<char*>(it->data->data()) + skip, it->data->size() - skip};
    }
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = nio;
    const ssize_t n = ::sendmsg(ws_->next_layer().native_handle(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      auto left = static_cast<std::size_t>(n);
      std::size_t done = 0, bytes = 0;
      std::int64_t now = 0;
      while (!outbox_.empty()) {
        out_frame& f = outbox_.front();
        char unused[10];
        const std::size_t rest = frame_header(unused, f.binary, f.data->size()) + f.data->size() - f.sent;
        if (left < rest) {
          f.sent += left;
          break;
        }
        left -= rest;
        ++done;
        bytes += f.data->size();
        if (f.ts_us && S_.owner.on_delivery_lag) {
          if (!now) now = now_us();
          S_.owner.on_delivery_lag(static_cast<double>(now - f.ts_us) / 1e6);
        }
        pop_frame();
      }
      count_sent(done, bytes);
    }
    // Not all taken (socket buffer full, more than max_frames, or an error it will meet again).
    if (!outbox_.empty()) {
      wake_writer();
    } else {
      trim_outbox();
    }
  }

  // After a burst, an emptied outbox gives its memory back (10,000 idle sessions add up).
  void trim_outbox() {
    if (outbox_.empty() && outbox_.capacity() > 16) outbox_.shrink_to_fit();
  }

  // Starts the WebSocket writer: frames the direct flush could not send, Beast's own writes after a
  // control frame, or the close handshake. It runs only while it has work, so an idle session holds
  // no writer coroutine frame and no pending timer.
  void wake_writer() {
    if (writer_running_ || !ws_) return;
    writer_running_ = true;
    S_.ws_running++;
    net::co_spawn(w_.exec, ws_writer(), net::detached);
  }

  void send_packet(eio_type t, std::string_view data = {}) {
    std::string s;
    s.reserve(data.size() + 1);
    s += static_cast<char>('0' + static_cast<int>(t));
    s += data;
    enqueue(out_frame{std::make_shared<const std::string>(std::move(s))});
  }
  void send_sio(const sio_packet& p) {
    auto frames = sio_encode(p);
    enqueue(out_frame{std::make_shared<const std::string>("4" + frames.text)});
    for (auto& a : frames.attachments) {
      out_frame f{std::make_shared<const std::string>(std::move(a))};
      f.binary = true;
      enqueue(std::move(f));
    }
  }
  void schedule_flush();
  void notify() {
    if (websocket_) {
      // A running writer drains the outbox before it ends. Plain WebSocket frames are flushed at
      // the end of this event-loop turn instead.
      if (writer_running_) return;
      if (raw_writes_ && ws_ && !closed_) {
        schedule_flush();
      } else {
        wake_writer();
      }
    } else {
      poll_wake_.cancel();
    }
  }

  enum class close_kind { graceful, force, client };
  void close(close_kind kind) {
    if (closed_) return;
    auto self = shared_from_this();
    closed_ = true;
    client_closed_ = kind == close_kind::client;
    release_polling_slot();
    for (auto& [nsp, s] : sockets_) drop_socket(s);
    sockets_.clear();
    if (kind == close_kind::client && !websocket_ && !poll_pending_) {
      // The client's GET and its close POST travel on two connections, often handled by two
      // workers: the poll may reach this session just after the close. It still gets the noop it
      // would have had a moment earlier; the sweep forgets the session after a second.
      lingering_ = true;
      heartbeat_due_ = clock::now() + std::chrono::seconds(1);
    } else {
      w_.sessions.erase(sid_);
    }
    (websocket_ ? S_.owner.stats().sessions_websocket : S_.owner.stats().sessions_polling)--;
    poll_wake_.cancel();
    if (kind != close_kind::graceful && ws_) {
      beast::error_code ec;
      ws_->next_layer().close(ec);
    }
    // The writer flushes what is queued (DISCONNECT packets) and performs the close handshake.
    if (kind == close_kind::graceful && websocket_) wake_writer();
  }
  bool closed() const { return closed_; }
  // This session took a place under the per-address polling cap; close() gives it back.
  void hold_polling_slot() { polling_slot_ = true; }
  void release_polling_slot() {
    if (!polling_slot_) return;
    polling_slot_ = false;
    S_.release_polling_slot(client_ip_);
  }
  // Ends the short linger of a client-closed polling session (see close()).
  void forget() {
    if (!lingering_) return;
    lingering_ = false;
    w_.sessions.erase(sid_);
  }

  // ---- heartbeat: the server pings; a missing pong closes the session ----
  // Driven by the worker's sweep (heartbeat_sweep), as the reference server does it: a ping
  // pingInterval after the open or the last pong, the session closed when no pong follows within
  // pingTimeout. A session that never connected a namespace is closed at its first ping once
  // `connect_timeout` has passed.
  bool heartbeat_due(clock::time_point now) const { return (!closed_ || lingering_) && now >= heartbeat_due_; }
  void heartbeat(clock::time_point now) {
    if (!heartbeat_due(now)) return;
    if (closed_) {
      forget();
      return;
    }
    if (awaiting_pong_) {
      close(close_kind::force);
      return;
    }
    if (sockets_.empty() && !S_.opt.raw_echo && now - created_ > S_.opt.connect_timeout) {
      close(close_kind::force);
      return;
    }
    // The pong deadline counts from when the ping was due, not from the sweep tick that sent it
    // (up to a tick later), so a silent client is closed pingInterval + pingTimeout after its last
    // pong, as with the reference server's timers; a ping sent very late still gets half a timeout.
    awaiting_pong_ = true;
    heartbeat_due_ = std::max(heartbeat_due_ + S_.opt.ping_timeout, now + S_.opt.ping_timeout / 2);
    send_packet(eio_type::ping);
  }
  // True when the pong deadline has passed: the session is over even if the sweep has not come by yet.
  bool pong_overdue(clock::time_point now) const { return awaiting_pong_ && !closed_ && now >= heartbeat_due_; }
  void close_overdue() { close(close_kind::force); }

  // ---- incoming packets (either transport) ----
  net::awaitable<void> on_packet(eio_packet p) {
    switch (p.type) {
      case eio_type::ping:
        send_packet(eio_type::pong, p.data);
        break;
      case eio_type::pong:
        if (awaiting_pong_) {
          awaiting_pong_ = false;
          heartbeat_due_ = clock::now() + S_.opt.ping_interval;
        }
        break;
      case eio_type::message:
        co_await on_message(std::move(p));
        break;
      case eio_type::close:
        close(close_kind::client);
        break;
      case eio_type::noop:
        break;
      case eio_type::open:
      case eio_type::upgrade:
        S_.owner.stats().protocol_errors++;
        close(close_kind::force);
        break;
    }
  }

  net::awaitable<void> on_message(eio_packet p) {
    auto& st = S_.owner.stats();
    st.messages_in++;
    if (S_.opt.raw_echo) {
      if (p.binary) {
        out_frame f{std::make_shared<const std::string>(std::move(p.data))};
        f.binary = true;
        enqueue(std::move(f));
      } else {
        send_packet(eio_type::message, p.data);
      }
      co_return;
    }
    const auto status = p.binary ? decoder_.feed_binary(p.data) : decoder_.feed_text(p.data);
    if (status == sio_decoder::status::need_more) co_return;
    if (status == sio_decoder::status::error) {
      st.protocol_errors++;
      spdlog::debug("socket.io session {} from {}: {}", sid_, client_ip_, sio_error_message(decoder_.error()));
      close(close_kind::force);
      co_return;
    }
    sio_packet pk = decoder_.take();
    switch (pk.type) {
      case sio_type::connect:
        co_await on_connect(std::move(pk));
        break;
      case sio_type::disconnect:
        on_disconnect(pk.nsp, false);
        break;
      case sio_type::event:
      case sio_type::binary_event: {
        auto it = sockets_.find(pk.nsp);
        if (it == sockets_.end()) break;  // not connected to that namespace: ignored, as the reference does
        auto s = it->second;
        auto app = S_.opt.namespaces.at(pk.nsp);
        std::string name = pk.data[0].is_string() ? pk.data[0].get<std::string>() : pk.data[0].dump();
        pk.data.erase(0);
        co_await app->on_event(s, std::move(name), std::move(pk.data), pk.id);
        break;
      }
      case sio_type::ack:
      case sio_type::binary_ack:
        break;  // the server never asks clients for acks
      case sio_type::connect_error:
        st.protocol_errors++;
        close(close_kind::force);
        break;
    }
  }

  net::awaitable<void> on_connect(sio_packet pk) {
    auto self = shared_from_this();
    if (sockets_.count(pk.nsp)) co_return;
    auto app_it = S_.opt.namespaces.find(pk.nsp);
    if (app_it == S_.opt.namespaces.end()) {
      send_connect_error(pk.nsp, "Invalid namespace");
      co_return;
    }
    auto app = app_it->second;
    auto s = std::make_shared<socket>(this, random_token(20), pk.nsp, pk.has_data() ? pk.data : json::object());
    auto refused = co_await app->on_connect(s);
    if (closed_) co_return;
    if (refused) {
      S_.owner.stats().connect_refused++;
      s->session_ = nullptr;
      send_connect_error(pk.nsp, *refused);
      co_return;
    }
    if (sockets_.count(pk.nsp)) co_return;
    sockets_[pk.nsp] = s;
    S_.owner.stats().sockets++;
    sio_packet reply;
    reply.type = sio_type::connect;
    reply.nsp = pk.nsp;
    reply.data = json::object();
    reply.data["sid"] = s->id();
    send_sio(reply);
    app->on_connected(s);
    s->auth_ = json();  // only needed to connect: an idle socket should not carry it
  }

  void send_connect_error(const std::string& nsp, const std::string& message) {
    sio_packet e;
    e.type = sio_type::connect_error;
    e.nsp = nsp;
    e.data = json::object();
    e.data["message"] = message;
    send_sio(e);
  }

  // A socket leaves its namespace. The client's DISCONNECT keeps the Engine.IO session open, as the
  // reference server does (the client may connect a namespace again; one without any is closed at a
  // ping once connect_timeout has passed); the server's own disconnect of the last socket closes it.
  void on_disconnect(const std::string& nsp, bool close_if_last) {
    auto it = sockets_.find(nsp);
    if (it == sockets_.end()) return;
    auto s = it->second;
    sockets_.erase(it);
    drop_socket(s);
    if (close_if_last && sockets_.empty()) close(close_kind::graceful);
  }

  void drop_socket(const std::shared_ptr<socket>& s) {
    if (!s->session_) return;
    s->detach_rooms();
    s->session_ = nullptr;
    S_.owner.stats().sockets--;
    auto app = S_.opt.namespaces.find(s->nsp());
    if (app != S_.opt.namespaces.end()) app->second->on_disconnect(s);
  }

  // Server-initiated end of one namespace socket (and of the session when it was the last).
  void disconnect_socket(const std::shared_ptr<socket>& s) {
    sio_packet p;
    p.type = sio_type::disconnect;
    p.nsp = s->nsp();
    send_sio(p);
    on_disconnect(s->nsp(), true);
  }

  // Graceful shutdown: every namespace gets DISCONNECT, then the transport closes.
  void shutdown() {
    auto copy = sockets_;
    for (auto& [nsp, s] : copy) {
      sio_packet p;
      p.type = sio_type::disconnect;
      p.nsp = nsp;
      send_sio(p);
    }
    close(close_kind::graceful);
  }

  // ---- HTTP long-polling ----
  net::awaitable<poll_answer> poll_get() {
    auto self = shared_from_this();
    if (websocket_ || upgraded_) co_return error_answer(eio_error::bad_request);
    if (poll_pending_) {
      // Two concurrent polls: a broken client. The first poll gets the close packet.
      close(close_kind::force);
      co_return error_answer(eio_error::bad_request);
    }
    poll_pending_ = true;
    // During an upgrade (from the probe on) a poll is held for up to 100 ms from its arrival, as the
    // reference server's upgrade check does, and then answered with a noop, or refused if the
    // upgrade completed meanwhile: the client may already have sent "2probe" and "5" on the
    // WebSocket, which this worker may not have read yet (the two connections race). Otherwise, and
    // while a probe connection is merely open, a poll waits for frames as usual.
    const auto hold_until = clock::now() + std::chrono::milliseconds(100);
    while (!closed_ && !upgraded_) {
      if (upgrading_) {
        if (clock::now() >= hold_until) break;
        poll_wake_.expires_at(hold_until);
      } else if (outbox_.empty()) {
        poll_wake_.expires_at(clock::time_point::max());
      } else {
        break;
      }
      co_await poll_wake_.async_wait(use_tuple);
    }
    poll_pending_ = false;
    if (upgraded_) co_return error_answer(eio_error::bad_request);
    if (outbox_.empty()) {
      // Closed: "6" answers the client's own close, "1" tells it the server closed; upgrading: noop.
      if (closed_) {
        forget();
        co_return poll_answer{200, client_closed_ ? "6" : "1"};
      }
      co_return poll_answer{200, "6"};
    }
    std::string body;
    auto& st = S_.owner.stats();
    bool first = true;
    std::int64_t now = 0;
    while (!outbox_.empty()) {
      out_frame f = pop_frame();
      if (!first) body += record_separator;
      first = false;
      if (f.binary) {
        body += eio_encode_payload_element(eio_packet{eio_type::message, *f.data, true});
      } else {
        body += *f.data;
      }
      st.messages_out++;
      if (f.ts_us && S_.owner.on_delivery_lag) {
        if (!now) now = now_us();
        S_.owner.on_delivery_lag(static_cast<double>(now - f.ts_us) / 1e6);
      }
    }
    st.bytes_out += body.size();
    co_return poll_answer{200, std::move(body)};
  }

  net::awaitable<poll_answer> poll_post(std::string body) {
    auto self = shared_from_this();
    if (websocket_ || upgraded_) co_return error_answer(eio_error::bad_request);
    if (body.size() > S_.opt.max_payload) {
      close(close_kind::force);
      co_return poll_answer{413, eio_error_body(eio_error::bad_request), true, true};
    }
    auto packets = eio_decode_payload(body);
    if (!packets) {
      S_.owner.stats().protocol_errors++;
      close(close_kind::force);
      co_return error_answer(eio_error::bad_request);
    }
    for (auto& p : *packets) {
      co_await on_packet(std::move(p));
      if (closed_) break;
    }
    co_return poll_answer{200, "ok"};
  }

  // ---- WebSocket ----
  net::awaitable<void> ws_reader() {
    beast::flat_buffer buf;
    for (;;) {
      // A read waiting for a new message reserves only a small buffer (Beast prepares its buffer
      // space before the data arrives); the rest of a longer message is read in large steps.
      const std::size_t step = buf.size() == 0 ? 256 : 64 * 1024;
      auto [ec, n] = co_await ws_->async_read_some(buf, step, use_tuple);
      if (ec) {
        close(close_kind::force);
        co_return;
      }
      if (!ws_->is_message_done()) continue;
      if (closed_) {  // a graceful close is in progress: the writer ends it
        buf.consume(buf.size());
        continue;
      }
      const std::string_view data(static_cast<const char*>(buf.data().data()), buf.size());
      eio_packet p;
      if (ws_->got_text()) {
        auto d = eio_decode_text(data);
        if (!d) {
          S_.owner.stats().protocol_errors++;
          close(close_kind::force);
          co_return;
        }
        p = std::move(*d);
      } else {
        p = eio_decode_binary(data);
      }
      // Clients send rarely (pongs, subscriptions): an idle socket keeps no read buffer.
      buf.consume(buf.size());
      buf.shrink_to_fit();
      co_await on_packet(std::move(p));
    }
  }

  // Writes the outbox. Frames that piled up (a broadcast burst) leave in one system call: the
  // server's frames are unmasked, so each is a small header plus the shared payload, copied into
  // one batch buffer and written on the TCP socket directly. Beast writes only control frames on
  // its own (pong, close reply), so a peer that sends WebSocket control frames gets Beast's
  // one-message writes from then on and the two writers never interleave on that connection.
  net::awaitable<void> ws_writer() {
    auto self = shared_from_this();
    bool ok = true;
    while (ok && !outbox_.empty()) {
      if (raw_writes_ || outbox_.front().sent) {
        ok = co_await write_batch();
      } else {
        ok = co_await write_one();
      }
    }
    if (!ok) {
      close(close_kind::force);
    } else if (closed_ && ws_->is_open()) {
      net::steady_timer t(w_.exec);
      t.expires_after(std::chrono::seconds(2));
      co_await (ws_->async_close(websocket::close_code::normal, use_tuple) || t.async_wait(use_tuple));
    }
    trim_outbox();
    writer_running_ = false;
    S_.ws_running--;
    // Frames queued while the close handshake ran are dropped with the session; any others go now.
    if (!closed_ && !outbox_.empty()) notify();
  }

  void count_sent(std::size_t frames, std::size_t bytes) {
    auto& st = S_.owner.stats();
    st.messages_out += frames;
    st.bytes_out += bytes;
  }

  net::awaitable<bool> write_one() {
    out_frame f = pop_frame();
    ws_->text(!f.binary);
    auto [ec, n] = co_await ws_->async_write(net::buffer(*f.data), use_tuple);
    if (ec) co_return false;
    count_sent(1, f.data->size());
    if (f.ts_us && S_.owner.on_delivery_lag) S_.owner.on_delivery_lag(static_cast<double>(now_us() - f.ts_us) / 1e6);
    co_return true;
  }

  net::awaitable<bool> write_batch() {
    static constexpr std::size_t batch_bytes = 64 * 1024;
    static constexpr std::size_t copy_limit = 16 * 1024;  // larger payloads are not copied
    std::string head;
    std::shared_ptr<const std::string> big;  // a large payload written after `head`
    std::size_t frames = 0, payload = 0;
    std::int64_t lag_ts[64];
    std::size_t lags = 0;
    while (!outbox_.empty() && head.size() < batch_bytes && frames < 1024) {
      out_frame& f = outbox_.front();
      const std::size_t len = f.data->size();
      if (head.empty()) head.reserve(std::min(batch_bytes, outbox_.size() * (len + 10)));
      char hdr[10];
      const std::size_t hl = frame_header(hdr, f.binary, len);
      if (f.sent >= hl) {
        // The rest of a frame that flush_direct() began (only ever the first one in the outbox).
        head.append(*f.data, f.sent - hl);
      } else {
        head.append(hdr + f.sent, hl - f.sent);
        if (len > copy_limit) {
          big = std::move(f.data);
        } else {
          head.append(*f.data);
        }
      }
      ++frames;
      payload += len;
      if (f.ts_us && lags < 64) lag_ts[lags++] = f.ts_us;
      outbox_bytes_ -= len;  // not pop_frame(): f.data may have moved into `big`
      outbox_.pop_front();
      if (big) break;
    }
    std::array<net::const_buffer, 2> bufs{net::buffer(head), big ? net::buffer(*big) : net::const_buffer{}};
    auto [ec, n] = co_await net::async_write(ws_->next_layer(), bufs, use_tuple);
    if (ec) co_return false;
    count_sent(frames, payload);
    if (lags && S_.owner.on_delivery_lag) {
      const auto now = now_us();
      for (std::size_t i = 0; i < lags; ++i) S_.owner.on_delivery_lag(static_cast<double>(now - lag_ts[i]) / 1e6);
    }
    co_return true;
  }

  // Reads a WebSocket that is already accepted until it ends. The writer runs beside it only while
  // it has work (wake_writer); the heartbeat is the worker's sweep.
  net::awaitable<void> run_ws() {
    auto self = shared_from_this();
    ws_->control_callback([this](websocket::frame_type, beast::string_view) { raw_writes_ = false; });
    co_await ws_reader();
    close(close_kind::force);
    beast::error_code ec;
    ws_->next_layer().close(ec);
    S_.ws_running--;
  }

  // A fresh WebSocket session (no polling before it). `slot` keeps the connection counted against
  // the HTTP server's connection caps for the session's life.
  void start_ws(std::unique_ptr<ws_stream> ws, std::shared_ptr<void> slot) {
    ws_ = std::move(ws);
    slot_ = std::move(slot);
    S_.ws_running++;
    net::co_spawn(w_.exec, run_ws(), net::detached);
    send_packet(eio_type::open, std::string_view(S_.open_packet(sid_, false)).substr(1));
  }

  // The polling-to-WebSocket upgrade: 2probe/3probe, the pending poll released with a noop, then 5.
  net::awaitable<void> upgrade(std::unique_ptr<ws_stream> ws, std::shared_ptr<void> slot) {
    auto self = shared_from_this();
    if (closed_ || websocket_ || upgraded_ || upgrading_ || probing_) {
      beast::error_code ec;
      ws->next_layer().close(ec);
      co_return;
    }
    probing_ = true;
    beast::flat_buffer buf;
    bool ok = false;
    for (int step = 0; step < 2 && !closed_; ++step) {
      net::steady_timer t(w_.exec);
      t.expires_after(S_.opt.ping_timeout + S_.opt.ping_interval);
      auto r = co_await (ws->async_read(buf, use_tuple) || t.async_wait(use_tuple));
      if (r.index() != 0 || std::get<0>(std::get<0>(r))) break;
      const std::string frame = beast::buffers_to_string(buf.data());
      buf.consume(buf.size());
      if (step == 0) {
        if (frame != "2probe") break;
        // Upgrading from the probe on, not from when 3probe is written: a client may send "5" right
        // after "2probe", and a poll arriving meanwhile must be held (and then refused), not answered.
        upgrading_ = true;
        poll_wake_.cancel();  // a pending poll is answered with a noop
        ws->text(true);
        auto [ec, n] = co_await ws->async_write(net::buffer(std::string_view("3probe")), use_tuple);
        if (ec) break;
      } else {
        ok = frame == "5";
      }
    }
    probing_ = false;
    if (!ok || closed_) {
      upgrading_ = false;
      beast::error_code ec;
      ws->next_layer().close(ec);
      co_return;
    }
    upgraded_ = true;
    upgrading_ = false;
    websocket_ = true;
    poll_wake_.cancel();  // a poll held during the upgrade is refused now
    S_.owner.stats().sessions_polling--;
    S_.owner.stats().sessions_websocket++;
    ws_ = std::move(ws);
    slot_ = std::move(slot);
    // From here on the session holds a connection place (slot_): its polling place goes back, or
    // every stock client (polling first, then the upgrade) would count against both caps.
    release_polling_slot();
    // The reader runs in its own coroutine so that this frame (probe buffer, timers) is freed.
    S_.ws_running++;
    net::co_spawn(w_.exec, run_ws(), net::detached);
    if (!outbox_.empty()) notify();  // queued after the pending poll was released
  }

 private:
  friend class zuperior::ws::socket;
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
  net::steady_timer poll_wake_;
  std::unique_ptr<ws_stream> ws_;
  std::shared_ptr<void> slot_;  // the WebSocket connection's place under the HTTP server's caps
  // A binary packet's attachments together may not exceed max_payload (the codec's default is
  // 1 MB, right only when max_payload is the default).
  sio_decoder decoder_{sio_limits{.max_attachment_bytes = static_cast<std::size_t>(S_.opt.max_payload)}};
  std::map<std::string, std::shared_ptr<socket>> sockets_;
  std::string client_ip_;
  std::string cookies_;
  clock::time_point created_;
  clock::time_point heartbeat_due_;  // next ping, or the pong deadline while awaiting_pong_
};

namespace {

// Every session's heartbeat on one worker, from one timer: a timer and a coroutine per session
// would cost each idle socket about a kilobyte. Runs while the worker has sessions.
net::awaitable<void> heartbeat_sweep(server::impl* S, worker_ctx* w) {
  const auto shortest = std::min(S->opt.ping_interval, S->opt.ping_timeout);
  const auto tick = std::clamp<clock::duration>(shortest / 8, std::chrono::milliseconds(5), std::chrono::seconds(1));
  net::steady_timer t(w->exec);
  std::vector<std::shared_ptr<session>> due;
  while (!w->sessions.empty()) {
    t.expires_after(tick);
    co_await t.async_wait(use_tuple);
    const auto now = clock::now();
    for (auto& [sid, s] : w->sessions)
      if (s->heartbeat_due(now)) due.push_back(s);
    for (auto& s : due) s->heartbeat(now);
    due.clear();
  }
  w->sweeping = false;
}

// Registers a new session with its worker (and starts the worker's heartbeat sweep if it was idle).
void add_session(server::impl* S, worker_ctx& w, const std::shared_ptr<session>& s) {
  w.sessions.emplace(s->sid(), s);
  if (!w.sweeping) {
    w.sweeping = true;
    net::co_spawn(w.exec, heartbeat_sweep(S, &w), net::detached);
  }
}

}  // namespace

void flush_worker(worker_ctx* w) {
  w->flush_posted = false;
  std::swap(w->dirty, w->flushing);
  for (auto& s : w->flushing) s->flush_direct();
  w->flushing.clear();
}

void session::schedule_flush() {
  if (dirty_) return;
  dirty_ = true;
  w_.dirty.push_back(shared_from_this());
  if (!w_.flush_posted) {
    w_.flush_posted = true;
    net::post(w_.exec, [w = &w_] { flush_worker(w); });
  }
}

// ---------------------------------------------------------------------------------------------
// socket

socket::socket(session* s, std::string id, std::string nsp, json auth)
    : session_(s),
      worker_(s ? s->worker_index() : 0),
      id_(std::move(id)),
      nsp_(std::move(nsp)),
      auth_(std::move(auth)) {}

const std::string& socket::client_ip() const {
  static const std::string none;
  return session_ ? session_->client_ip() : none;
}

std::string socket::cookie(std::string_view name) const {
  if (!session_) return {};
  std::string_view c = session_->cookies();
  while (!c.empty()) {
    const auto semi = c.find(';');
    std::string_view part = c.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    const auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
    if (semi == std::string_view::npos) break;
    c = c.substr(semi + 1);
  }
  return {};
}

void socket::emit(std::string_view event, json args) {
  if (!session_) return;
  sio_packet p;
  p.type = sio_type::event;
  p.nsp = nsp_;
  json data = json::array();
  data.push_back(std::string(event));
  if (args.is_array()) {
    for (auto& a : args) data.push_back(std::move(a));
  } else {
    data.push_back(std::move(args));
  }
  p.data = std::move(data);
  session_->send_sio(p);
}

void socket::ack(std::uint64_t id, json args) {
  if (!session_) return;
  sio_packet p;
  p.type = sio_type::ack;
  p.nsp = nsp_;
  p.id = id;
  p.data = args.is_array() ? std::move(args) : json::array({std::move(args)});
  session_->send_sio(p);
}

void socket::send_shared(const std::shared_ptr<const std::string>& frame, std::uint64_t conflate_key,
                         std::int64_t ts_us) {
  if (!session_) return;
  session_->enqueue_shared(frame, conflate_key, ts_us);
}

void socket::join(const std::string& room) {
  if (!session_ || in(room)) return;
  rooms_.push_back(room);
  session_->worker().rooms[room].insert(this);
  session_->srv().owner.stats().subscriptions++;
}

void socket::leave(const std::string& room) {
  if (!session_) return;
  auto it = std::find(rooms_.begin(), rooms_.end(), room);
  if (it == rooms_.end()) return;
  rooms_.erase(it);
  auto& rooms = session_->worker().rooms;
  if (auto r = rooms.find(room); r != rooms.end()) {
    r->second.erase(this);
    if (r->second.empty()) rooms.erase(r);
  }
  session_->srv().owner.stats().subscriptions--;
}

bool socket::in(const std::string& room) const { return std::find(rooms_.begin(), rooms_.end(), room) != rooms_.end(); }

void socket::detach_rooms() {
  auto copy = rooms_;
  for (const auto& r : copy) leave(r);
}

void socket::disconnect() {
  if (!session_) return;
  session_->disconnect_socket(shared_from_this());
}

// ---------------------------------------------------------------------------------------------
// server

namespace {

// Moves a connection's socket onto another worker's io_context (same descriptor, new owner).
tcp::socket move_socket(beast::tcp_stream& stream, const net::any_io_executor& to) {
  auto& s = stream.socket();
  beast::error_code ec;
  const auto protocol = s.local_endpoint(ec).protocol();
  const auto fd = s.release(ec);
  tcp::socket out(to);
  if (!ec) out.assign(protocol, fd, ec);
  return out;
}

net::awaitable<bool> write_answer(beast::tcp_stream& stream, const http::request& req, poll_answer a,
                                  const http::cors_policy& cors) {
  http::response res{static_cast<bhttp::status>(a.status), req.version()};
  res.set(bhttp::field::content_type, a.json ? "application/json" : "text/plain; charset=UTF-8");
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = std::move(a.body);
  cors.decorate(req, res);
  const bool keep = req.keep_alive() && !a.close_connection;
  res.keep_alive(keep);
  res.prepare_payload();
  stream.expires_after(std::chrono::seconds(30));
  auto [ec, n] = co_await bhttp::async_write(stream, res, use_tuple);
  co_return !ec && keep;
}

net::awaitable<poll_answer> session_request(server::impl* S, std::size_t worker, std::string sid, bool post,
                                            std::string body) {
  auto& w = *S->workers[worker];
  auto it = w.sessions.find(sid);
  if (it == w.sessions.end()) co_return error_answer(eio_error::unknown_sid);
  auto s = it->second;
  // A closed session lingering for a crossing poll takes no more packets.
  if (post && s->closed()) co_return error_answer(eio_error::unknown_sid);
  // Past its pong deadline the session is gone, whether or not the heartbeat sweep has run since.
  if (s->pong_overdue(clock::now())) {
    s->close_overdue();
    co_return error_answer(eio_error::unknown_sid);
  }
  // Kept as plain statements: GCC 12 mishandles temporaries in `co_return co_await` of class types.
  poll_answer a;
  if (post) {
    a = co_await s->poll_post(std::move(body));
  } else {
    a = co_await s->poll_get();
  }
  co_return a;
}

// `slot` keeps the connection counted against the HTTP server's connection caps; the session holds
// it for the WebSocket's whole life. This frame ends once the session runs.
net::awaitable<void> run_new_websocket(server::impl* S, std::size_t worker, tcp::socket sock, http::request req,
                                       std::string client_ip, std::shared_ptr<void> slot) {
  auto ws = std::make_unique<ws_stream>(std::move(sock));
  configure(*ws, S->opt.max_payload);
  auto [ec] = co_await ws->async_accept(req, use_tuple);
  std::string cookies(req[bhttp::field::cookie]);
  {
    auto done = std::move(req);  // this frame lives as long as the session: drop the headers now
  }
  if (ec || S->shutting_down) co_return;
  auto& w = *S->workers[worker];
  auto s = std::make_shared<session>(*S, w, make_sid(worker), true, std::move(client_ip), std::move(cookies));
  add_session(S, w, s);
  s->start_ws(std::move(ws), std::move(slot));
}

net::awaitable<void> run_upgrade(server::impl* S, std::size_t worker, std::string sid, tcp::socket sock,
                                 http::request req, std::shared_ptr<void> slot) {
  auto& w = *S->workers[worker];
  auto it = w.sessions.find(sid);
  if (it == w.sessions.end()) {
    // Unknown sid: answer like Engine.IO does, then close.
    beast::tcp_stream stream(std::move(sock));
    co_await write_answer(stream, req, error_answer(eio_error::unknown_sid), S->cors);
    co_return;
  }
  auto s = it->second;
  auto ws = std::make_unique<ws_stream>(std::move(sock));
  configure(*ws, S->opt.max_payload);
  auto [ec] = co_await ws->async_accept(req, use_tuple);
  if (ec) co_return;
  co_await s->upgrade(std::move(ws), std::move(slot));
}

net::awaitable<poll_answer> open_polling(server::impl* S, std::size_t worker, std::string client_ip,
                                         std::string cookies) {
  auto& w = *S->workers[worker];
  if (!S->take_polling_slot(client_ip)) co_return error_answer(eio_error::forbidden);
  auto s = std::make_shared<session>(*S, w, make_sid(worker), false, std::move(client_ip), std::move(cookies));
  s->hold_polling_slot();
  add_session(S, w, s);
  co_return poll_answer{200, S->open_packet(s->sid(), true)};
}

void shutdown_worker(server::impl* S, std::size_t worker) {
  auto& w = *S->workers[worker];
  std::vector<std::shared_ptr<session>> all;
  for (auto& [sid, s] : w.sessions) all.push_back(s);
  for (auto& s : all) s->shutdown();
}

}  // namespace

server::server(server_options options, std::vector<net::any_io_executor> workers)
    : impl_(std::make_unique<impl>(*this, std::move(options), std::move(workers))) {}

server::~server() = default;

net::awaitable<bool> server::handle(beast::tcp_stream& stream, beast::flat_buffer& buffer, http::request req,
                                    const http::connection_info& info) {
  (void)buffer;
  auto& S = *impl_;
  if (http::cors_policy::is_preflight(req)) {
    auto res = S.cors.preflight(req);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await bhttp::async_write(stream, res, use_tuple);
    co_return !ec && req.keep_alive();
  }
  const std::string_view target(req.target().data(), req.target().size());
  const auto q = target.find('?');
  const std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  const auto transport = query_param(query, "transport");
  const auto eio = query_param(query, "EIO");
  const std::string sid(query_param(query, "sid"));
  const bool is_ws = websocket::is_upgrade(req);
  const std::size_t worker = info.worker < S.workers.size() ? info.worker : 0;

  auto fail = [&](eio_error e) { return write_answer(stream, req, error_answer(e), S.cors); };
  if (S.shutting_down) co_return co_await write_answer(stream, req, poll_answer{503, "", false, true}, S.cors);
  if (transport != "polling" && transport != "websocket") co_return co_await fail(eio_error::unknown_transport);
  if (eio != "4") co_return co_await fail(eio_error::unsupported_protocol_version);
  if (is_ws != (transport == "websocket")) co_return co_await fail(eio_error::bad_request);
  if (is_ws && !valid_websocket_key(req[bhttp::field::sec_websocket_key]))
    co_return co_await fail(eio_error::bad_request);

  if (is_ws) {
    std::size_t owner = worker;
    if (has_param(query, "sid")) {
      auto w = sid_worker(sid, S.workers.size());
      if (!w) co_return co_await fail(eio_error::unknown_sid);
      owner = *w;
    }
    // The connection moves to the session's worker; the HTTP server is done with it.
    tcp::socket sock = move_socket(stream, S.workers[owner]->exec);
    if (has_param(query, "sid")) {
      net::co_spawn(S.workers[owner]->exec, run_upgrade(&S, owner, sid, std::move(sock), std::move(req), info.slot),
                    net::detached);
    } else {
      net::co_spawn(S.workers[owner]->exec,
                    run_new_websocket(&S, owner, std::move(sock), std::move(req), info.client_ip, info.slot),
                    net::detached);
    }
    co_return false;
  }

  const auto method = req.method();
  if (!has_param(query, "sid")) {
    if (method != bhttp::verb::get) co_return co_await fail(eio_error::bad_handshake_method);
    auto answer = co_await open_polling(&S, worker, info.client_ip, std::string(req[bhttp::field::cookie]));
    co_return co_await write_answer(stream, req, std::move(answer), S.cors);
  }
  if (method != bhttp::verb::get && method != bhttp::verb::post) co_return co_await fail(eio_error::bad_request);
  auto owner = sid_worker(sid, S.workers.size());
  if (!owner) co_return co_await fail(eio_error::unknown_sid);
  const bool post = method == bhttp::verb::post;
  std::string body;
  if (post) body = std::move(req.body());
  auto answer = co_await net::co_spawn(S.workers[*owner]->exec, session_request(&S, *owner, sid, post, std::move(body)),
                                       net::use_awaitable);
  co_return co_await write_answer(stream, req, std::move(answer), S.cors);
}

void server::broadcast(const std::string& room, std::shared_ptr<const std::string> frame, std::uint64_t conflate_key,
                       std::int64_t ts_us) {
  std::vector<room_frame> one;
  one.push_back({room, std::move(frame), conflate_key, ts_us});
  broadcast_many(std::move(one));
}

void server::broadcast_many(std::vector<room_frame> frames) {
  if (frames.empty()) return;
  for (auto& wp : impl_->workers) {
    worker_ctx* w = wp.get();
    std::vector<room_frame> mine;
    if (wp == impl_->workers.back()) {
      mine = std::move(frames);
    } else {
      // Each worker gets its own copies: a frame's reference count is then touched by one thread only.
      mine.reserve(frames.size());
      for (const auto& f : frames)
        mine.push_back({f.room, std::make_shared<const std::string>(*f.frame), f.conflate_key, f.ts_us});
    }
    net::post(w->exec, [w, frames = std::move(mine)] {
      // Frames are encoded for the default namespace; a socket of another namespace gets the same
      // packet addressed to its own, encoded once per frame and namespace.
      struct addressed {
        std::string_view nsp;
        std::shared_ptr<const std::string> frame;
        std::uint64_t key;  // the namespace's own conflation key: a slow client keeps each one's newest
      };
      std::vector<addressed> other;
      for (const auto& f : frames) {
        auto it = w->rooms.find(f.room);
        if (it == w->rooms.end()) continue;
        other.clear();
        for (socket* s : it->second) {
          if (s->nsp() == "/") {
            s->send_shared(f.frame, f.conflate_key, f.ts_us);
            continue;
          }
          auto o = std::find_if(other.begin(), other.end(), [s](const auto& e) { return e.nsp == s->nsp(); });
          if (o == other.end()) {
            std::uint64_t key = 0;  // 0: never conflated, in every namespace
            if (f.conflate_key) key = (f.conflate_key ^ std::hash<std::string_view>{}(s->nsp())) | 1;
            o = other.insert(
                other.end(),
                {s->nsp(), std::make_shared<const std::string>(sio_to_namespace(*f.frame, s->nsp())), key});
          }
          s->send_shared(o->frame, o->key, f.ts_us);
        }
      }
    });
  }
}

void server::shutdown() {
  impl_->shutting_down = true;
  std::vector<std::future<void>> done;
  for (auto& wp : impl_->workers) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    net::post(wp->exec, [S = impl_.get(), i = wp->index, p] {
      shutdown_worker(S, i);
      p->set_value();
    });
  }
  for (auto& f : done) {
    if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) break;
  }
  // Give the writers a moment to flush the DISCONNECT packets and close frames (a closed session
  // leaves the session counts at once, its writer only when the close handshake is done).
  for (int i = 0; i < 60 && impl_->ws_running.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace zuperior::ws
