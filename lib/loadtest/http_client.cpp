// The HTTP side of the generator: keep-alive connections, each a coroutine that claims the next
// slot of the open model's timetable (wrk2-style), or sends back to back in the closed model.
// Requests are written as raw bytes from a per-connection buffer; Beast parses the responses.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>

#include "loadtest/schedule.hpp"
#include "loadtest/worker.hpp"

namespace zuperior::loadtest::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

struct http_conn {
  explicit http_conn(asio::io_context& io) : stream(io) {}
  beast::tcp_stream stream;
  beast::flat_buffer buf;
  std::string req;
  std::string body;
  bool open = false;
};

struct outcome {
  bool ok = false;
  error_kind kind = error_kind::protocol;
  unsigned status = 0;
};

bool expected_status(const http_step& s, unsigned status) {
  if (s.expect.empty()) return status < 400;
  return std::find(s.expect.begin(), s.expect.end(), status) != s.expect.end();
}

void append_uint(std::string& out, std::uint64_t v) {
  char b[24];
  auto [p, ec] = std::to_chars(b, b + sizeof b, v);
  out.append(b, p);
}

const std::string* find_var(const vu_state& vu, std::string_view name) {
  for (const auto& [k, v] : vu.vars)
    if (k == name) return &v;
  return nullptr;
}

void build_request(const shared_state& sh, const http_step& step, const template_context& ctx, const vu_state& vu,
                   http_conn& c) {
  c.req.clear();
  c.req += step.method;
  c.req += ' ';
  step.path.render(ctx, c.req);
  c.req += " HTTP/1.1\r\nHost: ";
  c.req += sh.host_header;
  c.req += "\r\nUser-Agent: zuperior-loadtest\r\nAccept: application/json\r\n";
  bool has_auth = false;
  for (const auto& [name, value] : step.headers) {
    if (name.size() == 13 && strncasecmp(name.c_str(), "authorization", 13) == 0) has_auth = true;
    c.req += name;
    c.req += ": ";
    value.render(ctx, c.req);
    c.req += "\r\n";
  }
  // The JWT a setup step obtained is used for every later request of that virtual user.
  if (!has_auth)
    if (const auto* token = find_var(vu, "token"); token && !token->empty()) {
      c.req += "Authorization: Bearer ";
      c.req += *token;
      c.req += "\r\n";
    }
  if (step.body) {
    c.body.clear();
    step.body->render(ctx, c.body);
    c.req += "Content-Type: application/json\r\nContent-Length: ";
    append_uint(c.req, c.body.size());
    c.req += "\r\n\r\n";
    c.req += c.body;
  } else {
    c.req += "\r\n";
  }
}

// One request on `c` (connecting first when needed), over by `until` at the latest; the body is
// kept only when `body_out`.
asio::awaitable<outcome> perform(thread_context& t, http_conn& c, const http_step& step, std::string* body_out,
                                 clock::time_point until = clock::time_point::max()) {
  const auto& sh = *t.shared;
  const auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(sh.sc->http.timeout);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = c.open;
    // Bytes waiting on an idle connection answer nothing we asked (a server sending two responses
    // to one request): they would be taken for this request's answer.
    if (reused) {
      boost::system::error_code aec;
      if (c.buf.size() > 0 || c.stream.socket().available(aec) > 0) {
        c.stream.close();
        c.open = false;
        co_return outcome{false, error_kind::protocol, 0};
      }
    }
    c.stream.expires_at(std::min(clock::now() + timeout, until));
    if (!c.open) {
      auto [ec, ep] = co_await c.stream.async_connect(sh.endpoints, nothrow);
      if (ec) {
        c.stream.close();
        co_return outcome{false, ec == beast::error::timeout ? error_kind::timeout : error_kind::connect, 0};
      }
      c.stream.socket().set_option(asio::ip::tcp::no_delay(true));
      c.open = true;
      c.buf.clear();
    }
    auto [wec, wn] = co_await asio::async_write(c.stream, asio::buffer(c.req), nothrow);
    // Interim answers (100 Continue, 103 Early Hints) precede the real one: read past a few of them,
    // or the real answer would be taken for the next request's.
    for (int interim = 0; !wec; ++interim) {
      http::response_parser<http::string_body> parser;
      parser.body_limit(16 << 20);
      // The answer to HEAD carries the GET's Content-Length and no body.
      parser.skip(step.method == "HEAD");
      auto [rec, rn] = co_await http::async_read(c.stream, c.buf, parser, nothrow);
      if (rec) {
        wec = rec;
        break;
      }
      auto& res = parser.get();
      unsigned status = res.result_int();
      if (status >= 100 && status < 200 && status != 101 && interim < 8) continue;
      // A status outside 200-599 here (000, 042, 101 without an upgrade asked, 999) is not an answer.
      if (status < 200 || status > 599) break;
      if (!parser.keep_alive()) {
        c.stream.close();
        c.open = false;
      }
      if (body_out) *body_out = std::move(res.body());
      bool ok = expected_status(step, status);
      co_return outcome{ok, error_kind::status, status};
    }
    c.stream.close();
    c.open = false;
    if (wec == beast::error::timeout) co_return outcome{false, error_kind::timeout, 0};
    // A keep-alive connection the server closed while idle fails before any byte of a
    // response: that is not the target failing this request, so it is retried once afresh, if
    // the method is idempotent (RFC 9110 9.2.2): the server may have acted on a POST before closing.
    const bool idempotent = step.method == "GET" || step.method == "HEAD" || step.method == "OPTIONS" ||
                            step.method == "PUT" || step.method == "DELETE";
    bool stale = reused && idempotent &&
                 (wec == http::error::end_of_stream || wec == asio::error::connection_reset ||
                  wec == asio::error::broken_pipe || wec == asio::error::eof);
    if (!stale) co_return outcome{false, error_kind::protocol, 0};
  }
  co_return outcome{false, error_kind::protocol, 0};
}

