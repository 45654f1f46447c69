#pragma once
// A load-test scenario: what to drive, how hard, and what counts as passing. Parsed from YAML
// with every problem reported as "FILE:LINE: message", all of them in one go.
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loadtest/schedule.hpp"
#include "loadtest/template.hpp"
#include "loadtest/threshold.hpp"

namespace zuperior::loadtest {

/// Every problem of a scenario, one per line ("FILE:LINE: message").
class scenario_error : public std::runtime_error {
 public:
  explicit scenario_error(std::vector<std::string> problems);
  /// The individual problems.
  const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  std::vector<std::string> problems_;
};

/// One HTTP request kind.
struct http_step {
  std::string name;
  std::string method = "GET";
  text_template path;
  std::vector<std::pair<std::string, text_template>> headers;
  std::optional<text_template> body;  // JSON text with templates
  std::vector<unsigned> expect{200};  // acceptable statuses; [] = any below 400
  unsigned weight = 1;
  std::vector<std::pair<std::string, std::string>> extract;  // variable <- JSON field path (a.b.c)
  int line = 0;
};

enum class load_model { open, closed };

struct http_settings {
  load_model model = load_model::open;
  std::vector<phase> phases;              // open model
  std::chrono::microseconds duration{0};  // closed model
  unsigned connections = 32;              // per run (split across threads)
  std::chrono::microseconds timeout{5'000'000};
  std::chrono::microseconds think{0};  // closed model: pause between requests of a connection
  unsigned vus = 100;                  // virtual users the requests rotate through
  std::vector<http_step> setup;        // run once per virtual user, in order, before the load
  std::vector<http_step> steps;        // the load, picked by weight
  bool enabled = false;
};

/// One event a Socket.IO client emits after connecting.
struct sio_emit {
  std::string event;
  std::string args_json = "[]";  // JSON array of arguments (templates allowed)
  text_template args;
  bool ack = false;
  std::chrono::microseconds ack_timeout{5'000'000};
  int line = 0;
};

/// An event every client should receive at least `min` times.
struct sio_expect {
  std::string event;
  std::uint64_t min = 1;
  int line = 0;
};

struct socketio_settings {
  bool enabled = false;
  std::string path = "/socket.io/";
  std::string transport = "websocket";  // websocket | polling
  unsigned connections = 0;
  double connect_rate = 1000;         // new connections per second
  std::chrono::microseconds hold{0};  // how long connections stay after the ramp (default: the run)
  std::chrono::microseconds connect_timeout{10'000'000};
  bool auth = false;  // send {token}: minted (jwt) or from http.setup extracting "token"
  std::vector<sio_emit> emit;
  std::vector<sio_expect> expect;
  std::string delivery_event = "market:update";  // whose ts/seq measure delivery
};

struct publisher_settings {
  bool enabled = false;
  std::string redis_url;  // must be named: in the scenario or by --redis
  std::string channel = "zuperior:market";
  std::vector<std::string> symbols;
  double rate = 10;                            // ticks per second in total, spread round-robin over symbols
  std::chrono::microseconds delay{1'000'000};  // start after this (lets clients subscribe)
};

/// Tokens the generator signs itself (HS256, one per virtual user) instead of logging in: load far
/// beyond what bcrypt and the login rate limit allow. The secret is read from an environment
/// variable at run time, never from the scenario file.
struct jwt_settings {
  bool enabled = false;
  std::string secret_env = "JWT_SECRET";
  text_template subject{"loadtest-{{vu}}"};  // the token's sub (the user id the daemon sees)
  std::chrono::seconds ttl{3600};
};

/// A whole scenario.
struct scenario {
  std::string name = "adhoc";
  std::string file;    // where it came from ("" for flags)
  std::string target;  // base URL: http://host:port
  unsigned threads = 1;
  std::vector<std::string> symbols{"EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "BTCUSD"};  // for {{symbol}}
  http_settings http;
  socketio_settings socketio;
  publisher_settings publisher;
  jwt_settings jwt;
  std::vector<threshold> thresholds;
  std::chrono::microseconds grace{2'000'000};  // beyond the duration for in-flight work

  /// The longest part: HTTP phases, Socket.IO ramp + hold, publisher.
  std::chrono::microseconds duration() const;
};

/// Parses a scenario from YAML text; `file` names it in errors. Throws scenario_error.
scenario parse_scenario(const std::string& yaml_text, const std::string& file);
/// Reads and parses a scenario file. Throws scenario_error (including when unreadable).
scenario load_scenario(const std::string& path);
/// True for an emit that subscribes (its event names "subscribe", not "unsubscribe"): the symbols
/// its arguments name are then expected to deliver ticks.
bool is_subscribe_event(std::string_view event);
/// Checks cross-field rules (target set, something to do, thresholds referring to known steps
/// and to measured sections); throws scenario_error.
void validate(const scenario& s);

}  // namespace zuperior::loadtest
