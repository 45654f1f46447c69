#include "cache/link.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <mutex>
#include <unordered_map>

#include "core/url.hpp"
#include "metrics/registry.hpp"
#include "net/resolve_within.hpp"
#include "net/run_step.hpp"

namespace zuperior::cache::detail {

namespace asio = boost::asio;
using namespace std::chrono_literals;

endpoint parse_endpoint(const std::string& url) {
  auto u = core::parse_url(url);
  if (!u || (u->scheme != "redis" && u->scheme != "rediss"))
    throw error("invalid Redis URL (expected redis://host:port/db)");
  if (u->scheme == "rediss") throw error("rediss:// (TLS) is not supported by this build; use a TLS-terminating proxy");
  endpoint ep;
  ep.host = u->host.empty() ? "127.0.0.1" : u->host;
  ep.port = u->port.value_or(6379);
  ep.user = u->user;
  ep.password = u->password;
  ep.has_password = u->has_password && !u->password.empty();
  if (u->path.size() > 1) {
    std::string_view db = std::string_view(u->path).substr(1);
    unsigned n = 0;
    auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), n);
    if (ec != std::errc{} || p != db.data() + db.size()) throw error("invalid Redis database number in URL");
    ep.db = n;
  }
  return ep;
}

reply convert(const redisReply* r) {
  reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.kind = reply::type::string;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.kind = reply::type::status;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.kind = reply::type::error;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.kind = reply::type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = reply::type::array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.kind = reply::type::nil;
  }
  return out;
}

metric_refs register_metrics(const std::string& name) {
  auto& reg = metrics::default_registry();
  auto& cmds =
      reg.add_counter("zuperior_redis_commands_total", "Redis commands by client and outcome.", {"client", "outcome"});
  auto& conns = reg.add_counter("zuperior_redis_connects_total", "Successful Redis (re)connections.", {"client"});
  auto& fails =
      reg.add_counter("zuperior_redis_connect_failures_total", "Failed Redis connection attempts.", {"client"});
  auto& msgs = reg.add_counter("zuperior_redis_messages_total", "Pub/sub messages received.", {"client"});
  auto& up = reg.add_gauge("zuperior_redis_connected", "Redis connections currently up, by client.", {"client"});
  auto& inflight = reg.add_gauge("zuperior_redis_in_flight", "Redis commands awaiting a reply.", {"client"});
  auto& lat =
      reg.add_histogram("zuperior_redis_command_duration_seconds", "Redis command round-trip time.", {"client"});
  metric_refs m;
  m.ok = &cmds.labels({name, "ok"});
  m.error_reply = &cmds.labels({name, "error_reply"});
  m.timeout = &cmds.labels({name, "timeout"});
  m.disconnected = &cmds.labels({name, "disconnected"});
  m.dropped = &cmds.labels({name, "dropped"});
  m.connects = &conns.labels({name});
  m.connect_failures = &fails.labels({name});
  m.messages = &msgs.labels({name});
  m.connected = &up.labels({name});
  m.in_flight = &inflight.labels({name});
  m.latency = &lat.labels({name});
  return m;
}

// The hiredis event hooks on an Asio stream_descriptor: hiredis owns the fd, we only wait for
// readiness and call back into hiredis. Handlers hold a shared_ptr so that a wait completing after
// the context was freed finds `alive == false` instead of freed memory.
struct io_watch : std::enable_shared_from_this<io_watch> {
  io_watch(asio::any_io_executor ex, int fd, redisAsyncContext* c, link* l) : sd(ex, fd), ac(c), owner(l) {}
  ~io_watch() {
    if (sd.is_open()) sd.release();
  }

  asio::posix::stream_descriptor sd;
  redisAsyncContext* ac;
  link* owner;
  bool want_read = false, want_write = false, reading = false, writing = false, alive = true;

