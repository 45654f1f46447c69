// The tick publisher: PUBLISHes {symbol,bid,ask,ts,seq} into Redis at the scenario's rate
// (round-robin over the symbols, seq per symbol, ts = epoch microseconds when sent), pipelined
// on one connection. Replies are read by a second coroutine and only checked for errors.
#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cmath>

#include "core/url.hpp"
#include "loadtest/worker.hpp"

namespace zuperior::loadtest::detail {
namespace {

namespace asio = boost::asio;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

void resp_command(std::string& out, std::initializer_list<std::string_view> args) {
  fmt::format_to(std::back_inserter(out), "*{}\r\n", args.size());
  for (auto a : args) fmt::format_to(std::back_inserter(out), "${}\r\n{}\r\n", a.size(), a);
}

struct pub_conn {
  explicit pub_conn(asio::io_context& io) : sock(io) {}
  asio::ip::tcp::socket sock;
  std::uint64_t awaiting = 0;  // replies still to read
  bool failed = false;
};

asio::awaitable<void> read_replies(thread_context& t, std::shared_ptr<pub_conn> c) {
  asio::streambuf sb;
  for (;;) {
    auto [ec, n] = co_await asio::async_read_until(c->sock, sb, "\r\n", nothrow);
    if (ec) break;
    const char* p = static_cast<const char*>(sb.data().data());
    if (p[0] == '-') {
      ++t.publish_errors;
      if (t.publish_errors == 1)
        t.notes.push_back(fmt::format("Redis refused a command: {}", std::string(p + 1, n > 3 ? n - 3 : 0)));
    }
    sb.consume(n);
    if (c->awaiting) --c->awaiting;
  }
}

asio::awaitable<void> publish(thread_context& t) {
  auto& sh = *t.shared;
  const auto& p = sh.sc->publisher;
  auto u = core::parse_url(p.redis_url);
  if (!u) co_return;
  auto c = std::make_shared<pub_conn>(t.io);
  if (!sh.publisher_resolve_error.empty()) {
    ++t.publish_errors;
    t.notes.push_back(fmt::format("publisher: cannot resolve {}: {}", u->host, sh.publisher_resolve_error));
    co_return;
  }
  // A Redis that never answers the SYN (a black hole, a paused host) fails here in 3 s and says so;
  // without a deadline the run ended with no tick published and called it the generator's lag.
  auto connect_deadline = std::make_shared<asio::steady_timer>(t.io, std::chrono::seconds(3));
  auto connecting = std::make_shared<bool>(true);  // the timer may fire as the connect completes
  auto timed_out = std::make_shared<bool>(false);
  connect_deadline->async_wait([c, connecting, timed_out](boost::system::error_code ec) {
    if (ec || !*connecting) return;
    *timed_out = true;
    c->sock.close(ec);
  });
  auto [cec, ep] = co_await asio::async_connect(c->sock, sh.publisher_endpoints, nothrow);
  *connecting = false;
  connect_deadline->cancel();
  if (*timed_out) cec = asio::error::timed_out;
  if (cec) {
    ++t.publish_errors;
    t.notes.push_back(
        fmt::format("publisher: cannot connect to Redis at {}:{}: {}", u->host, u->port.value_or(6379), cec.message()));
    co_return;
  }
  c->sock.set_option(asio::ip::tcp::no_delay(true));
  asio::co_spawn(t.io, read_replies(t, c), asio::detached);
  std::string out;
  if (u->has_password) {
    if (u->user.empty())
      resp_command(out, {"AUTH", u->password});
    else
      resp_command(out, {"AUTH", u->user, u->password});
  }
  std::string db = u->path.size() > 1 ? u->path.substr(1) : "";
  if (!db.empty()) resp_command(out, {"SELECT", db});
  const auto& symbols = p.symbols;
  std::vector<std::uint64_t> seq(symbols.size(), 0);
  std::vector<double> mid(symbols.size(), 1.0);
  for (std::size_t i = 0; i < symbols.size(); ++i) mid[i] = 1.0 + 0.1 * static_cast<double>(i);
  const auto start = sh.start + std::chrono::duration_cast<clock::duration>(p.delay);
  asio::steady_timer timer(t.io);
  std::uint64_t sent = 0;
  std::string payload;
  std::size_t rr = 0;
  // Ticks are due continuously; a timer every millisecond sends what is due, in one write.
  for (;;) {
    auto now = clock::now();
    if (now >= sh.end || sh.stop) break;
    if (now >= start) {
      double elapsed = std::chrono::duration<double>(now - start).count();
      auto due = static_cast<std::uint64_t>(std::floor(elapsed * p.rate)) + 1;
      while (sent < due) {
        auto i = rr++ % symbols.size();
        mid[i] += ((sent * 2654435761ULL) % 7 < 3 ? -1e-5 : 1e-5);
        auto ts =
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        payload.clear();
        fmt::format_to(std::back_inserter(payload),
                       "{{\"symbol\":\"{}\",\"bid\":{:.5f},\"ask\":{:.5f},\"ts\":{},\"seq\":{}}}", symbols[i], mid[i],
                       mid[i] + 0.0002, ts, ++seq[i]);
        resp_command(out, {"PUBLISH", p.channel, payload});
        ++sent;
        ++c->awaiting;
      }
    }
    if (!out.empty()) {
      for (std::size_t i = 0; i < seq.size() && i < 64; ++i)
        sh.publisher_seq_issued[i].store(seq[i], std::memory_order_release);
      auto [wec, wn] = co_await asio::async_write(c->sock, asio::buffer(out), nothrow);
      if (wec) {
        ++t.publish_errors;
        t.notes.push_back(fmt::format("publisher: write to Redis failed: {}", wec.message()));
        break;
      }
      out.clear();
      // Visible to the clients only once written: a client's baseline never runs ahead of Redis.
      for (std::size_t i = 0; i < seq.size() && i < 64; ++i)
        sh.publisher_seq_snapshot[i].store(seq[i], std::memory_order_release);
      t.published = sent;
      sh.live.published.store(sent, std::memory_order_relaxed);
    }
    timer.expires_after(std::chrono::milliseconds(1));
    co_await timer.async_wait(nothrow);
  }
  // Let Redis answer what was sent, briefly, then close.
  timer.expires_after(std::chrono::milliseconds(200));
  co_await timer.async_wait(nothrow);
  boost::system::error_code ignored;
  c->sock.close(ignored);
}

}  // namespace

void spawn_publisher(thread_context& t) {
  t.task_started();
  asio::co_spawn(t.io, publish(t), [&t](std::exception_ptr) { t.task_done(); });
}

}  // namespace zuperior::loadtest::detail
