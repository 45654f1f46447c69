#include "cache/async_client.hpp"

#include <spdlog/spdlog.h>

#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cache/link.hpp"
#include "config/settings.hpp"
#include "core/strings.hpp"
#include "metrics/counter.hpp"
#include "metrics/gauge.hpp"
#include "metrics/histogram.hpp"

namespace zuperior::cache {

namespace asio = boost::asio;
using detail::link;

namespace {

class category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "redis"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::timeout:
        return "Redis command timed out";
      case errc::disconnected:
        return "Redis is not connected";
      case errc::error_reply:
        return "Redis returned an error";
      case errc::stopped:
        return "Redis client stopped";
      case errc::invalid_argument:
        return "invalid Redis command";
    }
    return "unknown Redis error";
  }
};

bool is_command(const std::string& a, std::string_view name) {
  if (a.size() != name.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != name[i]) return false;
  return true;
}

// Commands sent together waiting for their replies. The timer doubles as the completion signal:
// the last reply cancels it; expiry means the deadline passed.
struct pending {
  explicit pending(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  std::chrono::steady_clock::time_point started;
  result first;              // the first command's outcome
  std::vector<result> rest;  // the others' (a pipeline)
  std::size_t remaining = 0;
  bool abandoned = false;
  result& at(std::size_t i) { return i == 0 ? first : rest[i - 1]; }
};

// What hiredis hands back to reply_cb: the batch and which of its commands this reply answers.
struct slot {
  std::shared_ptr<pending> p;
  std::size_t index = 0;
};

void reply_cb(redisAsyncContext* ac, void* r, void* priv) {
  std::unique_ptr<slot> holder(static_cast<slot*>(priv));
  auto& p = *holder->p;
  auto* l = static_cast<link*>(ac->data);
  auto* rep = static_cast<redisReply*>(r);
  auto& st = l->stats();
  st.in_flight.fetch_sub(1, std::memory_order_relaxed);
  if (!l->sent_at.empty()) l->sent_at.pop_front();
  auto& m = l->metrics();
  if (m.in_flight) m.in_flight->dec();
  if (rep) {
    l->last_activity = std::chrono::steady_clock::now();
    // Timed-out commands too, when their reply comes: the slowest ones are the stall itself.
    if (m.latency) m.latency->observe(l->last_activity - p.started);
  }
  if (p.abandoned) return;  // the caller already got errc::timeout
  auto& out = p.at(holder->index);
  if (!rep) {
    out.ec = l->stopped() ? errc::stopped : errc::disconnected;
    st.dropped.fetch_add(1, std::memory_order_relaxed);
    if (m.dropped) m.dropped->inc();
  } else {
    out.value = detail::convert(rep);
    if (rep->type == REDIS_REPLY_ERROR) {
      out.ec = errc::error_reply;
      st.error_replies.fetch_add(1, std::memory_order_relaxed);
      if (m.error_reply) m.error_reply->inc();
      // A failed-over primary turned replica: reconnect, as the seed's reconnectOnError does.
      if (out.value.text.rfind("READONLY", 0) == 0) {
        asio::dispatch(l->executor(), [w = l->weak_from_this()] {
          if (auto s = w.lock()) s->drop("READONLY reply (server is a replica)");
        });
      }
    } else {
      st.ok.fetch_add(1, std::memory_order_relaxed);
      if (m.ok) m.ok->inc();
    }
  }
  if (--p.remaining == 0) p.timer.cancel();
}

// Queues one command on the connection (written when the loop next turns). Not a coroutine: the
// argument vectors live on this stack, not in run_pipeline's frame, and allocate nothing for the
// usual short commands.
bool submit(redisAsyncContext* ac, const std::vector<std::string>& args, slot* holder) {
  constexpr std::size_t inline_args = 16;
  std::array<const char*, inline_args> argv_small;
  std::array<size_t, inline_args> lens_small;
  std::vector<const char*> argv_big;
  std::vector<size_t> lens_big;
  const char** argv = argv_small.data();
  size_t* lens = lens_small.data();
  if (args.size() > inline_args) {
    argv_big.resize(args.size());
    lens_big.resize(args.size());
    argv = argv_big.data();
    lens = lens_big.data();
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lens[i] = args[i].size();
  }
  return redisAsyncCommandArgv(ac, reply_cb, holder, static_cast<int>(args.size()), argv, lens) == REDIS_OK;
}

bool runnable(const std::vector<std::string>& args) {
  return !args.empty() && !is_command(args[0], "SUBSCRIBE") && !is_command(args[0], "PSUBSCRIBE") &&
         !is_command(args[0], "UNSUBSCRIBE") && !is_command(args[0], "PUNSUBSCRIBE") && !is_command(args[0], "MONITOR");
}

// Runs `cmds` (at least one) as one pipeline: written together, answered in order, one deadline.
// Every outcome is in the returned vector, one per command.
asio::awaitable<std::vector<result>> run_pipeline(std::shared_ptr<link> l, std::vector<std::vector<std::string>> cmds,
                                                  std::chrono::milliseconds timeout) {
  auto& st = l->stats();
  auto& m = l->metrics();
  const std::size_t n = cmds.size();
  st.commands.fetch_add(n, std::memory_order_relaxed);
  auto fail_all = [n](errc e) {
    std::vector<result> out(n);
    for (auto& r : out) r.ec = e;
    return out;
  };
  for (const auto& c : cmds)
    if (!runnable(c)) co_return fail_all(errc::invalid_argument);
  if (l->stopped()) co_return fail_all(errc::stopped);
  redisAsyncContext* ac = l->context();
  // Not connected: fail fast, a request that can live without Redis must not wait for a reconnect.
  // Too many commands waiting: Redis answers slower than commands arrive; queueing more only grows
  // this process and Redis' query buffer, and every command would time out anyway.
  if (!ac || l->sent_at.size() + n > l->options().max_in_flight) {
    st.fast_failures.fetch_add(n, std::memory_order_relaxed);
    if (m.disconnected) m.disconnected->inc(n);
    co_return fail_all(errc::disconnected);
  }
  auto p = std::make_shared<pending>(l->executor());
  p->started = std::chrono::steady_clock::now();
  p->rest.resize(n - 1);
  for (std::size_t i = 0; i < n; ++i) {
    auto* holder = new slot{p, i};
    // hiredis refuses only a context being torn down, and nothing runs between these calls: either
    // the first command fails (and so does every one) or none does.
    if (!submit(ac, cmds[i], holder)) {
      delete holder;
      st.fast_failures.fetch_add(n - i, std::memory_order_relaxed);
      if (m.disconnected) m.disconnected->inc(n - i);
      for (std::size_t j = i; j < n; ++j) p->at(j).ec = errc::disconnected;
      break;
    }
    ++p->remaining;
    st.in_flight.fetch_add(1, std::memory_order_relaxed);
    l->sent_at.push_back(p->started);
    if (m.in_flight) m.in_flight->inc();
  }
  if (p->remaining > 0) {
    p->timer.expires_after(timeout);
    boost::system::error_code ec;
    co_await p->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (p->remaining > 0) {
    p->abandoned = true;
    st.timeouts.fetch_add(p->remaining, std::memory_order_relaxed);
    if (m.timeout) m.timeout->inc(p->remaining);
    // Nothing at all came back for a whole deadline: the server or the path to it is stuck. Drop the
    // connection so the other commands fail now and the loop reconnects. Replies that keep coming
    // but for commands sent two deadlines ago mean Redis answers slower than it is asked: a backlog
    // every command behind would time out in too, and whose rate-limit commands would still count
    // late, after the fallback already decided. A new connection drops Redis' queued commands.
    const auto now = std::chrono::steady_clock::now();
    if (l->context() && now - l->last_activity >= timeout)
      l->drop("no reply within the command deadline");
    else if (l->context() && !l->sent_at.empty() && now - l->sent_at.front() >= 2 * timeout)
      l->drop("replies more than two command deadlines behind");
    // A pipeline is answered as a whole: the replies that did come are not handed out either.
    co_return fail_all(errc::timeout);
  }
  std::vector<result> out;
  out.reserve(n);
  out.push_back(std::move(p->first));
  for (auto& r : p->rest) out.push_back(std::move(r));
  co_return out;
}

asio::awaitable<result> run_command(std::shared_ptr<link> l, std::vector<std::string> args,
                                    std::chrono::milliseconds timeout) {
  std::vector<std::vector<std::string>> cmds;
  cmds.push_back(std::move(args));
  auto out = co_await run_pipeline(std::move(l), std::move(cmds), timeout);
  co_return std::move(out.front());
}

}  // namespace

const boost::system::error_category& redis_category() noexcept {
  static const category_impl c;
  return c;
}

boost::system::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), redis_category()}; }

