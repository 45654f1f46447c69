#pragma once
// For the command-line tools' one-connection clients (health, ratelimit test): Beast's synchronous
// calls ignore a tcp_stream's deadline, so each step runs asynchronously on the client's own
// io_context instead, and the stream's expiry bounds it.
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <string>

namespace zuperior::net {

/// Starts one asynchronous operation with `start(handler)` and runs `io` until it completes;
/// returns its error code (the handler's first argument).
template <class Start>
boost::system::error_code run_step(boost::asio::io_context& io, Start start) {
  boost::system::error_code ec;
  io.restart();
  start([&ec](boost::system::error_code e, auto&&...) { ec = e; });
  io.run();
  return ec;
}

/// A failed step for an operator: "no answer within N ms" when the stream's deadline ended it, else
/// the error's message.
inline std::string failure_text(const boost::system::error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == boost::beast::error::timeout || ec == boost::asio::error::timed_out)
    return "no answer within " + std::to_string(timeout.count()) + " ms";
  return ec.message();
}

}  // namespace zuperior::net
