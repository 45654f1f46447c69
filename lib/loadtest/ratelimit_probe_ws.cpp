#include "loadtest/ratelimit_probe_ws.hpp"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.hpp"
#include "core/url.hpp"
#include "net/resolve_within.hpp"
#include "net/run_step.hpp"

namespace zuperior::loadtest {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using json = nlohmann::json;

constexpr std::string_view rate_limit_error = "rate limit exceeded";

// One Socket.IO connection over the WebSocket transport, driven synchronously with a deadline on
// every operation (the io_context runs only while we wait).
class sio_connection {
 public:
  sio_connection(const std::string& base, const ws_probe_options& o) : ws_(io_), timeout_(o.timeout), base_(base) {
    auto u = core::parse_url(base);
    if (!u || u->scheme != "http") throw core::command_error(fmt::format("\"{}\" is not an http:// URL", base));
    beast::error_code ec;
    auto eps = net::resolve_within(u->host, std::to_string(u->port.value_or(80)), timeout_, ec);
    if (ec) throw core::command_error(fmt::format("cannot resolve {}: {}", u->host, net::failure_text(ec, timeout_)));
    ec = wait([&](auto h) { beast::get_lowest_layer(ws_).async_connect(eps, [h](auto e, auto) { h(e); }); });
    if (ec) throw core::command_error(fmt::format("cannot connect to {}: {}", base, ec.message()));
    const std::string host = u->port ? fmt::format("{}:{}", u->host, *u->port) : u->host;
    ec = wait([&](auto h) { ws_.async_handshake(host, o.path + "?EIO=4&transport=websocket", h); });
    if (ec)
      throw core::command_error(fmt::format("WebSocket handshake with {}{} failed: {}", base, o.path, ec.message()));
    auto open = read();
    if (!open || open->empty() || (*open)[0] != '0')
      throw core::command_error(fmt::format("{}: no Engine.IO open packet", base));
    send("40" + json{{"token", o.token}}.dump());
    for (;;) {
      auto m = read();
      if (!m) throw core::command_error(fmt::format("{}: no answer to the Socket.IO CONNECT", base));
      if (m->rfind("40", 0) == 0) break;
      if (m->rfind("44", 0) == 0)
        throw core::command_error(fmt::format("{} refused the connection: {}", base, m->substr(2)));
    }
  }

  void send(const std::string& frame) {
    auto ec = wait([&](auto h) { ws_.async_write(asio::buffer(frame), [h](auto e, auto) { h(e); }); });
    if (ec) closed_ = true;
  }