  void arm_read() {
    reading = true;
    sd.async_wait(asio::posix::stream_descriptor::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
      self->reading = false;
      if (ec || !self->alive) return;
      if (self->want_read) redisAsyncHandleRead(self->ac);  // may free the context (alive = false)
      if (self->alive && self->want_read && !self->reading) self->arm_read();
    });
  }
  void arm_write() {
    writing = true;
    sd.async_wait(asio::posix::stream_descriptor::wait_write,
                  [self = shared_from_this()](boost::system::error_code ec) {
                    self->writing = false;
                    if (ec || !self->alive) return;
                    if (self->want_write) redisAsyncHandleWrite(self->ac);
                    if (self->alive && self->want_write && !self->writing) self->arm_write();
                  });
  }

  static void add_read(void* p) {
    auto* w = static_cast<io_watch*>(p);
    w->want_read = true;
    if (!w->reading) w->arm_read();
  }
  static void del_read(void* p) { static_cast<io_watch*>(p)->want_read = false; }
  static void add_write(void* p) {
    auto* w = static_cast<io_watch*>(p);
    w->want_write = true;
    if (!w->writing) w->arm_write();
  }
  static void del_write(void* p) { static_cast<io_watch*>(p)->want_write = false; }
  static void cleanup(void* p) {
    auto* w = static_cast<io_watch*>(p);
    w->alive = false;
    w->ac = nullptr;
    boost::system::error_code ec;
    w->sd.cancel(ec);
    w->sd.release();  // hiredis closes the fd itself
    if (w->owner) w->owner->context_gone();
  }
};

