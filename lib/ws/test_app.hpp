#pragma once
// The behaviour the public Engine.IO v4 / Socket.IO v5 protocol test suites expect of a server under
// test (`serve --protocol-test-mode` only): connections accepted without a token, `auth` emitted with
// the CONNECT payload, `message` echoed as `message-back`, `message-with-ack` acknowledged with its
// arguments. Mounted on "/" and "/custom".
#include "ws/server.hpp"

namespace zuperior::ws {

/// The protocol test suites' application.
class test_app : public app {
 public:
  /// Accepts every CONNECT.
  boost::asio::awaitable<std::optional<std::string>> on_connect(std::shared_ptr<socket> s) override;
  /// Emits `auth` with the CONNECT payload.
  void on_connected(const std::shared_ptr<socket>& s) override;
  /// Echoes `message` and acknowledges `message-with-ack`.
  boost::asio::awaitable<void> on_event(std::shared_ptr<socket> s, std::string event, json args,
                                        std::optional<std::uint64_t> ack) override;
};

}  // namespace zuperior::ws
