#include "ws/session.hpp"

#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <cerrno>
#include <system_error>
#include <thread>

namespace zuperior::ws {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using namespace net::experimental::awaitable_operators;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

namespace {

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

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string random_token(std::size_t n) {
  // Session ids are the only credential of a long-polling request and of an upgrade: they come
  // from the kernel's CSPRNG. A seeded std::mt19937_64 here let a client that collected a few
  // thousand of its own ids compute everyone else's. Bytes are drawn a page at a time per thread.
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  thread_local std::array<unsigned char, 4096> pool;
  thread_local std::size_t left = 0;
  std::string out(n, 'A');
  for (auto& c : out) {
    if (left == 0) {
      std::size_t got = 0;
      while (got < pool.size()) {
        const ssize_t r = ::getrandom(pool.data() + got, pool.size() - got, 0);
        if (r > 0)
          got += static_cast<std::size_t>(r);
        else if (r < 0 && errno != EINTR)
          throw std::system_error(errno, std::generic_category(), "getrandom");
      }
      left = pool.size();
    }
    c = alphabet[pool[--left] & 63];  // 256 is a multiple of 64: no bias
  }
  return out;
}

void flush_worker(worker_ctx* w) {
  w->flush_posted = false;
  std::swap(w->dirty, w->flushing);
  const auto& list = w->flushing;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i + 2 < list.size()) list[i + 2]->prefetch_flush();
    if (i + 1 < list.size()) list[i + 1]->prefetch_flush_data();
    list[i]->flush_direct();
  }
  w->flushing.clear();
  if (w->sent_frames) {
    auto& st = *w->stats;
    st.messages_out += std::exchange(w->sent_frames, 0);
    st.bytes_out += std::exchange(w->sent_bytes, 0);
  }
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

session::session(server::impl& S, worker_ctx& w, std::string sid, bool websocket, std::string client_ip,
                 std::string cookies)
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

session::~session() = default;

void session::enqueue(out_frame f) {
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

out_frame session::pop_frame() {
  out_frame f = std::move(outbox_.front());
  outbox_.pop_front();
  outbox_bytes_ -= f.data->size();
  return f;
}

void session::enqueue_shared(const std::shared_ptr<const std::string>& data, std::uint64_t key, std::int64_t ts_us) {
  enqueue(out_frame{data, key, ts_us, false, 0});
}

void session::flush_direct() {
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
  const ssize_t n = ::sendmsg(tcp_->native_handle(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
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
    w_.sent_frames += done;  // flush_worker() adds them to the counters
    w_.sent_bytes += bytes;
  }
  // Not all taken (socket buffer full, more than max_frames, or an error it will meet again).
  if (!outbox_.empty()) {
    wake_writer();
  } else {
    trim_outbox();
  }
}

void session::trim_outbox() {
  if (!outbox_.empty()) return;
  if (outbox_.capacity() > 16)
    outbox_.shrink_to_fit();
  else
    outbox_.clear();  // back to the buffer's start: the next burst's frames go in without moving any
}

void session::wake_writer() {
  if (writer_running_ || !ws_) return;
  writer_running_ = true;
  S_.ws_running++;
  net::co_spawn(w_.exec, ws_writer(), net::detached);
}

void session::send_packet(eio_type t, std::string_view data) {
  std::string s;
  s.reserve(data.size() + 1);
  s += static_cast<char>('0' + static_cast<int>(t));
  s += data;
  enqueue(out_frame{std::make_shared<const std::string>(std::move(s))});
}

void session::send_sio(const sio_packet& p) {
  auto frames = sio_encode(p);
  enqueue(out_frame{std::make_shared<const std::string>("4" + frames.text)});
  for (auto& a : frames.attachments) {
    out_frame f{std::make_shared<const std::string>(std::move(a))};
    f.binary = true;
    enqueue(std::move(f));
  }
}

void session::notify() {
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

void session::close(close_kind kind) {
  if (closed_) return;
  auto self = shared_from_this();
  closed_ = true;
  client_closed_ = kind == close_kind::client;
  release_polling_slot();
  for (auto& [nsp, s] : sockets_) drop_socket(s);
  sockets_.clear();
  if (!websocket_ && (kind == close_kind::graceful || (kind == close_kind::client && !poll_pending_))) {
    // A closed polling session stays findable for a while. Closed by the client with no GET
    // waiting: its GET and its close POST travel on two connections, often handled by two workers,
    // so the poll may reach this session just after the close; it still gets the noop it would
    // have had a moment earlier, and the sweep forgets the session after a second. Closed by the
    // server (a disconnect, a shutdown): a GET takes the queued DISCONNECT packets, and the next
    // one the close packet, for up to ping_timeout (the reference server also sends the close
    // packet only once its buffer has drained: socket.io-client handles a DISCONNECT a tick late,
    // so a close packet in the same answer would win and read as "transport close"). Forgotten at
    // once, a session closed between two polls answered its next GET 400 "Session ID unknown",
    // which the client took for a transport error, and it reconnected.
    lingering_ = true;
    if (kind == close_kind::graceful && !outbox_.empty()) {
      owes_goodbye_ = true;  // a shutdown waits for the next GET to take the DISCONNECT packets
      S_.polling_goodbyes++;
    }
    heartbeat_due_ =
        clock::now() + (kind == close_kind::client ? std::chrono::milliseconds(1000)
                                                   : std::max(std::chrono::milliseconds(1000), S_.opt.ping_timeout));
  } else {
    w_.sessions.erase(sid_);
  }
  (websocket_ ? S_.owner.stats().sessions_websocket : S_.owner.stats().sessions_polling)--;
  poll_wake_.cancel();
  if (kind != close_kind::graceful && ws_) {
    beast::error_code ec;
    ws_->next_layer().close(ec);
  }
  // The writer flushes what is queued (DISCONNECT packets) and performs the close handshake,
  // within ws_close_grace: the session has left the sweep, and a peer that reads nothing (a zero
  // receive window) would otherwise hold the connection, its outbox and its place under the
  // connection caps for as long as it acknowledges TCP's window probes.
  if (kind == close_kind::graceful && websocket_ && ws_) {
    wake_writer();
    net::co_spawn(w_.exec, close_deadline(), net::detached);
  }
}

net::awaitable<void> session::close_deadline() {
  // Holds the session weakly: a session whose close ended in time is gone with its connection's
  // place under the caps, not kept for the grace.
  std::weak_ptr<session> weak = weak_from_this();
  net::steady_timer t(w_.exec);
  t.expires_after(ws_close_grace);
  co_await t.async_wait(use_tuple);
  auto self = weak.lock();
  if (!self) co_return;
  beast::error_code ec;
  ws_->next_layer().close(ec);  // the reader and a writer still waiting end with an error
}

void session::release_polling_slot() {
  if (!polling_slot_) return;
  polling_slot_ = false;
  S_.release_polling_slot(client_ip_);
}

void session::took_goodbye() {
  if (!owes_goodbye_) return;
  owes_goodbye_ = false;
  S_.polling_goodbyes--;
}

void session::forget() {
  took_goodbye();
  if (!lingering_) return;
  lingering_ = false;
  w_.sessions.erase(sid_);
}

void session::heartbeat(clock::time_point now) {
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

net::awaitable<void> session::on_packet(eio_packet p) {
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
      co_await take_message(std::move(p));
      break;
    case eio_type::close:
      // After the messages before it, as they came (one may be in the handler, the inbox empty).
      if (!inbox_running_) {
        close(close_kind::client);
      } else {
        co_await take_message(std::move(p));
      }
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

net::awaitable<void> session::take_message(eio_packet p) {
  // The transport keeps reading while the application handles a message: a handler waits on Redis
  // or PostgreSQL (an ownership check, up to pool_timeout + statement_timeout), and meanwhile the
  // client's pongs must be read and the server's pings go out, or either side declares the other
  // dead. Messages are handled one at a time, in order; a client that sends faster than they are
  // handled is read no further until the inbox has room.
  while (!closed_ && (inbox_.size() >= max_inbox_packets || inbox_bytes_ >= S_.opt.max_payload)) {
    // drain_inbox() wakes the waiter as it takes a message (a second waiter, possible only while a
    // polling session upgrades, checks again every 5 ms).
    net::steady_timer t(w_.exec);
    const bool waker = inbox_room_ == nullptr;
    if (waker) inbox_room_ = &t;
    t.expires_after(waker ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(5));
    co_await t.async_wait(use_tuple);
    if (waker) inbox_room_ = nullptr;
  }
  if (closed_) co_return;
  inbox_bytes_ += p.data.size();
  inbox_.push_back(std::move(p));
  if (inbox_running_) co_return;
  inbox_running_ = true;
  net::co_spawn(w_.exec, drain_inbox(), net::detached);
}

net::awaitable<void> session::drain_inbox() {
  auto self = shared_from_this();
  while (!inbox_.empty() && !closed_) {
    eio_packet p = std::move(inbox_.front());
    inbox_.pop_front();
    inbox_bytes_ -= p.data.size();
    if (inbox_room_) inbox_room_->cancel();
    if (p.type == eio_type::close) {
      close(close_kind::client);
      break;
    }
    co_await on_message(std::move(p));
  }
  inbox_.clear();
  inbox_.shrink_to_fit();
  inbox_bytes_ = 0;
  inbox_running_ = false;
}

net::awaitable<void> session::on_message(eio_packet p) {
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

net::awaitable<void> session::on_connect(sio_packet pk) {
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
  if (!s->token_id.empty()) w_.by_token.emplace(s->token_id, s.get());
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

void session::send_connect_error(const std::string& nsp, const std::string& message) {
  sio_packet e;
  e.type = sio_type::connect_error;
  e.nsp = nsp;
  e.data = json::object();
  e.data["message"] = message;
  send_sio(e);
}

void session::on_disconnect(const std::string& nsp, bool close_if_last) {
  auto it = sockets_.find(nsp);
  if (it == sockets_.end()) return;
  auto s = it->second;
  sockets_.erase(it);
  drop_socket(s);
  if (close_if_last && sockets_.empty()) close(close_kind::graceful);
}

void session::drop_socket(const std::shared_ptr<socket>& s) {
  if (!s->session_) return;
  s->detach_rooms();
  if (!s->token_id.empty()) {
    auto [first, end] = w_.by_token.equal_range(s->token_id);
    for (auto it = first; it != end; ++it)
      if (it->second == s.get()) {
        w_.by_token.erase(it);
        break;
      }
  }
  s->session_ = nullptr;
  S_.owner.stats().sockets--;
  auto app = S_.opt.namespaces.find(s->nsp());
  if (app != S_.opt.namespaces.end()) app->second->on_disconnect(s);
}

void session::disconnect_socket(const std::shared_ptr<socket>& s) {
  sio_packet p;
  p.type = sio_type::disconnect;
  p.nsp = s->nsp();
  send_sio(p);
  on_disconnect(s->nsp(), true);
}

void session::shutdown() {
  auto copy = sockets_;
  for (auto& [nsp, s] : copy) {
    sio_packet p;
    p.type = sio_type::disconnect;
    p.nsp = nsp;
    send_sio(p);
  }
  close(close_kind::graceful);
}

net::awaitable<poll_answer> session::poll_get() {
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
  if (closed_) took_goodbye();
  co_return poll_answer{200, std::move(body)};
}

net::awaitable<poll_answer> session::poll_post(std::string body) {
  auto self = shared_from_this();
  if (websocket_ || upgraded_) co_return error_answer(eio_error::bad_request);
  if (body.size() > S_.opt.max_payload) {
    close(close_kind::force);
    co_return poll_answer{413, eio_error_body(eio_error::bad_request), true, true};
  }
  if (post_pending_) {
    // A POST while another is still being handled (its events wait on Redis or PostgreSQL): the
    // two would interleave, a subscribe and its unsubscribe ending in either order. The reference
    // server refuses it the same way ("data request overlap").
    S_.owner.stats().protocol_errors++;
    close(close_kind::force);
    co_return error_answer(eio_error::bad_request);
  }
  auto packets = eio_decode_payload(body);
  if (!packets) {
    S_.owner.stats().protocol_errors++;
    close(close_kind::force);
    co_return error_answer(eio_error::bad_request);
  }
  struct pending {
    bool& flag;
    explicit pending(bool& f) : flag(f) { flag = true; }
    ~pending() { flag = false; }
  } guard(post_pending_);
  for (auto& p : *packets) {
    co_await on_packet(std::move(p));
    if (closed_) break;
  }
  co_return poll_answer{200, "ok"};
}

net::awaitable<void> session::ws_reader() {
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

net::awaitable<void> session::ws_writer() {
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
    // A close handshake cut short by the timer leaves the TCP connection open, and the reader
    // waiting on it: it ends here either way.
    beast::error_code ec;
    ws_->next_layer().close(ec);
  }
  trim_outbox();
  writer_running_ = false;
  S_.ws_running--;
  // Frames queued while the close handshake ran are dropped with the session; any others go now.
  if (!closed_ && !outbox_.empty()) notify();
}

void session::count_sent(std::size_t frames, std::size_t bytes) {
  auto& st = S_.owner.stats();
  st.messages_out += frames;
  st.bytes_out += bytes;
}

net::awaitable<bool> session::write_one() {
  out_frame f = pop_frame();
  ws_->text(!f.binary);
  auto [ec, n] = co_await ws_->async_write(net::buffer(*f.data), use_tuple);
  if (ec) co_return false;
  count_sent(1, f.data->size());
  if (f.ts_us && S_.owner.on_delivery_lag) S_.owner.on_delivery_lag(static_cast<double>(now_us() - f.ts_us) / 1e6);
  co_return true;
}

net::awaitable<bool> session::write_batch() {
  static constexpr std::size_t batch_bytes = std::size_t{64} * 1024;
  static constexpr std::size_t copy_limit = std::size_t{16} * 1024;  // larger payloads are not copied
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

net::awaitable<void> session::run_ws() {
  auto self = shared_from_this();
  ws_->control_callback([this](websocket::frame_type, beast::string_view) { raw_writes_ = false; });
  co_await ws_reader();
  close(close_kind::force);
  beast::error_code ec;
  ws_->next_layer().close(ec);
  S_.ws_running--;
}

void session::start_ws(std::unique_ptr<ws_stream> ws, std::shared_ptr<void> slot) {
  ws_ = std::move(ws);
  tcp_ = &ws_->next_layer();
  slot_ = std::move(slot);
  S_.ws_running++;
  net::co_spawn(w_.exec, run_ws(), net::detached);
  send_packet(eio_type::open, std::string_view(S_.open_packet(sid_, false)).substr(1));
}

net::awaitable<void> session::upgrade(std::unique_ptr<ws_stream> ws, std::shared_ptr<void> slot) {
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
  tcp_ = &ws_->next_layer();
  slot_ = std::move(slot);
  // From here on the session holds a connection place (slot_): its polling place goes back, or
  // every stock client (polling first, then the upgrade) would count against both caps.
  release_polling_slot();
  // The reader runs in its own coroutine so that this frame (probe buffer, timers) is freed.
  S_.ws_running++;
  net::co_spawn(w_.exec, run_ws(), net::detached);
  if (!outbox_.empty()) notify();  // queued after the pending poll was released
}

}  // namespace zuperior::ws
