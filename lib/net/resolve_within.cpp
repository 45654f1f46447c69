#include "net/resolve_within.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace zuperior::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Shared with the lookup thread, which may outlive its caller.
struct lookup {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  tcp::resolver::results_type results;
  boost::system::error_code ec;
};

// An address literal needs no lookup: resolved here, at once.
bool resolve_literal(const std::string& host, const std::string& port, tcp::resolver::results_type& out,
                     boost::system::error_code& ec) {
  boost::system::error_code lit;
  asio::ip::make_address(host, lit);
  if (lit) return false;
  asio::io_context io;
  tcp::resolver r(io);
  out = r.resolve(host, port, tcp::resolver::numeric_host, ec);
  return true;
}

// Callers asking for a name whose lookup is still running join it: with a resolver that never
// answers, every reconnect attempt would otherwise leave one more thread waiting on it.
std::shared_ptr<lookup> start_lookup(const std::string& host, const std::string& port) {
  struct registry {
    std::mutex mu;
    std::unordered_map<std::string, std::weak_ptr<lookup>> running;  // one entry per name asked for
  };
  static auto* reg = new registry;  // never destroyed: lookup threads may outlive static destruction
  const std::string key = host + '\n' + port;
  std::lock_guard reg_lock(reg->mu);
  auto& slot = reg->running[key];
  if (auto st = slot.lock()) {
    std::lock_guard lock(st->mu);
    if (!st->done) return st;
  }
  auto st = std::make_shared<lookup>();
  slot = st;
  std::thread([st, host, port] {
    asio::io_context io;
    tcp::resolver r(io);
    boost::system::error_code e;
    auto res = r.resolve(host, port, e);
    std::lock_guard lock(st->mu);
    st->results = std::move(res);
    st->ec = e;
    st->done = true;
    st->cv.notify_all();
  }).detach();
  return st;
}

}  // namespace

tcp::resolver::results_type resolve_within(const std::string& host, const std::string& port,
                                           std::chrono::milliseconds timeout, boost::system::error_code& ec) {
  ec = {};
  tcp::resolver::results_type out;
  if (resolve_literal(host, port, out, ec)) return out;
  auto st = start_lookup(host, port);
  std::unique_lock lock(st->mu);
  if (!st->cv.wait_for(lock, timeout, [&] { return st->done; })) {
    ec = asio::error::timed_out;
    return {};
  }
  ec = st->ec;
  return st->results;
}

asio::awaitable<resolve_result> co_resolve_within(std::string host, std::string port,
                                                  std::chrono::milliseconds timeout) {
  resolve_result out;
  if (resolve_literal(host, port, out.results, out.ec)) co_return out;
  auto st = start_lookup(host, port);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    {
      std::lock_guard lock(st->mu);
      if (st->done) {
        out.ec = st->ec;
        out.results = st->results;
        co_return out;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      out.ec = asio::error::timed_out;
      co_return out;
    }
    timer.expires_after(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(10), deadline - now));
    auto [e] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (e) {
      out.ec = e;
      co_return out;
    }
  }
}

}  // namespace zuperior::net