void account(step_stats& s, const outcome& o, std::uint64_t latency_us) {
  ++s.requests;
  s.latency.record(latency_us);
  s.status_classes[std::min<unsigned>(o.status / 100, 5)]++;
  if (o.ok)
    ++s.ok;
  else
    ++s.errors[static_cast<int>(o.kind)];
}

// Reads a dotted JSON path ("token", "data.token") from a response body. The value goes into
// later requests (headers, paths, the Socket.IO auth), so only text without control characters or
// a number is taken, and a token must be text; anything else fails the step.
std::optional<std::string> extract_field(const std::string& body, const std::string& var, const std::string& path) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  const nlohmann::json* cur = &j;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    auto dot = path.find('.', pos);
    auto key = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (!cur->is_object() || !cur->contains(key)) return std::nullopt;
    cur = &(*cur)[key];
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  if (cur->is_string()) {
    const auto& text = cur->get_ref<const std::string&>();
    if (std::any_of(text.begin(), text.end(),
                    [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; }))
      return std::nullopt;
    return text;
  }
  if (cur->is_number() && var != "token") return cur->dump();
  return std::nullopt;
}

asio::awaitable<void> setup_connection(thread_context& t, std::shared_ptr<std::uint64_t> next_vu) {
  auto& sh = *t.shared;
  const auto& h = sh.sc->http;
  http_conn c(t.io);
  std::string body;
  for (;;) {
    std::uint64_t vu = (*next_vu)++ * sh.threads + t.index;
    if (vu >= sh.vus.size() || sh.stop || clock::now() >= sh.setup_deadline) break;
    auto& state = sh.vus[vu];
    for (std::size_t i = 0; i < h.setup.size() && clock::now() < sh.setup_deadline; ++i) {
      const auto& step = h.setup[i];
      template_context ctx;
      ctx.vu = vu;
      ctx.seq = vu;
      ctx.run = sh.run_id;
      ctx.symbol = sh.sc->symbols[t.rng() % sh.sc->symbols.size()];
      ctx.vars = &state.vars;
      build_request(sh, step, ctx, state, c);
      auto begin = clock::now();
      body.clear();
      auto o = co_await perform(t, c, step, step.extract.empty() ? nullptr : &body, sh.setup_deadline);
      if (o.ok)
        for (const auto& [var, field] : step.extract) {
          if (auto v = extract_field(body, var, field)) {
            state.vars.emplace_back(var, std::move(*v));
          } else {
            o.ok = false;
            o.kind = error_kind::protocol;
          }
        }
      account(t.setup_stats[i], o, micros(clock::now() - begin));
      if (!o.ok) {
        state.setup_ok = false;
        break;
      }
    }
  }
}

