#include "http/server.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "core/url.hpp"
#include "http/client_ip.hpp"
#include "http/cors.hpp"
#include "http/error.hpp"
#include "http/framing.hpp"
#include "http/target.hpp"

namespace zuperior::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

using steady = std::chrono::steady_clock;

// Serialises zuperior start-ups on one port. The port check and the SO_REUSEPORT binds after it are
// not one atomic step: two daemons started at the same instant could both pass the check and then
// share the port. The lock is an abstract Unix socket named after the port (bind is atomic, the
// kernel frees it with the process, its namespace is the network namespace's, like the port's). It
// is held for the microseconds of check-and-bind. If it stays taken (a stranger holding the name),
// start goes on unserialised after a few seconds, which is what it did before the lock.
class port_start_lock {
 public:
  explicit port_start_lock(std::uint16_t port) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    auto name = fmt::format("zuperior-start-port-{}", port);
    std::memcpy(a.sun_path + 1, name.data(), name.size());  // sun_path[0] == 0: abstract
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    const auto deadline = steady::now() + std::chrono::seconds(5);
    for (;;) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd_ < 0) return;
      if (::bind(fd_, reinterpret_cast<const sockaddr*>(&a), len) == 0) return;
      const int err = errno;
      ::close(fd_);
      fd_ = -1;
      if (err != EADDRINUSE || steady::now() >= deadline) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~port_start_lock() {
    if (fd_ >= 0) ::close(fd_);
  }
  port_start_lock(const port_start_lock&) = delete;
  port_start_lock& operator=(const port_start_lock&) = delete;

 private:
  int fd_ = -1;
};

struct session_state {
  beast::tcp_stream* stream = nullptr;
  bool idle = true;  // waiting for the next request: safe to close while draining
  // The deadline of the read in progress, enforced by the worker's sweep (cheaper than a timer
  // per read): past it, the sweep cancels the socket and sets timed_out.
  steady::time_point deadline = steady::time_point::max();
  bool timed_out = false;
};

struct mount_point {
  std::string prefix;
  std::shared_ptr<takeover_handler> handler;
};

struct worker {
  std::size_t index = 0;
  // Declared before the io_context: destroying the io_context destroys coroutine frames whose
  // cleanup touches these.
  std::unordered_set<session_state*> sessions;
  std::vector<mount_point> mounts;
  std::size_t rejecting = 0;  // refused connections still being answered (503, lingering close)
  net::io_context ioc{1};
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;
};

}  // namespace

struct server::impl {
  config::server_settings s;
  std::shared_ptr<const router> routes;
  server_hooks hooks;
  proxy_list proxies;
  cors_policy cors;
  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> conns{0};
  std::mutex ip_mu;
  std::unordered_map<std::string, std::uint32_t> per_ip;
  std::uint16_t port = 0;
  std::string host;
  bool started = false;
  // The largest body any route takes (server.max_body_size, or a mount's own limit): what the
  // parser allows until the head says which route the request is for. Set before start().
  std::uint64_t largest_body = 0;
  std::vector<std::unique_ptr<worker>> workers;  // last: destroyed first

  impl(const config::server_settings& settings, std::shared_ptr<const router> r, server_hooks h)
      : s(settings), routes(std::move(r)), hooks(std::move(h)), cors(settings.cors_origins) {
    std::string bad;
    auto p = proxy_list::parse(s.trusted_proxies, &bad);
    if (!p) throw core::command_error("server.trusted_proxies: not an IP address or CIDR: " + core::quote(bad));
    proxies = std::move(*p);
  }

  // Failed accepts (out of descriptors or similar), said in the log at most every 10 s for the
  // whole server with how many there were since: each listener retries every 50 ms, which would
  // otherwise log 20 lines a second per worker for as long as it lasts.
  std::mutex accept_mu;
  std::atomic<std::uint64_t> accept_unreported{0};
  std::chrono::steady_clock::time_point accept_reported{};  // guarded by accept_mu

