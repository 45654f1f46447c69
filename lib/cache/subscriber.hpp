#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/async_client.hpp"

namespace zuperior::cache {

namespace detail {
struct sub_state;
}

/// A pub/sub connection (separate from the command client): delivers messages of subscribed
/// channels and patterns to callbacks on its io_context, and subscribes again after a reconnect.
/// Publish through async_client::command({"PUBLISH", channel, payload}).
class subscriber : public std::enable_shared_from_this<subscriber> {
 public:
  /// Called for each message: the channel it was published on and its payload. Runs on the
  /// subscriber's loop; must not block.
  using handler = std::function<void(std::string_view channel, std::string_view payload)>;

  /// A subscriber bound to `ex` (call start()). Channel names are used as given (no key prefix).
  static std::shared_ptr<subscriber> create(boost::asio::any_io_executor ex, client_options opts);
  ~subscriber();
  subscriber(const subscriber&) = delete;
  subscriber& operator=(const subscriber&) = delete;

  /// Begins connecting in the background; throws on a bad URL.
  void start();
  /// Closes the connection for good. Idempotent.
  void stop();
  /// Subscribes to exact channel names; `fn` replaces any earlier handler of those channels.
  void subscribe(const std::vector<std::string>& channels, handler fn);
  /// Subscribes to glob patterns (PSUBSCRIBE); `fn` receives the concrete channel.
  void psubscribe(const std::vector<std::string>& patterns, handler fn);
  /// `fn` runs on the subscriber's loop each time a connection (the first, or one after a
  /// reconnect) has every subscription confirmed: messages published while it was down are lost,
  /// so this is where state kept elsewhere is read again. Set it before start().
  void on_subscribed(std::function<void()> fn);
  /// Stops delivering these channels.
  void unsubscribe(const std::vector<std::string>& channels);
  /// Stops delivering these patterns.
  void punsubscribe(const std::vector<std::string>& patterns);
  /// Waits until connected and subscribed (true) or `timeout` passes (false).
  boost::asio::awaitable<bool> wait_connected(std::chrono::milliseconds timeout);
  /// True while the connection is up and the subscriptions are confirmed.
  bool connected() const noexcept;
  /// Counters (messages, connects, …).
  const client_stats& stats() const noexcept { return *stats_; }

 private:
  subscriber(boost::asio::any_io_executor ex, client_options opts);
  boost::asio::any_io_executor ex_;
  client_options opts_;
  std::shared_ptr<client_stats> stats_;
  std::shared_ptr<detail::sub_state> state_;
  std::shared_ptr<detail::link> link_;
};

}  // namespace zuperior::cache