client_options client_options::from(const config::settings& s) {
  client_options o;
  o.url = s.redis_url();
  o.key_prefix = s.redis.key_prefix;
  o.connect_timeout = s.redis.connect_timeout;
  o.command_timeout = s.redis.command_timeout;
  return o;
}

async_client::async_client(asio::any_io_executor ex, client_options opts)
    : ex_(std::move(ex)), opts_(std::move(opts)), stats_(std::make_shared<client_stats>()) {}

std::shared_ptr<async_client> async_client::create(asio::any_io_executor ex, client_options opts) {
  auto ep = detail::parse_endpoint(opts.url);  // throws on a bad URL, before anything runs
  std::shared_ptr<async_client> c(new async_client(ex, std::move(opts)));
  c->link_ = std::make_shared<link>(ex, c->opts_, std::move(ep), c->stats_);
  return c;
}

async_client::~async_client() {
  if (link_) asio::dispatch(ex_, [l = link_] { l->stop(); });
}

void async_client::start() {
  asio::dispatch(ex_, [l = link_] { l->start(); });
}

void async_client::stop() {
  asio::dispatch(ex_, [l = link_] { l->stop(); });
}

asio::awaitable<result> async_client::command(std::vector<std::string> args) {
  return command(std::move(args), opts_.command_timeout);
}

