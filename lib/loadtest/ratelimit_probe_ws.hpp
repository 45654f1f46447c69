#pragma once
// `zuperior ratelimit test --tier websocket`: one authenticated Socket.IO connection per instance
// sends events past the websocket tier and checks what the daemon enforces: the number acknowledged
// as accepted, the error in the ack of each refused event, and the disconnect that persistent abuse
// earns. Sequential on purpose: the point is exact counting, not load.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "loadtest/ratelimit_probe.hpp"

namespace zuperior::loadtest {

struct ws_probe_options {
  std::vector<std::string> urls;  // base URLs (http://host:port); more than one = across instances
  std::string path = "/socket.io/";
  std::string token;  // a JWT the daemon accepts (its user is the identifier counted)
  std::uint32_t limit = 0;
  std::chrono::milliseconds window{0};
  std::uint32_t max_violations = 5;  // refused events before the daemon disconnects (realtime.max_violations)
  std::uint32_t tolerance = 0;
  std::string event = "unsubscribe:market";  // harmless: acknowledged, changes nothing
  std::string arg_json = R"(["EURUSD"])";    // the one argument (JSON)
  std::chrono::milliseconds timeout{5000};
};

/// Runs the probe; throws core::command_error (exit 2) when it cannot (target down, token refused).
probe_result run_ws_ratelimit_probe(const ws_probe_options& o);

}  // namespace zuperior::loadtest
