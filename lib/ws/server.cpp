#include "ws/server.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>
#include <future>
#include <thread>

#include "ws/session.hpp"

namespace zuperior::ws {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

namespace {

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
  const auto w = static_cast<std::size_t>(hi) * 16 + static_cast<std::size_t>(lo);
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

void configure(ws_stream& ws, std::uint64_t max_payload) {
  ws.read_message_max(max_payload);
  ws.auto_fragment(false);
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::seconds(10);
  t.idle_timeout = websocket::stream_base::none();  // Engine.IO heartbeats detect dead peers
  t.keep_alive_pings = false;
  ws.set_option(t);
}

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

// The cookies a new session may authenticate with: none when a browser opened it from a page of
// another site (cors_policy::cookie_allowed); auth.token still works.
std::string session_cookies(const server::impl& S, const http::request& req) {
  if (!S.cors.cookie_allowed(req)) return {};
  return std::string(req[bhttp::field::cookie]);
}

// `slot` keeps the connection counted against the HTTP server's connection caps; the session holds
// it for the WebSocket's whole life. This frame ends once the session runs.
net::awaitable<void> run_new_websocket(server::impl* S, std::size_t worker, tcp::socket sock, http::request req,
                                       std::string client_ip, std::shared_ptr<void> slot) {
  auto ws = std::make_unique<ws_stream>(std::move(sock));
  configure(*ws, S->opt.max_payload);
  auto [ec] = co_await ws->async_accept(req, use_tuple);
  std::string cookies = session_cookies(*S, req);
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

// Queues a worker's copy of a broadcast on the sockets of its rooms (on that worker's thread).
void deliver(worker_ctx* w, const std::vector<server::room_frame>& frames) {
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
    it->second.frames++;
    other.clear();
    // Queuing does not change a room's members (a slow client's disconnect is posted; the size is
    // read each turn all the same). The loop's cost is cache misses on sockets and sessions that
    // went cold since the last burst: each is asked for a few members ahead of its turn.
    const auto& members = it->second.members;
    for (std::size_t i = 0; i < members.size(); ++i) {
      const std::size_t n = members.size();
      if (i + 8 < n) {
        __builtin_prefetch(members[i + 8]);
        __builtin_prefetch(reinterpret_cast<const char*>(members[i + 8]) + 64);
      }
      if (i + 4 < n)
        if (const session* p = members[i + 4]->owner()) p->prefetch_enqueue();
      if (i + 2 < n)
        if (const session* p = members[i + 2]->owner()) p->prefetch_outbox_tail();
      socket* s = members[i];
      if (s->nsp() == "/") {
        s->send_shared(f.frame, f.conflate_key, f.ts_us);
        continue;
      }
      auto o = std::find_if(other.begin(), other.end(), [s](const auto& e) { return e.nsp == s->nsp(); });
      if (o == other.end()) {
        std::uint64_t key = 0;  // 0: never conflated, in every namespace
        if (f.conflate_key) key = (f.conflate_key ^ std::hash<std::string_view>{}(s->nsp())) | 1;
        o = other.insert(other.end(),
                         {s->nsp(), std::make_shared<const std::string>(sio_to_namespace(*f.frame, s->nsp())), key});
      }
      s->send_shared(o->frame, o->key, f.ts_us);
    }
  }
}

}  // namespace

server::server(server_options options, std::vector<net::any_io_executor> workers)
    : impl_(std::make_unique<impl>(*this, std::move(options), std::move(workers))) {}

server::~server() = default;

std::uint64_t server::body_limit() const { return impl_->opt.max_payload; }

void server::release_worker(std::size_t worker) {
  if (worker >= impl_->workers.size()) return;
  auto& w = *impl_->workers[worker];
  w.rooms.clear();
  w.dirty.clear();
  w.flushing.clear();
  w.sessions.clear();
}

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
  // A shutdown refuses new sessions and upgrades; a poll of an existing session still takes the
  // DISCONNECT packets queued for it (refused, the client saw a transport error and reconnected).
  if (S.shutting_down && (is_ws || !has_param(query, "sid")))
    co_return co_await write_answer(stream, req, poll_answer{503, "", false, true}, S.cors);
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
    auto answer = co_await open_polling(&S, worker, info.client_ip, session_cookies(S, req));
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
  auto& workers = impl_->workers;
  if (frames.empty() || workers.empty()) return;
  // Each worker but the last gets its own copies: a frame's reference count is then touched by one
  // thread only.
  for (std::size_t i = 0; i + 1 < workers.size(); ++i) {
    std::vector<room_frame> copy;
    copy.reserve(frames.size());
    for (const auto& f : frames)
      copy.push_back({f.room, std::make_shared<const std::string>(*f.frame), f.conflate_key, f.ts_us});
    net::post(workers[i]->exec, [w = workers[i].get(), copy = std::move(copy)] { deliver(w, copy); });
  }
  net::post(workers.back()->exec, [w = workers.back().get(), frames = std::move(frames)] { deliver(w, frames); });
}

std::vector<std::shared_ptr<socket>> server::sockets_on(std::size_t worker) const {
  std::vector<std::shared_ptr<socket>> out;
  if (worker >= impl_->workers.size()) return out;
  for (const auto& [sid, s] : impl_->workers[worker]->sessions)
    for (const auto& [nsp, sock] : s->sockets()) out.push_back(sock);
  return out;
}

void server::disconnect_token(std::string token_id) {
  if (token_id.empty()) return;
  auto id = std::make_shared<const std::string>(std::move(token_id));
  for (auto& wp : impl_->workers) {
    net::post(wp->exec, [w = wp.get(), id] {
      // Walking every socket cost 1.3 ms of a worker's time per revoked token with 10,000 sockets
      // (tests/bench/realtime.sh, REVOKE): the index makes it a lookup.
      std::vector<std::shared_ptr<socket>> victims;
      auto [first, end] = w->by_token.equal_range(*id);
      for (auto it = first; it != end; ++it) victims.push_back(it->second->shared_from_this());
      for (auto& v : victims) v->disconnect();
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
  // leaves the session counts at once, its writer only when the close handshake is done), and the
  // polling clients to fetch theirs: a live one is between two polls for milliseconds, so their
  // wait is short (a client that left without closing never comes, and would hold the drain).
  for (int i = 0; i < 60 && (impl_->ws_running.load() > 0 || (i < 10 && impl_->polling_goodbyes.load() > 0)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace zuperior::ws