  void accept_failed(const boost::system::error_code& ec) {
    if (hooks.on_accept_error) hooks.on_accept_error();
    std::lock_guard lock(accept_mu);
    const auto n = accept_unreported.fetch_add(1, std::memory_order_relaxed) + 1;
    const auto now = std::chrono::steady_clock::now();
    if (now - accept_reported < std::chrono::seconds(10)) return;
    if (n == 1)
      spdlog::warn("accept failed: {} (retrying every 50 ms)", ec.message());
    else
      spdlog::warn("accept failed {} times in the last {} s: {} (retrying every 50 ms)", n,
                   std::chrono::duration_cast<std::chrono::seconds>(now - accept_reported).count(), ec.message());
    accept_reported = now;
    accept_unreported.store(0, std::memory_order_relaxed);
  }
  // After an accept succeeds: the failures not yet said, once the 10 s have passed.
  void accept_succeeded() {
    if (accept_unreported.load(std::memory_order_relaxed) == 0) return;  // the usual case: no lock
    std::lock_guard lock(accept_mu);
    const auto now = std::chrono::steady_clock::now();
    const auto n = accept_unreported.load(std::memory_order_relaxed);
    if (n == 0 || now - accept_reported < std::chrono::seconds(10)) return;
    spdlog::warn("accepting again; {} more failed accepts since the last report", n);
    accept_reported = now;
    accept_unreported.store(0, std::memory_order_relaxed);
  }

  void release_ip(const std::string& ip) {
    if (ip.empty()) return;  // not counted per client (a trusted proxy)
    std::lock_guard lock(ip_mu);
    auto it = per_ip.find(ip);
    if (it != per_ip.end() && --it->second == 0) per_ip.erase(it);
  }

  void record(const request_context* ctx, std::string_view method, std::string_view route, unsigned status,
              std::size_t bytes, std::chrono::steady_clock::time_point start, std::string_view rid,
              std::string_view ip) {
    if (!hooks.on_request) return;
    request_record r;
    r.ctx = ctx;
    r.method = method;
    r.route = route;
    r.status = status;
    r.bytes = bytes;
    r.duration = std::chrono::steady_clock::now() - start;
    r.request_id = rid;
    r.client_ip = ip;
    r.identity = ctx ? std::string_view(ctx->identity) : std::string_view{};
    hooks.on_request(r);
  }
};

