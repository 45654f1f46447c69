#pragma once
// `zuperior ratelimit test`: drives one identifier past its limit on a live deployment and checks
// what it enforces (allowed count, headers, 429 body, Retry-After honesty, one limit across
// instances). Blocking and sequential on purpose: the point is exact counting, not load.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace zuperior::loadtest {

struct ratelimit_probe_options {
  std::vector<std::string> urls;  // base URLs (http://host:port); more than one = across instances
  std::string tier;               // strict|standard|generous|websocket (for the report)
  std::uint32_t limit = 0;        // what the deployment should enforce
  std::chrono::milliseconds window{0};
  std::string route = "/apis/time";
  std::string method = "GET";
  std::string body;  // sent as JSON when not empty
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint32_t tolerance = 0;  // extra allowed requests accepted (beyond the window arithmetic)
  bool wait_retry = true;       // wait Retry-After and check that a request then succeeds
  std::chrono::milliseconds timeout{5000};
};

/// One check's verdict.
struct probe_check {
  std::string name;
  bool pass = false;
  std::string detail;
};

struct probe_result {
  std::vector<probe_check> checks;
  std::uint32_t allowed = 0;
  std::uint32_t sent = 0;
  /// True when every check passed.
  bool passed() const;
};

/// Runs the probe; throws core::command_error (exit 2) when it cannot (target down, identifier not fresh).
probe_result run_ratelimit_probe(const ratelimit_probe_options& o);

}  // namespace zuperior::loadtest
