#include "ws/test_app.hpp"

namespace zuperior::ws {

boost::asio::awaitable<std::optional<std::string>> test_app::on_connect(std::shared_ptr<socket>) {
  co_return std::nullopt;
}

void test_app::on_connected(const std::shared_ptr<socket>& s) { s->emit("auth", json::array({s->auth()})); }

boost::asio::awaitable<void> test_app::on_event(std::shared_ptr<socket> s, std::string event, json args,
                                                std::optional<std::uint64_t> ack) {
  if (event == "message") {
    s->emit("message-back", std::move(args));
  } else if (event == "message-with-ack" && ack) {
    s->ack(*ack, std::move(args));
  }
  co_return;
}

}  // namespace zuperior::ws
