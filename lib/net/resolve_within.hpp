#pragma once
// Name resolution under a deadline: getaddrinfo cannot be cancelled, and resolv.conf's own timeouts
// can add up to tens of seconds, longer than any --timeout a health check or a CI step gives. Asio's
// own async_resolve is no way out: its lookup thread is joined when the io_context goes, so a daemon
// stopping during a lookup waits it out.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <string>

namespace zuperior::net {

/// Resolves `host`:`port` within `timeout`. An address literal resolves at once; a name is looked
/// up on a detached thread, and a lookup still running at the deadline gives
/// boost::asio::error::timed_out (the thread finishes on its own; the caller is expected to exit).
boost::asio::ip::tcp::resolver::results_type resolve_within(const std::string& host, const std::string& port,
                                                            std::chrono::milliseconds timeout,
                                                            boost::system::error_code& ec);

struct resolve_result {
  boost::system::error_code ec;
  boost::asio::ip::tcp::resolver::results_type results;
};

/// The same for a coroutine, without blocking its event loop: the lookup runs on a detached thread
/// the coroutine checks on every 10 ms (the thread never touches the loop, which may be gone before
/// the lookup ends). boost::asio::error::timed_out at the deadline; the wait's own error (e.g.
/// operation_aborted) if the coroutine is cancelled.
boost::asio::awaitable<resolve_result> co_resolve_within(std::string host, std::string port,
                                                         std::chrono::milliseconds timeout);

}  // namespace zuperior::net
