#pragma once
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "cache/sync_client.hpp"  // cache::reply, cache::error (create() throws it)

namespace zuperior::config {
struct settings;
}

namespace zuperior::cache {

/// Why a command did not produce a normal reply. Never thrown: returned in result::ec.
enum class errc {
  timeout = 1,       // no reply within the command's deadline
  disconnected,      // not connected (failed fast) or the connection dropped with the command in flight
  error_reply,       // Redis answered with an error; result::value.text holds its message
  stopped,           // the client was stopped
  invalid_argument,  // empty command, or a command this client does not run (SUBSCRIBE, MONITOR, …)
};

/// The error category of cache::errc ("redis").
const boost::system::error_category& redis_category() noexcept;
/// Makes an error_code from a cache::errc.
boost::system::error_code make_error_code(errc e) noexcept;

/// The outcome of one command: ec empty and `value` the reply, or ec set (for errc::error_reply
/// `value` is the error reply, so its text — NOSCRIPT, WRONGTYPE, … — can be inspected).
struct result {
  boost::system::error_code ec;
  reply value;
  /// True when the command succeeded (no error, no error reply).
  explicit operator bool() const noexcept { return !ec; }
};

/// How to reach Redis and how long to wait.
struct client_options {
  std::string url = "redis://127.0.0.1:6379/0";  // redis://[[user]:password@]host:port/db
  std::string key_prefix;                        // prepended by key() and by the cache helpers
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds command_timeout{1'000};
  std::chrono::milliseconds max_backoff{2'000};  // reconnect delay is min(n*50 ms, max_backoff)
  std::string name = "main";                     // label of this client's metrics ("main", "pubsub", …)
  // Commands waiting for their replies on the connection; beyond it a command fails at once (a
  // Redis answering slower than asked only grows both sides). 100,000 commands/s with 100 ms
  // replies keeps 10,000 waiting.
  std::size_t max_in_flight = 50'000;
  bool register_metrics = true;  // count into metrics::default_registry()

  /// The options of the configured Redis (URL, key prefix, timeouts).
  static client_options from(const config::settings& s);
};

/// Counters of one client (relaxed atomics; readable from any thread).
struct client_stats {
  std::atomic<std::uint64_t> commands{0};  // command() calls
  std::atomic<std::uint64_t> ok{0};        // normal replies
  std::atomic<std::uint64_t> error_replies{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> fast_failures{0};  // rejected at once because not connected
  std::atomic<std::uint64_t> dropped{0};        // in flight when the connection went away
  std::atomic<std::uint64_t> connects{0};       // successful (re)connections
  std::atomic<std::uint64_t> connect_failures{0};
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::uint64_t> messages{0};  // pub/sub messages delivered (subscriber only)
};

namespace detail {
class link;
}

/// An asynchronous Redis connection (hiredis driven by Asio) living on one io_context: commands
/// are pipelined on one socket, each with a deadline; the connection is re-established with
/// backoff; while it is down every command fails at once with errc::disconnected.
/// Use one client per io_context; command() may be awaited from any executor but is cheapest
/// from the client's own.
class async_client : public std::enable_shared_from_this<async_client> {
 public:
  /// A client bound to `ex` (not yet connected: call start()).
  static std::shared_ptr<async_client> create(boost::asio::any_io_executor ex, client_options opts);
  ~async_client();
  async_client(const async_client&) = delete;
  async_client& operator=(const async_client&) = delete;

  /// Begins connecting (and reconnecting after failures) in the background; throws on a bad URL.
  void start();
  /// Closes the connection for good; in-flight and later commands fail with errc::stopped. Idempotent.
  void stop();
  /// Runs one command (arguments binary-safe) with the default deadline.
  boost::asio::awaitable<result> command(std::vector<std::string> args);
  /// Runs one command with its own deadline.
  boost::asio::awaitable<result> command(std::vector<std::string> args, std::chrono::milliseconds timeout);
  /// Runs `commands` as one pipeline (written together, one deadline for all): one result per
  /// command, in order. Not connected, or the deadline passed before the last reply: every result
  /// carries the error (a reply that did come is not handed out then).
  boost::asio::awaitable<std::vector<result>> pipeline(std::vector<std::vector<std::string>> commands);
  /// The same with its own deadline.
  boost::asio::awaitable<std::vector<result>> pipeline(std::vector<std::vector<std::string>> commands,
                                                       std::chrono::milliseconds timeout);
  /// Waits until connected (true) or `timeout` passes (false); for startup and tests.
  boost::asio::awaitable<bool> wait_connected(std::chrono::milliseconds timeout);
  /// True while the connection is up and authenticated.
  bool connected() const noexcept;
  /// `key_prefix + k`.
  std::string key(std::string_view k) const;
  /// The configured key prefix.
  const std::string& key_prefix() const noexcept { return opts_.key_prefix; }
  /// This client's counters.
  const client_stats& stats() const noexcept { return *stats_; }
  /// The executor the connection lives on.
  const boost::asio::any_io_executor& get_executor() const noexcept { return ex_; }

 private:
  async_client(boost::asio::any_io_executor ex, client_options opts);
  boost::asio::any_io_executor ex_;
  client_options opts_;
  std::shared_ptr<client_stats> stats_;
  std::shared_ptr<detail::link> link_;
};

}  // namespace zuperior::cache

template <>
struct boost::system::is_error_code_enum<zuperior::cache::errc> : std::true_type {};