namespace {

// State of the AUTH/SELECT/PING exchange that opens every connection.
struct handshake {
  explicit handshake(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  int remaining = 0;
  bool failed = false;
  bool done = false;
  std::string failure;
};

void handshake_cb(redisAsyncContext*, void* r, void* priv) {
  std::unique_ptr<std::shared_ptr<handshake>> holder(static_cast<std::shared_ptr<handshake>*>(priv));
  auto& hs = **holder;
  auto* rep = static_cast<redisReply*>(r);
  if (hs.done) return;
  if (!rep) {
    hs.failed = true;
    if (hs.failure.empty()) hs.failure = "connection closed";
  } else if (rep->type == REDIS_REPLY_ERROR) {
    hs.failed = true;
    hs.failure = std::string(rep->str, rep->len);
  }
  if (hs.failed || --hs.remaining == 0) {
    hs.done = true;
    hs.timer.cancel();
  }
}

bool send_handshake(redisAsyncContext* ac, const std::shared_ptr<handshake>& hs, std::vector<std::string> args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* holder = new std::shared_ptr<handshake>(hs);
  if (redisAsyncCommandArgv(ac, handshake_cb, holder, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
      REDIS_OK) {
    delete holder;
    return false;
  }
  ++hs->remaining;
  return true;
}

}  // namespace

link::link(asio::any_io_executor ex, client_options opts, endpoint ep, std::shared_ptr<client_stats> stats)
    : ex_(ex), opts_(std::move(opts)), ep_(std::move(ep)), stats_(std::move(stats)), wake_(ex) {
  if (opts_.register_metrics) metrics_ = register_metrics(opts_.name);
}

link::~link() {
  if (ac_) {
    if (watch_) watch_->owner = nullptr;
    redisAsyncFree(ac_);
    ac_ = nullptr;
  }
  if (ready() && metrics_.connected) metrics_.connected->dec();
}

void link::start() {
  if (started_) return;
  started_ = true;
  stopped_ = false;
  asio::co_spawn(
      ex_, [self = shared_from_this()]() { return self->run(); }, asio::detached);
}

void link::stop() {
  if (stopped_) return;
  stopped_ = true;
  wake_.cancel();
  if (ac_) {
    auto* ac = ac_;
    redisAsyncFree(ac);  // runs pending callbacks with a null reply, then io_watch::cleanup
  }
}

void link::drop(const char* why) {
  if (!ac_) return;
  spdlog::warn("redis[{}]: closing the connection: {}", opts_.name, why);
  redisAsyncFree(ac_);
}

void link::context_gone() {
  sent_at.clear();
  ac_ = nullptr;
  if (ready()) {
    ready_.store(false, std::memory_order_relaxed);
    if (metrics_.connected) metrics_.connected->dec();
    if (on_down) on_down();
  }
  wake_.cancel();
}

asio::awaitable<bool> link::wait_ready(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer t(ex_);
  while (!ready() && !stopped_ && std::chrono::steady_clock::now() < deadline) {
    t.expires_after(10ms);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return ready();
}

asio::awaitable<bool> link::connect_once(std::string* failure) {
  std::string host = ep_.host;
  if (!core::is_ip_address(host)) {
    // Resolve without blocking the loop (hiredis would call getaddrinfo on this thread), within the
    // connect timeout, and without a lookup thread that the loop's end would have to wait for.
    auto [ec, results] = co_await net::co_resolve_within(host, std::to_string(ep_.port), opts_.connect_timeout);
    if (ec || results.empty()) {
      *failure =
          fmt::format("cannot resolve {}: {}", host, ec ? net::failure_text(ec, opts_.connect_timeout) : "no address");
      co_return false;
    }
    // One address per attempt, the next one each time: a name with an IPv6 and an IPv4 address
    // (localhost, dual-stack DNS) for a server listening on one of them connected never when the
    // first was the other; the health probe, which tries them all, said healthy meanwhile.
    auto it = results.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(next_address_++ % results.size()));
    host = it->endpoint().address().to_string();
  }
  if (stopped_) co_return false;
  redisAsyncContext* ac = redisAsyncConnect(host.c_str(), static_cast<int>(ep_.port));
  if (!ac) {
    *failure = "cannot allocate a Redis context";
    co_return false;
  }
  if (ac->err) {
    *failure = ac->errstr;
    redisAsyncFree(ac);
    co_return false;
  }
  redisEnableKeepAlive(&ac->c);
  watch_ = std::make_shared<io_watch>(ex_, ac->c.fd, ac, this);
  ac->data = this;
  ac->ev.data = watch_.get();
  ac->ev.addRead = io_watch::add_read;
  ac->ev.delRead = io_watch::del_read;
  ac->ev.addWrite = io_watch::add_write;
  ac->ev.delWrite = io_watch::del_write;
  ac->ev.cleanup = io_watch::cleanup;
  ac_ = ac;

  auto hs = std::make_shared<handshake>(ex_);
  bool sent = true;
  if (ep_.has_password) {
    std::vector<std::string> auth{"AUTH"};
    if (!ep_.user.empty()) auth.push_back(ep_.user);
    auth.push_back(ep_.password);
    sent = sent && send_handshake(ac, hs, std::move(auth));
  }
  if (ep_.db != 0) sent = sent && send_handshake(ac, hs, {"SELECT", std::to_string(ep_.db)});
  sent = sent && send_handshake(ac, hs, {"PING"});
  if (sent) {
    hs->timer.expires_after(opts_.connect_timeout);
    boost::system::error_code ec;
    co_await hs->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  } else {
    hs->failed = true;
    hs->failure = "cannot queue the handshake";
  }
  if (!hs->done && !hs->failed) {
    hs->done = true;
    hs->failure = fmt::format("no answer within {} ms", opts_.connect_timeout.count());
    hs->failed = true;
  }
  if (hs->failed || stopped_ || !ac_) {
    *failure = hs->failure.empty() ? "connection closed" : hs->failure;
    if (ac_) redisAsyncFree(ac_);
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> link::run() {
  auto self = shared_from_this();  // the loop keeps the link alive until stop()
  unsigned attempt = 0;
  while (!stopped_) {
    std::string failure;
    bool ok = co_await connect_once(&failure);
    if (stopped_) break;
    if (ok) {
      if (attempt > 0)
        spdlog::info("redis[{}]: connected to {}:{} after {} failed attempt(s)", opts_.name, ep_.host, ep_.port,
                     attempt);
      else
        spdlog::info("redis[{}]: connected to {}:{}", opts_.name, ep_.host, ep_.port);
      attempt = 0;
      ready_.store(true, std::memory_order_relaxed);
      last_activity = std::chrono::steady_clock::now();
      stats_->connects.fetch_add(1, std::memory_order_relaxed);
      if (metrics_.connects) metrics_.connects->inc();
      if (metrics_.connected) metrics_.connected->inc();
      if (on_ready) on_ready(ac_);
      while (ac_ && !stopped_) {
        wake_.expires_at(asio::steady_timer::time_point::max());
        boost::system::error_code ec;
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (stopped_) break;
      spdlog::warn("redis[{}]: connection to {}:{} lost; reconnecting", opts_.name, ep_.host, ep_.port);
    } else {
      stats_->connect_failures.fetch_add(1, std::memory_order_relaxed);
      if (metrics_.connect_failures) metrics_.connect_failures->inc();
      // The first failure of a series at warn, then quieter so a long outage does not flood the log.
      if (attempt == 0 || attempt % 100 == 0)
        spdlog::warn("redis[{}]: cannot connect to {}:{}: {} (retrying)", opts_.name, ep_.host, ep_.port, failure);
      else
        spdlog::debug("redis[{}]: cannot connect to {}:{}: {}", opts_.name, ep_.host, ep_.port, failure);
    }
    ++attempt;
    auto delay = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(50) * std::min(attempt, 1000u),
                                                     opts_.max_backoff);
    wake_.expires_after(delay);
    boost::system::error_code ec;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  started_ = false;
}

}  // namespace zuperior::cache::detail
