#pragma once
// Internal to lib/cache: one hiredis asynchronous connection driven by Asio, reconnecting with
// backoff. async_client and subscriber are built on it. Not for use outside lib/cache.
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "cache/async_client.hpp"

namespace zuperior::metrics {
class counter;
class gauge;
class histogram;
}  // namespace zuperior::metrics

namespace zuperior::cache::detail {

/// Where to connect, from a redis:// URL.
struct endpoint {
  std::string host;
  unsigned port = 6379;
  std::string user;
  std::string password;
  bool has_password = false;
  unsigned db = 0;
};

/// Parses redis://[[user]:password@]host[:port][/db]; throws cache::error (message without secrets).
endpoint parse_endpoint(const std::string& url);

/// Copies a hiredis reply into our flattened reply.
reply convert(const redisReply* r);

/// The metric children one client updates (all null when metrics are off).
struct metric_refs {
  metrics::counter* ok = nullptr;
  metrics::counter* error_reply = nullptr;
  metrics::counter* timeout = nullptr;
  metrics::counter* disconnected = nullptr;
  metrics::counter* dropped = nullptr;
  metrics::counter* connects = nullptr;
  metrics::counter* connect_failures = nullptr;
  metrics::counter* messages = nullptr;
  metrics::gauge* connected = nullptr;
  metrics::gauge* in_flight = nullptr;
  metrics::histogram* latency = nullptr;
};

/// Registers (once per name) and returns this client's metric children.
metric_refs register_metrics(const std::string& client_name);

struct io_watch;

/// One Redis connection on one executor. All members are used on that executor only, except ready(),
/// which health checks and metrics read from other threads.
class link : public std::enable_shared_from_this<link> {
 public:
  link(boost::asio::any_io_executor ex, client_options opts, endpoint ep, std::shared_ptr<client_stats> stats);
  ~link();
  link(const link&) = delete;
  link& operator=(const link&) = delete;

  /// Spawns the connect/reconnect loop.
  void start();
  /// Frees the connection (pending callbacks get a null reply) and ends the loop.
  void stop();
  /// Closes the current connection so that the loop reconnects (after backoff).
  void drop(const char* why);
  /// Up, authenticated, selected.
  bool ready() const noexcept { return ready_.load(std::memory_order_relaxed); }
  bool stopped() const noexcept { return stopped_; }
  /// The live context, or nullptr.
  redisAsyncContext* context() const noexcept { return ready() ? ac_ : nullptr; }
  /// Polls ready() until `timeout`.
  boost::asio::awaitable<bool> wait_ready(std::chrono::milliseconds timeout);

  /// Called once the connection is ready (the subscriber subscribes here).
  std::function<void(redisAsyncContext*)> on_ready;
  /// Called when a ready connection goes away.
  std::function<void()> on_down;

  const boost::asio::any_io_executor& executor() const noexcept { return ex_; }
  const client_options& options() const noexcept { return opts_; }
  client_stats& stats() noexcept { return *stats_; }
  metric_refs& metrics() noexcept { return metrics_; }
  /// When a reply last arrived (or the connection was made).
  std::chrono::steady_clock::time_point last_activity;
  /// When each command still awaiting its reply was sent, oldest first (replies come in order; the
  /// request/response client keeps it, the subscriber does not use it).
  std::deque<std::chrono::steady_clock::time_point> sent_at;

  /// io_watch's cleanup hook: the context is being freed.
  void context_gone();

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<bool> connect_once(std::string* failure);

  boost::asio::any_io_executor ex_;
  client_options opts_;
  endpoint ep_;
  std::size_t next_address_ = 0;  // a name's addresses are tried in turn, one per attempt
  std::shared_ptr<client_stats> stats_;
  metric_refs metrics_;
  boost::asio::steady_timer wake_;
  redisAsyncContext* ac_ = nullptr;
  std::shared_ptr<io_watch> watch_;
  std::atomic<bool> ready_{false};  // written on the executor only
  bool stopped_ = false;
  bool started_ = false;
};

}  // namespace zuperior::cache::detail