asio::awaitable<result> async_client::command(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  auto here = co_await asio::this_coro::executor;
  // Awaited into a local, never `co_return co_await`: GCC 12 miscompiles that for class types.
  result r;
  if (here == ex_) {
    r = co_await run_command(link_, std::move(args), timeout);
  } else {
    // Called from another loop: run on ours, complete back on the caller's.
    r = co_await asio::co_spawn(ex_, run_command(link_, std::move(args), timeout), asio::use_awaitable);
  }
  co_return r;
}

asio::awaitable<std::vector<result>> async_client::pipeline(std::vector<std::vector<std::string>> commands) {
  return pipeline(std::move(commands), opts_.command_timeout);
}

asio::awaitable<std::vector<result>> async_client::pipeline(std::vector<std::vector<std::string>> commands,
                                                            std::chrono::milliseconds timeout) {
  std::vector<result> r;
  if (commands.empty()) co_return r;
  auto here = co_await asio::this_coro::executor;
  if (here == ex_) {
    r = co_await run_pipeline(link_, std::move(commands), timeout);
  } else {
    r = co_await asio::co_spawn(ex_, run_pipeline(link_, std::move(commands), timeout), asio::use_awaitable);
  }
  co_return r;
}

asio::awaitable<bool> async_client::wait_connected(std::chrono::milliseconds timeout) {
  auto here = co_await asio::this_coro::executor;
  if (here == ex_) co_return co_await link_->wait_ready(timeout);
  co_return co_await asio::co_spawn(ex_, link_->wait_ready(timeout), asio::use_awaitable);
}

bool async_client::connected() const noexcept { return link_->ready(); }

std::string async_client::key(std::string_view k) const {
  std::string out;
  out.reserve(opts_.key_prefix.size() + k.size());
  out += opts_.key_prefix;
  out += k;
  return out;
}

}  // namespace zuperior::cache