  // The next Engine.IO message that is not a ping (pings are answered); nullopt when closed or
  // after the timeout. The timeout bounds the whole call: a server sending nothing but pings kept
  // it answering them for ever (`ratelimit test --tier websocket` never ended).
  std::optional<std::string> read() {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (;;) {
      if (closed_ || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      buf_.clear();
      auto ec = wait([&](auto h) { ws_.async_read(buf_, [h](auto e, auto) { h(e); }); });
      if (ec) {
        closed_ = true;
        return std::nullopt;
      }
      std::string m = beast::buffers_to_string(buf_.data());
      if (m == "2") {
        send("3");
        continue;
      }
      if (m == "41" || m == "1") closed_ = true;  // the server's DISCONNECT or Engine.IO close
      return m;
    }
  }

  bool closed() const { return closed_; }
  const std::string& base() const { return base_; }

 private:
  template <class Start>
  beast::error_code wait(Start start) {
    std::optional<beast::error_code> result;
    start([&result](beast::error_code e) { result = e; });
    io_.restart();
    io_.run_for(timeout_);
    if (!result) {
      beast::get_lowest_layer(ws_).close();
      io_.restart();
      io_.run();
      closed_ = true;
      return beast::error::timeout;
    }
    return *result;
  }

  asio::io_context io_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buf_;
  std::chrono::milliseconds timeout_;
  std::string base_;
  bool closed_ = false;
};

enum class ack_kind { accepted, limited, other, missing };

// Reads until the ack with `id`; other packets (events pushed by the server) are skipped, for at
// most 10,000 packets so a server that never acks cannot keep the probe reading forever.
ack_kind read_ack(sio_connection& c, std::uint64_t id, std::string& detail) {
  const std::string prefix = "43" + std::to_string(id);
  for (int skipped = 0; skipped < 10'000; ++skipped) {
    auto m = c.read();
    if (!m) return ack_kind::missing;
    if (m->rfind(prefix, 0) != 0 || m->size() == prefix.size() || (*m)[prefix.size()] != '[') continue;
    json args = json::parse(m->substr(prefix.size()), nullptr, false);
    if (args.is_discarded() || !args.is_array() || args.empty() || !args[0].is_object()) return ack_kind::accepted;
    // The deployment's answer: no field's type is taken on trust (json::value() would throw).
    const auto& body = args[0];
    if (!body.contains("ok") || body["ok"] != false) return ack_kind::accepted;
    const auto e = body.find("error");
    std::string err = e == body.end() ? std::string() : e->is_string() ? e->get<std::string>() : e->dump();
    if (err == rate_limit_error) return ack_kind::limited;
    detail = err;
    return ack_kind::other;
  }
  return ack_kind::missing;
}

}  // namespace

probe_result run_ws_ratelimit_probe(const ws_probe_options& o) {
  if (o.urls.empty()) throw core::command_error("give --url URL (or --urls URL1,URL2 for several instances)");
  if (o.token.empty()) throw core::command_error("the websocket tier needs a token");
  std::vector<std::unique_ptr<sio_connection>> conns;
  for (const auto& u : o.urls) conns.push_back(std::make_unique<sio_connection>(u, o));

  // limit + extra events, round-robin over the instances, acks read in batches so the daemon's
  // bounded outbox never fills. `extra` stays below max_violations: refused, not yet disconnected.
  const std::uint32_t extra = o.max_violations > 1 ? std::min<std::uint32_t>(3, o.max_violations - 1) : 1;
  const std::uint64_t total = std::uint64_t{o.limit} + extra;
  probe_result r;
  std::uint64_t accepted = 0, limited = 0, other = 0, missing = 0, id = 0;
  std::string other_detail;
  const auto begin = std::chrono::steady_clock::now();
  std::vector<std::vector<std::uint64_t>> pending(conns.size());
  auto drain = [&] {
    for (std::size_t i = 0; i < conns.size(); ++i) {
      for (auto want : pending[i]) {
        switch (read_ack(*conns[i], want, other_detail)) {
          case ack_kind::accepted:
            ++accepted;
            break;
          case ack_kind::limited:
            ++limited;
            break;
          case ack_kind::other:
            ++other;
            break;
          case ack_kind::missing:
            ++missing;
            break;
        }
      }
      pending[i].clear();
    }
  };
  for (std::uint64_t n = 0; n < total; ++n) {
    auto& c = *conns[n % conns.size()];
    c.send(fmt::format("42{}[{},{}]", id, json(o.event).dump(), o.arg_json));
    pending[n % conns.size()].push_back(id++);
    if (n % 256 == 255) drain();
  }
  drain();
  r.sent = static_cast<std::uint32_t>(total);
  r.allowed = static_cast<std::uint32_t>(accepted);
  const auto took = std::chrono::steady_clock::now() - begin;

  const auto lo = o.limit > o.tolerance ? o.limit - o.tolerance : 0;
  r.checks.push_back(
      {conns.size() > 1 ? "allowed across all instances equals the limit" : "allowed equals the limit",
       accepted >= lo && accepted <= std::uint64_t{o.limit} + o.tolerance,
       fmt::format("{} of {} events accepted, limit {} (tolerance {}); sent in {} ms of a {} ms window", accepted,
                   total, o.limit, o.tolerance, std::chrono::duration_cast<std::chrono::milliseconds>(took).count(),
                   o.window.count())});
  r.checks.push_back({"refused events get \"rate limit exceeded\" in their ack",
                      limited == total - std::min<std::uint64_t>(accepted, total) && other == 0 && missing == 0,
                      fmt::format("{} limited, {} other errors{}, {} without an ack", limited, other,
                                  other ? " (" + other_detail + ")" : std::string(), missing)});

  // Persistent abuse: keep sending on the first connection until the daemon hangs up.
  auto& c = *conns[0];
  std::uint32_t more = 0;
  for (; more < o.max_violations + 2 && !c.closed(); ++more) {
    c.send(fmt::format("42{}[{},{}]", id, json(o.event).dump(), o.arg_json));
    std::string ignored;
    read_ack(c, id++, ignored);
  }
  r.checks.push_back({"persistent abuse is disconnected", c.closed(),
                      c.closed() ? fmt::format("disconnected after {} more refused event(s)", more)
                                 : fmt::format("still connected after {} more refused events", more)});
  r.sent += more;
  return r;
}

}  // namespace zuperior::loadtest
