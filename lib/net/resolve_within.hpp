#pragma once
// Name resolution under a deadline, for the command-line tools (health): getaddrinfo cannot be
// cancelled, and resolv.conf's own timeouts can add up to tens of seconds, longer than any
// --timeout a health check or a CI step gives.
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

}  // namespace zuperior::net
