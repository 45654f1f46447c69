#include "net/resolve_within.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace zuperior::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

tcp::resolver::results_type resolve_within(const std::string& host, const std::string& port,
                                           std::chrono::milliseconds timeout, boost::system::error_code& ec) {
  ec = {};
  {
    boost::system::error_code lit;
    asio::ip::make_address(host, lit);
    if (!lit) {  // no lookup to wait for
      asio::io_context io;
      tcp::resolver r(io);
      return r.resolve(host, port, tcp::resolver::numeric_host, ec);
    }
  }
  // Shared with the lookup thread, which may outlive this call.
  struct state {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    tcp::resolver::results_type results;
    boost::system::error_code ec;
  };
  auto st = std::make_shared<state>();
  std::thread([st, host, port] {
    asio::io_context io;
    tcp::resolver r(io);
    boost::system::error_code e;
    auto res = r.resolve(host, port, e);
    std::lock_guard lock(st->mu);
    st->results = std::move(res);
    st->ec = e;
    st->done = true;
    st->cv.notify_one();
  }).detach();
  std::unique_lock lock(st->mu);
  if (!st->cv.wait_for(lock, timeout, [&] { return st->done; })) {
    ec = asio::error::timed_out;
    return {};
  }
  ec = st->ec;
  return st->results;
}

}  // namespace zuperior::net