namespace {

// One accepted connection counted against server.max_connections and max_connections_per_ip.
struct connection_slot {
  server::impl* S;
  std::string client;  // the per-client cap's key: core::client_key of the peer
  connection_slot(server::impl* s, std::string c) : S(s), client(std::move(c)) {}
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;
  ~connection_slot() {
    S->release_ip(client);
    S->conns.fetch_sub(1, std::memory_order_relaxed);
    if (S->hooks.on_connection) S->hooks.on_connection(-1);
  }
};

// A response for a request that never parsed completely: HTTP/1.1, connection closes afterwards.
bhttp::response<bhttp::string_body> early_response(errc e) {
  bhttp::response<bhttp::string_body> res{status_of(e), 11};
  res.set(bhttp::field::content_type, "application/json; charset=utf-8");
  res.keep_alive(false);
  res.body() = error_body(default_message(e));
  res.prepare_payload();
  return res;
}

// After an error answer the client may still be sending; reading a little before closing avoids a
// reset that would destroy the answer in flight.
net::awaitable<void> lingering_close(beast::tcp_stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  char sink[8192];
  std::size_t total = 0;
  stream.expires_after(std::chrono::milliseconds(500));
  while (total < (1u << 20)) {
    auto [rec, n] = co_await stream.async_read_some(net::buffer(sink), use_tuple);
    if (rec) break;
    total += n;
  }
  stream.socket().close(ec);
}

// Refused connections a worker answers at once (503 and a lingering close of up to 1.5 s); past
// these it closes them without a word, so a client over its cap cannot hold descriptors at will.
constexpr std::size_t max_rejecting = 64;

net::awaitable<void> reject_connection(tcp::socket sock, std::size_t& rejecting) {
  struct done {
    std::size_t& n;
    ~done() { --n; }
  } guard{rejecting};
  beast::tcp_stream stream(std::move(sock));
  auto res = early_response(errc::unavailable);
  res.set(bhttp::field::retry_after, "1");
  stream.expires_after(std::chrono::seconds(1));
  co_await bhttp::async_write(stream, res, use_tuple);
  co_await lingering_close(stream);
}

// Reads by the sessions carry a deadline instead of a timer each; this loop, one per worker,
// cancels the reads past theirs. Its period bounds how late a timeout fires (an eighth of the
// shortest timeout, 10-250 ms).
net::awaitable<void> sweep_loop(server::impl& S, worker& w) {
  auto shortest = std::min({S.s.header_timeout, S.s.idle_timeout, S.s.request_timeout});
  auto period =
      std::clamp<steady::duration>(shortest / 8, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
  net::steady_timer tick(w.ioc);
  for (;;) {
    tick.expires_after(period);
    auto [ec] = co_await tick.async_wait(use_tuple);
    if (ec) co_return;
    auto now = steady::now();
    for (auto* st : w.sessions)
      if (st->deadline <= now) {
        st->deadline = steady::time_point::max();
        st->timed_out = true;
        beast::error_code cec;
        st->stream->socket().cancel(cec);
      }
  }
}

// The method as request records (metrics labels, access log) carry it: one Beast does not know is
// "OTHER". Any token is a valid method, so labelling by the raw text let a client add a metrics
// series (kilobytes each, kept forever, repeated in every /metrics answer) per request.
std::string_view record_method(const request& req) {
  return req.method() == verb::unknown ? std::string_view("OTHER") : std::string_view(req.method_string());
}

std::string_view route_or_dash(std::string_view r) { return r.empty() ? std::string_view("-") : r; }

// Sends as much of `data` as the socket takes right now, without blocking and without an
// asynchronous operation (no timer, no completion handler): a small answer usually fits at once.
std::size_t send_now(beast::tcp_stream& stream, std::string_view data, beast::error_code& ec) {
  std::size_t done = 0;
  int fd = stream.socket().native_handle();
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ec.assign(errno, boost::system::system_category());
    break;
  }
  return done;
}

// The values of a field's lines as one comma-separated list, in order (RFC 9110 5.3).
template <class It>
std::string field_list(It first, It end) {
  std::string list;
  for (auto it = first; it != end; ++it) {
    if (!list.empty()) list += ',';
    list.append(it->value().data(), it->value().size());
  }
  return list;
}

// The request's id (a valid client X-Request-Id or a fresh one) and the client address.
// The request id, the client's address, and whether that address is known to be the client's:
// not when the request came forwarded (X-Forwarded-For, Forwarded) and the chain did not give it
// (an untrusted peer, or a hop that does not parse: `ip` is then a proxy's or a NAT's).
void identify(const server::impl& S, const request& req, const std::string& peer, std::string& rid, std::string& ip,
              bool& address_known) {
  if (auto it = req.find("X-Request-Id"); it != req.end() && valid_request_id(it->value()))
    rid.assign(it->value().data(), it->value().size());
  else
    rid = new_request_id();
  ip = peer;
  address_known = true;
  // Several X-Forwarded-For lines are one list, in order (RFC 9110 5.3): a proxy that adds its own
  // line (HAProxy's `option forwardfor`) puts it last, after any the client sent, and the client's
  // must not be taken for it.
  auto [first, end] = req.equal_range("X-Forwarded-For");
  if (first == end) {
    address_known = req.find(bhttp::field::forwarded) == req.end();
    return;
  }
  // Known when a trusted proxy named the client: also when that is the proxy's own address (nginx
  // on 127.0.0.1 forwarding a local agent), which `ip != peer` took for unknown.
  bool from_header = false;
  if (!S.proxies.empty()) {
    if (std::next(first) == end)
      ip = client_ip(peer, first->value(), S.proxies, &from_header);  // the usual case: no copy
    else
      ip = client_ip(peer, field_list(first, end), S.proxies, &from_header);
  }
  address_known = from_header;
}

const mount_point* find_mount(const worker& w, std::string_view path) {
  for (const auto& m : w.mounts) {
    bool under = path.substr(0, m.prefix.size()) == m.prefix ||
                 (m.prefix.size() > 1 && m.prefix.back() == '/' &&
                  path == std::string_view(m.prefix).substr(0, m.prefix.size() - 1));
    if (under) return &m;
  }
  return nullptr;
}

// Hands a request under a mounted prefix to its takeover handler; true to keep serving HTTP.
net::awaitable<bool> takeover(server::impl& S, worker& w, const mount_point& m, beast::tcp_stream& stream,
                              beast::flat_buffer& buffer, request req, std::string rid, std::string ip,
                              std::chrono::steady_clock::time_point start,
                              const std::shared_ptr<connection_slot>& slot) {
  connection_info info{ip, rid, w.index, slot};
  std::string method_s(record_method(req));
  S.in_flight.fetch_add(1, std::memory_order_relaxed);
  if (S.hooks.on_in_flight) S.hooks.on_in_flight(1);
  bool keep = false;
  try {
    keep = co_await m.handler->handle(stream, buffer, std::move(req), info);
  } catch (const std::exception& e) {
    spdlog::error("[{}] takeover handler for {} failed: {}", rid, m.prefix, core::error_text(e));
    keep = false;
  }
  S.in_flight.fetch_sub(1, std::memory_order_relaxed);
  if (S.hooks.on_in_flight) S.hooks.on_in_flight(-1);
  S.record(nullptr, method_s, m.prefix, 0, 0, start, rid, ip);
  co_return keep && !S.draining.load(std::memory_order_relaxed);
}

// The answer when no route handler runs (preflight, 404, 405); nullptr `found` when one should.
response answer_without_handler(const server::impl& S, const request& req, std::string_view path, request_context& ctx,
                                const handler*& found) {
  found = nullptr;
  if (cors_policy::is_preflight(req)) {
    ctx.route = "preflight";
    return S.cors.preflight(req);
  }
  if (path.empty() || path.front() != '/') {
    // Not origin-form once absolute-form was reduced to its path: `OPTIONS *` asks about the server
    // as a whole (RFC 9110 9.3.7); anything else (CONNECT's host:port, `*` with another method) is
    // not a request this server can serve.
    if (path == "*" && req.method() == verb::options) {
      ctx.route = "*";
      response res{bhttp::status::no_content, req.version()};
      res.set(bhttp::field::allow, "GET, HEAD, POST, OPTIONS");
      return res;
    }
    // Closed after the answer: a client that sent CONNECT may go on with tunnel bytes, not HTTP.
    auto res = error_response(req, errc::bad_request, "The request target must be a path");
    res.keep_alive(false);
    return res;
  }
  auto m = S.routes->find(req.method(), path);
  ctx.route = m.route;
  if (m.found) {
    found = m.found;
    return {};
  }
  if (m.path_known) {
    auto res = error_response(req, errc::method_not_allowed, "");
    res.set(bhttp::field::allow, m.allow);
    return res;
  }
  return error_response(req, errc::not_found, "");
}

// The most a session reads from its socket at once.
constexpr std::size_t read_chunk = 65536;
// The buffer's bound while a body is read: what a chunk-size line or the trailer section may take.
constexpr std::size_t body_buffer_max = 63 * 1024;

errc parse_error_kind(const beast::error_code& ec) {
  if (ec == bhttp::error::header_limit) return errc::header_too_large;
  if (ec == bhttp::error::body_limit) return errc::payload_too_large;
  return errc::bad_request;
}

bool is_quiet_end(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == net::error::operation_aborted ||
         ec == beast::error::timeout || ec == net::error::connection_reset || ec == net::error::bad_descriptor ||
         ec == bhttp::error::partial_message;
}

net::awaitable<void> session(server::impl& S, worker& w, tcp::socket sock, std::string peer, std::string client) {
  beast::tcp_stream stream(std::move(sock));
  // Bounded: a request's head must fit in max_header_size, and what a body leaves in the buffer
  // between reads is one read's worth. Unbounded, a chunk-size line that never ends (an endless
  // chunk extension) or a trailer section that never ends grew it without limit (Beast limits
  // neither); now the read fails with buffer_overflow, answered 400.
  beast::flat_buffer buffer(static_cast<std::size_t>(std::min<std::uint64_t>(S.s.max_header_size, UINT32_MAX)) +
                            read_chunk);
  std::string out;  // the answer's wire form, reused across keep-alive requests
  session_state st{&stream};
  w.sessions.insert(&st);
  struct cleanup {
    worker& w;
    session_state* st;
    ~cleanup() { w.sessions.erase(st); }
  } guard{w, &st};
  // The connection's place under the caps: released when the last holder lets go (this session,
  // or the WebSocket that took the socket over).
  auto slot = std::make_shared<connection_slot>(&S, std::move(client));

  bool first = true;
  bool lingering = false;
  try {
    for (;;) {
      if (S.draining.load(std::memory_order_relaxed) && !first && buffer.size() == 0) break;
      st.idle = true;
      if (buffer.size() == 0) {
        // Waiting for a request to begin: the idle timeout between keep-alive requests, the header
        // timeout for a fresh connection that has not said anything yet.
        // On the raw socket under the sweep's deadline (no timer per read); a read the sweep
        // cancelled is a timeout.
        st.deadline = steady::now() + (first ? S.s.header_timeout : S.s.idle_timeout);
        st.timed_out = false;
        auto [ec, n] = co_await stream.socket().async_read_some(buffer.prepare(4096), use_tuple);
        st.deadline = steady::time_point::max();
        if (ec == net::error::operation_aborted && st.timed_out) ec = beast::error::timeout;
        if (ec) break;
        buffer.commit(n);
      }
      st.idle = false;
      first = false;
      auto start = std::chrono::steady_clock::now();
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(std::min<std::uint64_t>(S.s.max_header_size, UINT32_MAX)));
      parser.body_limit(std::max<std::uint64_t>(S.s.max_body_size, S.largest_body));
      // The header: whatever is buffered goes to the parser synchronously; reading only when it
      // needs more (beast's async_read_header would be a second asynchronous operation even for a
      // request that arrived whole). End of stream and partial messages as Beast reports them.
      beast::error_code ec;
      bool armed = false;
      steady::time_point header_deadline;
      for (;;) {
        if (buffer.size() > 0) {
          std::size_t used = 0;
          try {
            used = parser.put(buffer.data(), ec);
          } catch (const std::length_error&) {
            // Beast keeps a field's name and value in 16 bits: a longer one (server.max_header_size
            // allows up to 1 MiB) is too large a header, not a broken connection.
            ec = bhttp::error::header_limit;
            break;
          }
          buffer.consume(used);
          if (ec == bhttp::error::need_more)
            ec = {};
          else if (ec || parser.is_header_done())
            break;
        }
        if (!armed) {
          header_deadline = steady::now() + S.s.header_timeout;
          armed = true;
        }
        st.deadline = header_deadline;
        auto size = beast::read_size(buffer, read_chunk);
        if (size == 0) {
          ec = bhttp::error::buffer_overflow;
          break;
        }
        st.timed_out = false;
        auto [rec, n] = co_await stream.socket().async_read_some(buffer.prepare(size), use_tuple);
        st.deadline = steady::time_point::max();
        if (rec == net::error::operation_aborted && st.timed_out) rec = beast::error::timeout;
        buffer.commit(n);
        if (rec == net::error::eof) {
          if (parser.got_some())
            parser.put_eof(ec);  // partial_message: the header is incomplete
          else
            ec = bhttp::error::end_of_stream;
          break;
        }
        if (rec) {
          ec = rec;
          break;
        }
      }
      // RFC 9112 6.1: chunked is the only transfer coding decoded here, and it must come last. A
      // body of unknown length ("identity", or chunked not last) is a 400 and a close before any
      // of it is read: the bytes could otherwise be taken for the next request (the smuggling
      // pattern, when a proxy in front frames them differently). A coding before chunked (gzip)
      // is a 501, and an HTTP/1.0 request with any Transfer-Encoding has faulty framing (400).
      std::optional<errc> framing;
      const mount_point* mounted = nullptr;  // the request's mount, found once its head is read
      if (!ec) {
        const auto& h = parser.get();
        // The route's own body limit, now that the head names the route: a mounted handler may
        // take bodies of its own size (the real-time layer: max_payload). A declared length over
        // it is refused before any of the body is read; a chunked body meets it as it arrives.
        std::uint64_t limit = S.s.max_body_size;
        const std::string_view t = origin_form(std::string_view(h.target().data(), h.target().size()));
        mounted = find_mount(w, t.substr(0, t.find('?')));
        if (mounted)
          if (const auto own = mounted->handler->body_limit()) limit = own;
        parser.body_limit(limit);
        if (const auto length = parser.content_length(); length && *length > limit) ec = bhttp::error::body_limit;
        if (auto [first_te, end_te] = h.equal_range(bhttp::field::transfer_encoding); first_te != end_te) {
          auto kind = classify_transfer_encoding(field_list(first_te, end_te));
          if (h.version() < 11 || kind == transfer_coding::bad)
            framing = errc::bad_request;
          else if (kind == transfer_coding::unsupported)
            framing = errc::not_implemented;
          if (framing) ec = bhttp::error::bad_transfer_encoding;
        }
      }
      if (!ec && !parser.is_done()) {
        auto expect = parser.get()[bhttp::field::expect];
        // Never to an HTTP/1.0 client, which may take the interim line for the answer (RFC 9110 10.1.1).
        if (parser.get().version() >= 11 && core::iequals(expect, "100-continue")) {
          static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
          auto [wec, wn] = co_await net::async_write(stream, net::buffer(cont.data(), cont.size()), use_tuple);
          if (wec) break;
        }
        // The body, on the raw socket under the sweep's deadline like the head: a body that misses
        // request_timeout then leaves the socket open for the 408 below (beast::tcp_stream's own
        // timeout would have closed it).
        st.deadline = steady::now() + S.s.request_timeout;
        st.timed_out = false;
        // A trailer field longer than Beast can hold (64 KiB) throws from inside the read, out of
        // the worker's run(). During the body the buffer stays under that, so such a trailer
        // section (or a chunk-size line as long) is a buffer_overflow: 400.
        const std::size_t head_cap = buffer.max_size();
        buffer.max_size(std::max<std::size_t>(buffer.size(), body_buffer_max));
        auto [rec, rn] = co_await bhttp::async_read(stream.socket(), buffer, parser, use_tuple);
        buffer.max_size(head_cap);
        st.deadline = steady::time_point::max();
        if (rec == net::error::operation_aborted && st.timed_out) rec = beast::error::timeout;
        ec = rec;
      }
      // RFC 9112 3.2: an HTTP/1.1 request without exactly one Host field is answered 400.
      if (!ec && parser.get().version() >= 11 && parser.get().count(bhttp::field::host) != 1)
        ec = bhttp::error::bad_field;
      if (ec) {
        // A request that began and then stopped gets an answer: 408 when its head was not complete
        // by header_timeout or its body by request_timeout, 400 when the client closed its side
        // mid-request (an incomplete message is not a timeout). A connection that never started a
        // request just closes.
        const bool began = parser.got_some();
        const bool answer = began && (ec == beast::error::timeout || ec == bhttp::error::partial_message);
        if (is_quiet_end(ec) && !answer) break;
        errc kind = framing                               ? *framing
                    : ec == beast::error::timeout         ? errc::request_timeout
                    : ec == bhttp::error::partial_message ? errc::bad_request
                                                          : parse_error_kind(ec);
        auto res = early_response(kind);
        // A browser shows an answer without CORS headers as a CORS failure, not as the 413 or 408.
        if (parser.is_header_done()) S.cors.decorate(parser.get(), res);
        auto rid = new_request_id();
        res.set("X-Request-Id", rid);
        stream.expires_after(std::chrono::seconds(5));
        co_await bhttp::async_write(stream, res, use_tuple);
        S.record(nullptr, "-", "-", res.result_int(), res.body().size(), start, rid, peer);
        spdlog::debug("[{}] {}: {} from {}", rid, res.result_int(), ec.message(), peer);
        lingering = true;
        break;
      }
      // Dispatch, inline: this coroutine's frame lives as long as the connection, so a request
      // allocates no frame of its own beyond its route handler's.
      request req = parser.release();
      std::string rid, ip;
      bool address_known = true;
      identify(S, req, peer, rid, ip, address_known);
      std::string_view target = origin_form(std::string_view(req.target().data(), req.target().size()));
      std::string_view path = target, query;
      if (auto q = target.find('?'); q != std::string_view::npos) {
        path = target.substr(0, q);
        query = target.substr(q + 1);
      }
      if (mounted) {
        bool keep = co_await takeover(S, w, *mounted, stream, buffer, std::move(req), std::move(rid), std::move(ip),
                                      start, slot);
        if (!keep) {
          lingering = stream.socket().is_open();
          break;
        }
        continue;
      }
      S.in_flight.fetch_add(1, std::memory_order_relaxed);
      if (S.hooks.on_in_flight) S.hooks.on_in_flight(1);
      request_context ctx{req, path, query, std::move(ip), std::move(rid), w.index, w.ioc.get_executor(), start,
                          {},  {},   {}};
      ctx.address_known = address_known;
      ctx.identity = "ip:" + ctx.client_ip;
      const handler* found = nullptr;
      response res = answer_without_handler(S, req, path, ctx, found);
      if (found) {
        try {
          res = co_await (*found)(ctx);
        } catch (const std::exception& e) {
          spdlog::error("[{}] {} {} failed: {}", ctx.request_id, std::string_view(req.method_string()), ctx.route,
                        core::error_text(e));
          res = error_response(req, errc::internal, "");
        }
      }
      S.cors.decorate(req, res);
      bool keep = req.keep_alive() && res.keep_alive() && !S.draining.load(std::memory_order_relaxed);
      std::size_t bytes = res.body().size();
      out.clear();
      serialize_response(out, res, ctx.request_id, keep, req.method() == verb::head);
      beast::error_code wec;
      std::size_t sent = send_now(stream, out, wec);
      if (!wec && sent < out.size()) {
        stream.expires_after(S.s.request_timeout);
        auto [aec, an] =
            co_await net::async_write(stream, net::buffer(out.data() + sent, out.size() - sent), use_tuple);
        wec = aec;
      }
      if (out.capacity() > 65536) std::string().swap(out);  // a large answer does not pin its memory
      S.in_flight.fetch_sub(1, std::memory_order_relaxed);
      if (S.hooks.on_in_flight) S.hooks.on_in_flight(-1);
      S.record(&ctx, record_method(req), route_or_dash(ctx.route), res.result_int(), bytes, start, ctx.request_id,
               ctx.client_ip);
      if (wec || !keep) {
        lingering = stream.socket().is_open();
        break;
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("connection from {} failed: {}", peer, core::error_text(e));
  }
  if (lingering && stream.socket().is_open()) {
    co_await lingering_close(stream);
  } else {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.socket().close(ec);
  }
}

void refuse(worker& w, tcp::socket sock) {
  if (w.rejecting >= max_rejecting) {
    beast::error_code ec;
    sock.close(ec);
    return;
  }
  ++w.rejecting;
  net::co_spawn(w.ioc, reject_connection(std::move(sock), w.rejecting), net::detached);
}

net::awaitable<void> accept_loop(server::impl& S, worker& w) {
  net::steady_timer backoff(w.ioc);
  for (;;) {
    auto [ec, sock] = co_await w.acceptor->async_accept(use_tuple);
    if (ec) {
      if (ec == net::error::operation_aborted || !w.acceptor->is_open()) co_return;
      // Out of descriptors or similar: pause instead of spinning.
      S.accept_failed(ec);
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    S.accept_succeeded();
    beast::error_code oec;
    sock.set_option(tcp::no_delay(true), oec);
    auto ep = sock.remote_endpoint(oec);
    if (oec) continue;
    auto addr = ep.address();
    if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = net::ip::make_address_v4(net::ip::v4_mapped, addr.to_v6());
    std::string peer = addr.to_string();
    if (S.conns.load(std::memory_order_relaxed) >= S.s.max_connections) {
      if (S.hooks.on_rejected) S.hooks.on_rejected(false);
      refuse(w, std::move(sock));
      continue;
    }
    // What the per-client cap counts. A trusted proxy's connections carry many clients it cannot
    // tell apart here (their addresses come with each request): counted as one client, 2,000 users
    // behind one nginx filled the cap and the next were refused. Only the total cap applies to a
    // trusted proxy; it limits its own clients (configs/nginx.conf, limit_conn).
    std::string client;
    if (!S.proxies.contains(peer)) {
      client = core::client_key(peer, S.s.ipv6_prefix);
      std::unique_lock lock(S.ip_mu);
      auto& n = S.per_ip[client];
      if (n >= S.s.max_connections_per_ip) {
        lock.unlock();
        if (S.hooks.on_rejected) S.hooks.on_rejected(true);
        refuse(w, std::move(sock));
        continue;
      }
      ++n;
    }
    S.conns.fetch_add(1, std::memory_order_relaxed);
    if (S.hooks.on_connection) S.hooks.on_connection(1);
    net::co_spawn(w.ioc, session(S, w, std::move(sock), std::move(peer), std::move(client)), net::detached);
  }
}

net::ip::address resolve_host(const std::string& host) {
  beast::error_code ec;
  auto a = net::ip::make_address(host, ec);
  if (!ec) return a;
  net::io_context ioc;
  tcp::resolver r(ioc);
  auto results = r.resolve(host, "0", ec);
  if (ec || results.empty())
    throw core::command_error(fmt::format("server.host: cannot resolve {}: {}", core::quote(host), ec.message()));
  return results.begin()->endpoint().address();
}

}  // namespace

server::server(const config::server_settings& settings, std::shared_ptr<const router> routes, server_hooks hooks)
    : impl_(std::make_unique<impl>(settings, std::move(routes), std::move(hooks))) {
  // At most 256, as server.workers allows: a real-time session id names its worker in two hex
  // digits (one per core on a 512-thread host had workers whose sessions nobody could find).
  unsigned n = settings.workers ? settings.workers : std::clamp(std::thread::hardware_concurrency(), 1u, 256u);
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<worker>();
    w->index = i;
    w->work.emplace(w->ioc.get_executor());
    impl_->workers.push_back(std::move(w));
  }
}

server::~server() {
  stop();
  // A handler mounted on every worker (the real-time server) holds objects bound to each worker's
  // io_context: it lets go of worker i's before that io_context goes, not when the last worker's
  // mount releases the handler, after the others' io_contexts are gone.
  for (auto& w : impl_->workers) {
    for (auto& m : w->mounts) m.handler->release_worker(w->index);
    w.reset();
  }
}

void server::mount(const std::string& prefix, const std::shared_ptr<takeover_handler>& handler) {
  impl_->largest_body = std::max(impl_->largest_body, handler->body_limit());
  for (auto& w : impl_->workers) w->mounts.push_back({prefix, handler});
}

void server::mount(const std::string& prefix,
                   const std::function<std::shared_ptr<takeover_handler>(std::size_t)>& factory) {
  for (auto& w : impl_->workers) {
    w->mounts.push_back({prefix, factory(w->index)});
    impl_->largest_body = std::max(impl_->largest_body, w->mounts.back().handler->body_limit());
  }
}

std::size_t server::worker_count() const noexcept { return impl_->workers.size(); }

std::vector<boost::asio::any_io_executor> server::worker_executors() const {
  std::vector<boost::asio::any_io_executor> out;
  for (auto& w : impl_->workers) out.emplace_back(w->ioc.get_executor());
  return out;
}

void server::start() {
  auto& S = *impl_;
  auto addr = resolve_host(S.s.host);
  std::uint16_t port = S.s.port;
  std::optional<port_start_lock> lock;
  if (port != 0 && S.workers.size() > 1) {
    lock.emplace(port);
    // With SO_REUSEPORT (an accept queue per worker) a second daemon started on this port would
    // join the first one's group and quietly take part of its traffic. A plain bind first refuses a
    // port that something already listens on.
    beast::error_code ec;
    tcp::acceptor probe(S.workers.front()->ioc);
    tcp::endpoint ep(addr, port);
    probe.open(ep.protocol(), ec);
    if (!ec) probe.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) probe.bind(ep, ec);
    if (ec) throw core::command_error(fmt::format("cannot listen on {}:{}: {}", S.s.host, port, ec.message()));
  }
  for (auto& w : S.workers) {
    beast::error_code ec;
    tcp::endpoint ep(addr, port);
    w->acceptor.emplace(w->ioc);
    w->acceptor->open(ep.protocol(), ec);
    if (!ec) w->acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec && S.workers.size() > 1) w->acceptor->set_option(reuse_port(true), ec);
    if (!ec) w->acceptor->bind(ep, ec);
    if (!ec) w->acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) throw core::command_error(fmt::format("cannot listen on {}:{}: {}", S.s.host, port, ec.message()));
    port = w->acceptor->local_endpoint().port();  // the others share the ephemeral port chosen first
  }
  S.port = port;
  S.host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  for (auto& w : S.workers) {
    net::co_spawn(w->ioc, accept_loop(S, *w), net::detached);
    net::co_spawn(w->ioc, sweep_loop(S, *w), net::detached);
    worker* wp = w.get();
    w->thread = std::thread([wp] {
      // Named for top -H, perf and gdb (at most 15 characters).
      pthread_setname_np(pthread_self(), ("http-w" + std::to_string(wp->index)).substr(0, 15).c_str());
      for (;;) {
        try {
          wp->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("worker {}: {}", wp->index, core::error_text(e));
        }
      }
    });
  }
  S.started = true;
}

std::uint16_t server::port() const noexcept { return impl_->port; }

std::string server::local_address() const { return fmt::format("{}:{}", impl_->host, impl_->port); }

void server::stop_accepting() {
  for (auto& w : impl_->workers) {
    worker* wp = w.get();
    net::post(wp->ioc, [wp] {
      beast::error_code ec;
      if (wp->acceptor) wp->acceptor->close(ec);
    });
  }
}

void server::begin_drain() {
  impl_->draining = true;
  for (auto& w : impl_->workers) {
    worker* wp = w.get();
    net::post(wp->ioc, [wp] {
      for (auto* st : wp->sessions)
        if (st->idle) {
          beast::error_code ec;
          st->stream->socket().cancel(ec);
        }
    });
  }
}

bool server::draining() const noexcept { return impl_->draining.load(); }

std::uint64_t server::in_flight() const noexcept { return impl_->in_flight.load(); }

std::uint64_t server::connections() const noexcept { return impl_->conns.load(); }

void server::stop() {
  for (auto& w : impl_->workers) {
    w->work.reset();
    w->ioc.stop();
  }
  for (auto& w : impl_->workers)
    if (w->thread.joinable()) w->thread.join();
}

}  // namespace zuperior::http