// Picks the load step for a request from the weights.
struct step_picker {
  std::vector<std::size_t> table;  // cumulative weights
  std::uint64_t total = 0;
  explicit step_picker(const std::vector<http_step>& steps) {
    for (const auto& s : steps) table.push_back(total += s.weight);
  }
  std::size_t pick(std::uint64_t r) const {
    if (table.size() == 1) return 0;
    auto x = r % total;
    return static_cast<std::size_t>(std::upper_bound(table.begin(), table.end(), x) - table.begin());
  }
};

struct load_state {
  schedule sched;
  step_picker picker;
  std::uint64_t next_slot = 0;
  load_state(const http_settings& h) : sched(h.phases), picker(h.steps) {}
};

asio::awaitable<void> load_connection(thread_context& t, std::shared_ptr<load_state> ls) {
  auto& sh = *t.shared;
  const auto& h = sh.sc->http;
  const bool open_model = h.model == load_model::open;
  http_conn c(t.io);
  asio::steady_timer timer(t.io);
  for (;;) {
    clock::time_point intended;
    std::uint64_t n;
    if (open_model) {
      n = ls->next_slot++ * sh.threads + t.index;
      auto off = ls->sched.time_of(n);
      if (!off) break;
      intended = sh.start + std::chrono::duration_cast<clock::duration>(*off);
      auto now = clock::now();
      if (intended > now) {
        timer.expires_at(intended);
        co_await timer.async_wait(nothrow);
        // Waking up late is the generator's own fault (an overloaded thread), unlike waiting
        // for a busy connection, which the latency from the intended time already charges.
        t.gen.lag.record(micros(clock::now() - intended));
      }
      if (sh.stop || clock::now() >= sh.deadline) break;
    } else {
      n = ls->next_slot++ * sh.threads + t.index;
      intended = clock::now();
      if (intended >= sh.end || sh.stop) break;
    }
    ++t.gen.started;
    const std::size_t si = ls->picker.pick(t.rng());
    const auto& step = h.steps[si];
    const std::uint64_t vu = n % sh.vus.size();
    const auto& state = sh.vus[vu];
    template_context ctx;
    ctx.vu = vu;
    ctx.counter = n / sh.vus.size();
    ctx.seq = n;
    ctx.run = sh.run_id;
    ctx.symbol = sh.sc->symbols[t.rng() % sh.sc->symbols.size()];
    ctx.vars = &state.vars;
    build_request(sh, step, ctx, state, c);
    ++t.inflight[si];
    auto o = co_await perform(t, c, step, nullptr);
    --t.inflight[si];
    auto lat = micros(clock::now() - intended);
    account(t.step_stats_[si], o, lat);
    t.interval_http.record(lat);
    ++t.interval_requests;
    sh.live.requests.fetch_add(1, std::memory_order_relaxed);
    if (!o.ok) {
      ++t.interval_errors;
      sh.live.errors.fetch_add(1, std::memory_order_relaxed);
    }
    if (!open_model && h.think.count() > 0) {
      timer.expires_after(h.think);
      co_await timer.async_wait(nothrow);
    }
  }
}

}  // namespace

void spawn_http_setup(thread_context& t) {
  auto& sh = *t.shared;
  const auto& h = sh.sc->http;
  t.setup_stats.assign(h.setup.size(), {});
  if (h.setup.empty()) return;
  std::uint64_t my_vus = (sh.vus.size() + sh.threads - 1 - t.index) / sh.threads;
  unsigned conns = std::max(1U, (h.connections + sh.threads - 1) / sh.threads);
  conns = static_cast<unsigned>(std::min<std::uint64_t>(conns, std::max<std::uint64_t>(my_vus, 1)));
  auto next = std::make_shared<std::uint64_t>(0);
  for (unsigned i = 0; i < conns; ++i) asio::co_spawn(t.io, setup_connection(t, next), asio::detached);
}

void spawn_http_load(thread_context& t) {
  auto& sh = *t.shared;
  const auto& h = sh.sc->http;
  t.step_stats_.assign(h.steps.size(), {});
  auto ls = std::make_shared<load_state>(h);
  if (h.model == load_model::open) {
    auto total = ls->sched.total();
    t.gen.scheduled = total / sh.threads + (t.index < total % sh.threads ? 1 : 0);
  }
  unsigned conns = std::max(1U, (h.connections + sh.threads - 1 - t.index) / sh.threads);
  t.inflight.assign(h.steps.size(), 0);
  for (unsigned i = 0; i < conns; ++i) {
    t.task_started();
    asio::co_spawn(t.io, load_connection(t, ls), [&t](std::exception_ptr) { t.task_done(); });
  }
}

}  // namespace zuperior::loadtest::detail
