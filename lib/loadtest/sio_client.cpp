// Socket.IO clients: Engine.IO v4 over WebSocket (or HTTP long-polling when asked), minimal framing of our own (the
// client side needs only open, ping/pong, connect, event, ack, disconnect). Each client is one coroutine that connects
// at its slot of the connect ramp, emits, then reads until the run ends.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <boost/beast/websocket/error.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "loadtest/worker.hpp"

namespace zuperior::loadtest::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace bhttp = beast::http;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

std::int64_t epoch_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The integer after "key": in a flat JSON object, without a full parse (hot path).
std::optional<std::int64_t> find_int(std::string_view s, std::string_view quoted_key) {
  auto p = s.find(quoted_key);
  if (p == std::string_view::npos) return std::nullopt;
  p += quoted_key.size();
  while (p < s.size() && (s[p] == ' ' || s[p] == ':')) ++p;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data() + p, s.data() + s.size(), v);
  if (ec != std::errc() || (end < s.data() + s.size() && (*end == '.' || *end == 'e' || *end == 'E'))) {
    // A float ts (seconds or ms with a fraction) is read as its integer part; 1e300 is no integer.
    double d = 0;
    auto [e2, ec2] = std::from_chars(s.data() + p, s.data() + s.size(), d);
    if (ec2 != std::errc()) return std::nullopt;
    if (!(std::fabs(d) < 9e18))  // out of range (or NaN): pinned, so that it reads as the nonsense it is
      return d > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(d);
  }
  return v;
}

std::string_view find_str(std::string_view s, std::string_view quoted_key) {
  auto p = s.find(quoted_key);
  if (p == std::string_view::npos) return {};
  p += quoted_key.size();
  while (p < s.size() && (s[p] == ' ' || s[p] == ':')) ++p;
  if (p >= s.size() || s[p] != '"') return {};
  auto e = s.find('"', p + 1);
  if (e == std::string_view::npos) return {};
  return s.substr(p + 1, e - p - 1);
}

// A server's frame larger than this is refused (as Beast's read_message_max would): the buffer
// grows only with bytes that arrived, never with the length a frame header announces.
constexpr std::uint64_t max_frame = 16 << 20;

// Every frame is parsed straight off the TCP stream (a server's frames are unmasked): one read
// takes every message that arrived, without Beast's per-message read machinery (the receive loop
// is the generator's hot path; its cost decides how many messages/s one core can check). The
// upgrade is read by hand too, so that frames arriving with the 101 or with any other frame stay
// in this one buffer; fragmented messages (which Socket.IO servers do not send) would be seen
// frame by frame.
struct raw_frames {
  std::string in = std::string(2048, '\0');
  std::size_t have = 0, pos = 0;
  int opcode = 0;       // of the last frame or message returned: 1 text, 2 binary
  bool bad = false;     // the server sent a frame no WebSocket server may send
  bool fin = true;      // of the last frame parsed
  int message_op = 0;   // while a fragmented message is being assembled: its opcode, else 0
  std::string message;  // the fragments so far

  enum class result { frame, more, bad };

  // The next complete frame at `pos`: its payload, and its opcode in `opcode`.
  result parse(std::string_view& out) {
    if (have - pos < 2) return result::more;
    const auto* p = reinterpret_cast<const unsigned char*>(in.data() + pos);
    opcode = p[0] & 0x0f;
    fin = (p[0] & 0x80) != 0;
    // Reserved bits (no extension was negotiated), an opcode RFC 6455 does not define, a masked
    // frame (a client must fail the connection on one, RFC 6455 5.1), a fragmented control frame.
    if ((p[0] & 0x70) != 0 || (opcode > 2 && opcode < 8) || opcode > 10 || (p[1] & 0x80) != 0 || (opcode >= 8 && !fin))
      return result::bad;
    std::uint64_t len = p[1] & 0x7f;
    std::size_t hl = 2;
    if (len == 126) {
      if (have - pos < 4) return result::more;
      len = (std::uint64_t{p[2]} << 8) | p[3];
      hl = 4;
    } else if (len == 127) {
      if (have - pos < 10) return result::more;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      hl = 10;
    }
    if (len > max_frame || (opcode >= 8 && len > 125)) return result::bad;
    if (have - pos < hl + len) return result::more;
    out = std::string_view(in.data() + pos + hl, static_cast<std::size_t>(len));
    pos += hl + static_cast<std::size_t>(len);
    return result::frame;
  }

  // Bytes that arrived before the frames were read here (behind the 101).
  void append(asio::const_buffer b) {
    if (in.size() < have + b.size()) in.resize(have + b.size());
    std::memcpy(in.data() + have, b.data(), b.size());
    have += b.size();
  }

  // Joins a data frame to the message being assembled. True when `out` now holds a whole message
  // (a single unfragmented frame, or the last fragment), false when more fragments must come;
  // `bad` is set for a continuation with nothing to continue, a new message inside a fragmented
  // one, or a message over max_frame.
  bool assemble(std::string_view& out) {
    if (opcode == 0) {
      if (message_op == 0) return !(bad = true);
      if (message.size() + out.size() > max_frame) return !(bad = true);
      message.append(out);
      if (!fin) return false;
      opcode = message_op;
      message_op = 0;
      out = message;
      return true;
    }
    if (message_op != 0) return !(bad = true);
    if (fin) return true;
    message_op = opcode;
    message.assign(out);
    return false;
  }

  // The payload of the next text or binary message (fragments joined); a close frame ends it with
  // `closed`, an invalid one with `bad` set.
  asio::awaitable<beast::error_code> next(beast::tcp_stream& s, std::string_view& out) {
    // The caller is done with the last message: a large assembled one gives its memory back, so
    // thousands of clients do not each keep the biggest message they ever saw.
    if (message_op == 0 && message.capacity() > (std::size_t{64} << 10)) std::string().swap(message);
    if (pos == have && in.size() > (std::size_t{64} << 10)) {  // the read buffer too, once it is empty
      std::string(2048, '\0').swap(in);                        // assign() would keep the capacity
      pos = have = 0;
    }
    for (;;) {
      auto r = parse(out);
      if (r == result::bad) {
        bad = true;
        co_return beast::error_code(websocket::error::bad_frame_payload);
      }
      if (r == result::frame) {
        if (opcode == 8) co_return beast::error_code(websocket::error::closed);
        if (opcode >= 8) continue;  // ping/pong: Socket.IO uses its own packets
        if (assemble(out)) co_return beast::error_code{};
        if (bad) co_return beast::error_code(websocket::error::bad_frame_payload);
        continue;
      }
      if (pos) {
        std::memmove(in.data(), in.data() + pos, have - pos);
        have -= pos;
        pos = 0;
      }
      if (have == in.size()) in.resize(in.size() * 2);
      auto [ec, n] = co_await s.async_read_some(asio::buffer(in.data() + have, in.size() - have), nothrow);
      if (ec) co_return ec;
      have += n;
    }
  }
};

// A client frame (text, or close when `opcode` is 8), masked as RFC 6455 requires of clients.
asio::awaitable<beast::error_code> write_frame(beast::tcp_stream& s, std::mt19937_64& rng, std::string_view payload,
                                               int opcode = 1) {
  std::string f;
  f.reserve(payload.size() + 14);
  f += static_cast<char>(0x80 | opcode);
  if (payload.size() < 126) {
    f += static_cast<char>(0x80 | payload.size());
  } else if (payload.size() < 65536) {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xff);
  } else {
    f += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>((static_cast<std::uint64_t>(payload.size()) >> (8 * i)) & 0xff);
  }
  const auto key = static_cast<std::uint32_t>(rng());
  char mask[4];
  std::memcpy(mask, &key, 4);
  f.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
  auto [ec, n] = co_await asio::async_write(s, asio::buffer(f), nothrow);
  co_return ec;
}

// The WebSocket upgrade; "" when the server switched protocols properly, else the connect error kind.
// Bytes behind the 101 go to `frames`.
asio::awaitable<const char*> upgrade(beast::tcp_stream& s, const shared_state& sh, const std::string& target,
                                     raw_frames& frames) {
  websocket::detail::sec_ws_key_type key;
  websocket::detail::make_sec_ws_key(key);
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, sh.host_header);
  req.set(bhttp::field::upgrade, "websocket");
  req.set(bhttp::field::connection, "Upgrade");
  req.set(bhttp::field::sec_websocket_key, beast::string_view(key.data(), key.size()));
  req.set(bhttp::field::sec_websocket_version, "13");
  auto [wec, wn] = co_await bhttp::async_write(s, req, nothrow);
  if (wec) co_return wec == beast::error::timeout ? "timeout" : "connect";
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::empty_body> parser;
  auto [rec, rn] = co_await bhttp::async_read_header(s, buf, parser, nothrow);
  if (rec) co_return rec == beast::error::timeout ? "timeout" : "handshake";
  const auto& res = parser.get();
  websocket::detail::sec_ws_accept_type accept;
  websocket::detail::make_sec_ws_accept(accept, beast::string_view(key.data(), key.size()));
  if (res.result() != bhttp::status::switching_protocols || !beast::iequals(res[bhttp::field::upgrade], "websocket") ||
      res[bhttp::field::sec_websocket_accept] != beast::string_view(accept.data(), accept.size()))
    co_return "handshake";
  frames.append(buf.data());
  co_return "";
}

// The sid of an Engine.IO open packet (0{"sid":"…","pingInterval":N,"pingTimeout":N,…}), nullopt
// when it is not one. The sid goes into the polling URLs: plain URL-safe text only.
std::optional<std::string> open_sid(std::string_view packet) {
  if (!packet.starts_with('0')) return std::nullopt;
  auto j = nlohmann::json::parse(packet.substr(1), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto sid = j.find("sid");
  if (sid == j.end() || !sid->is_string() || sid->get_ref<const std::string&>().empty()) return std::nullopt;
  for (const char* field : {"pingInterval", "pingTimeout"}) {
    auto v = j.find(field);
    if (v == j.end() || !v->is_number_unsigned()) return std::nullopt;
  }
  const auto& text = sid->get_ref<const std::string&>();
  if (!std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '~';
      }))
    return std::nullopt;
  return text;
}

struct symbol_track {
  std::uint64_t base = 0;  // publisher seq when the subscription was confirmed
  std::uint64_t last = 0;  // highest seq seen
  bool seen = false;
  bool subscribed = false;  // a subscribe emit of this client named the symbol
  // The seqs counted lost, as ranges [first, last], oldest first: a late tick is taken off only
  // when it fills one of them (a duplicate of an earlier tick used to cancel a real loss). At
  // most max_gaps ranges are remembered; older ones stay lost.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;
};
constexpr std::size_t max_gaps = 64;

// True when `s` was in a recorded gap (and is taken out of it).
bool fill_gap(symbol_track& tr, std::uint64_t s) {
  for (auto it = tr.gaps.begin(); it != tr.gaps.end(); ++it) {
    auto [lo, hi] = *it;
    if (s < lo || s > hi) continue;
    if (lo == hi) {
      tr.gaps.erase(it);
    } else if (s == lo) {
      it->first = s + 1;
    } else if (s == hi) {
      it->second = s - 1;
    } else {
      it->second = s - 1;
      tr.gaps.insert(it + 1, {s + 1, hi});
      if (tr.gaps.size() > max_gaps) tr.gaps.erase(tr.gaps.begin());
    }
    return true;
  }
  return false;
}

struct client_state {
  std::vector<std::pair<std::string, std::uint64_t>> expect_counts;
  std::vector<symbol_track> symbols;
  struct pending_ack {
    unsigned id;
    clock::time_point sent;
    clock::duration timeout;  // the emit's own ack_timeout
  };
  std::vector<pending_ack> pending_acks;
  bool base_taken = false;
};

class sio_pool {
 public:
  sio_pool(thread_context& t) : t_(t) {}
  thread_context& t_;
  std::uint64_t next = 0;
  bool noted_no_seq = false;
  bool noted_no_ts = false;
};

void take_base(thread_context& t, client_state& cs) {
  for (std::size_t i = 0; i < cs.symbols.size() && i < 64; ++i)
    cs.symbols[i].base = t.shared->publisher_seq_snapshot[i].load(std::memory_order_acquire);
  cs.base_taken = true;
}

void on_delivery(thread_context& t, sio_pool& pool, client_state& cs, std::string_view payload) {
  const auto& pub = t.shared->sc->publisher.symbols;
  auto ts = find_int(payload, "\"ts\"");
  auto seq = find_int(payload, "\"seq\"");
  const auto now = epoch_us();
  // A ts from the future (the publisher and the clients share a clock) or a seq below the
  // publisher's first: not a tick anybody published.
  if ((ts && (*ts <= 0 || *ts > now)) || (seq && *seq <= 0)) {
    ++t.ws.protocol_errors;
    return;
  }
  // Nor is a seq above anything our publisher has written for its symbol (it would have counted
  // the ticks in between as lost).
  std::size_t idx = pub.size();
  if (seq) {
    const auto sym = find_str(payload, "\"symbol\"");
    idx = 0;
    while (idx < pub.size() && pub[idx] != sym) ++idx;
    if (t.shared->sc->publisher.enabled && idx < pub.size() && idx < 64 &&
        static_cast<std::uint64_t>(*seq) > t.shared->publisher_seq_issued[idx].load(std::memory_order_acquire)) {
      ++t.ws.protocol_errors;
      return;
    }
  }
  if (ts) {
    auto v = static_cast<std::uint64_t>(now - *ts);
    t.ws.delivery.record(v);
    t.interval_delivery.record(v);
    ++t.ws.delivered;
  } else if (!pool.noted_no_ts) {
    pool.noted_no_ts = true;
    t.notes.push_back("delivery events carry no ts: delivery latency not measured");
  }
  if (!seq) {
    if (!pool.noted_no_seq && t.shared->sc->publisher.enabled) {
      pool.noted_no_seq = true;
      t.notes.push_back("delivery events carry no seq: loss and ordering not measured");
    }
    return;
  }
  ++t.ws.sequenced;
  if (idx >= cs.symbols.size() || !cs.base_taken) return;
  auto& tr = cs.symbols[idx];
  auto s = static_cast<std::uint64_t>(*seq);
  if (s <= tr.base) return;  // published before the subscription was confirmed: may or may not come
  auto last = tr.seen ? tr.last : tr.base;
  if (s == last + 1) {
    tr.last = s;
  } else if (s > last + 1) {
    t.ws.lost += s - last - 1;
    tr.gaps.emplace_back(last + 1, s - 1);
    if (tr.gaps.size() > max_gaps) tr.gaps.erase(tr.gaps.begin());
    tr.last = s;
  } else if (fill_gap(tr, s)) {
    // An earlier gap counted this one lost; it arrived late instead.
    ++t.ws.out_of_order;
    if (t.ws.lost) --t.ws.lost;
  } else {
    ++t.ws.duplicates;  // delivered before (or before the subscription's base)
  }
  tr.seen = true;
}

enum class packet_action { none, pong, closed };

void count_received(thread_context& t) {
  ++t.ws.received;
  ++t.interval_ws_received;
  t.shared->live.ws_received.fetch_add(1, std::memory_order_relaxed);
}

// An Engine.IO packet type (0-6), and for a message (4) a Socket.IO one (0-6); "b…" is binary
// data over polling.
bool known_packet(std::string_view f) {
  if (f.empty()) return false;
  if (f[0] == 'b') return true;
  if (f[0] < '0' || f[0] > '6') return false;
  return f[0] != '4' || (f.size() > 1 && f[1] >= '0' && f[1] <= '6');
}

// One Engine.IO text packet received after the connect (either transport): counts, delivery, acks.
packet_action on_packet(thread_context& t, sio_pool& pool, client_state& cs, std::string_view f) {
  auto& sh = *t.shared;
  const auto& so = sh.sc->socketio;
  if (!known_packet(f)) {
    ++t.ws.protocol_errors;
    return packet_action::none;
  }
  count_received(t);
  if (f == "2") return packet_action::pong;
  if (f.starts_with("42")) {
    // 42["name",…] (an optional ack id would precede the '['; servers rarely ask clients).
    auto q1 = f.find('"');
    auto q2 = q1 == std::string_view::npos ? q1 : f.find('"', q1 + 1);
    if (q2 != std::string_view::npos) {
      auto name = f.substr(q1 + 1, q2 - q1 - 1);
      for (auto& [ev, n] : cs.expect_counts)
        if (ev == name) ++n;
      if (name == so.delivery_event) on_delivery(t, pool, cs, f.substr(q2 + 1));
      t.ws.count_event(name);  // allocates only for a new name
    }
  } else if (f.starts_with("43")) {
    unsigned id = 0;
    std::from_chars(f.data() + 2, f.data() + f.size(), id);
    for (auto it = cs.pending_acks.begin(); it != cs.pending_acks.end(); ++it)
      if (it->id == id) {
        auto lat = clock::now() - it->sent;
        if (lat > it->timeout)
          ++t.ws.ack_timeouts;
        else {
          ++t.ws.acks;
          t.ws.ack_latency.record(micros(lat));
          if (f.find("\"error\"") != std::string_view::npos) ++t.ws.ack_errors;
        }
        cs.pending_acks.erase(it);
        break;
      }
    if (cs.pending_acks.empty() && !cs.base_taken) take_base(t, cs);
  } else if (f.starts_with("41") || f.starts_with("1")) {
    return packet_action::closed;
  }
  return packet_action::none;
}

// What a client does when it leaves: events expected but missing, ticks never received.
void settle(thread_context& t, client_state& cs, bool server_closed) {
  auto& sh = *t.shared;
  const auto& so = sh.sc->socketio;
  t.ws.ack_timeouts += cs.pending_acks.size();
  for (const auto& e : so.expect)
    for (const auto& [ev, n] : cs.expect_counts)
      if (ev == e.event && n < e.min) ++t.ws.missing_events;
  // Ticks published but never received at the end are lost too.
  if (sh.sc->publisher.enabled && cs.base_taken)
    for (std::size_t i = 0; i < cs.symbols.size(); ++i) {
      auto& tr = cs.symbols[i];
      // A symbol the client subscribed to and never got a tick of lost every tick published
      // since its base (a subscription that silently failed counted nothing).
      if (!tr.seen && !tr.subscribed) continue;
      auto pub_last = sh.publisher_seq_snapshot[i].load(std::memory_order_acquire);
      const auto got = tr.seen ? tr.last : tr.base;
      if (pub_last > got) t.ws.lost += pub_last - got;
    }
  if (server_closed) ++t.ws.disconnects;
  --t.ws_open;
  sh.live.ws_connected.fetch_sub(1, std::memory_order_relaxed);
}

// The CONNECT packet (with the virtual user's token) and the emits of the scenario, as text.
std::string connect_packet(const shared_state& sh, std::size_t vu) {
  std::string out = "40";
  if (sh.sc->socketio.auth) {
    for (const auto& [k, v] : sh.vus[vu].vars)
      if (k == "token")
        out += nlohmann::json{{"token", v}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return out;
}

std::vector<std::string> emit_packets(thread_context& t, client_state& cs, std::size_t vu, std::uint64_t index) {
  auto& sh = *t.shared;
  std::vector<std::string> packets;
  unsigned ack_id = 0;
  template_context ctx;
  ctx.vu = vu;
  ctx.seq = index;
  ctx.run = sh.run_id;
  ctx.vars = &sh.vus[vu].vars;
  for (const auto& em : sh.sc->socketio.emit) {
    ctx.symbol = sh.sc->symbols[t.rng() % sh.sc->symbols.size()];
    std::string out = "42";
    if (em.ack) {
      out += std::to_string(ack_id);
      cs.pending_acks.push_back({ack_id++, clock::now(), std::chrono::duration_cast<clock::duration>(em.ack_timeout)});
    }
    out += "[\"";
    out += em.event;
    out += '"';
    std::string args;
    em.args.render(ctx, args);
    // A subscribe emit names the symbols whose ticks this client must then receive.
    if (is_subscribe_event(em.event)) {
      const auto& pub = sh.sc->publisher.symbols;
      for (std::size_t i = 0; i < cs.symbols.size() && i < pub.size(); ++i)
        if (args.find("\"" + pub[i] + "\"") != std::string::npos) cs.symbols[i].subscribed = true;
    }
    if (args.size() > 2) {  // "[...]" with something inside
      out += ',';
      out.append(args, 1, args.size() - 1);
    } else {
      out += ']';
    }
    packets.push_back(std::move(out));
  }
  return packets;
}

// When client `index` is due on the connect ramp.
clock::time_point slot_of(const shared_state& sh, std::uint64_t index) {
  return sh.start + std::chrono::duration_cast<clock::duration>(
                        std::chrono::duration<double>(index / sh.sc->socketio.connect_rate));
}

// Waits for the client's slot (recording the generator's lag); false when the run is already over.
asio::awaitable<bool> wait_for_slot(thread_context& t, clock::time_point intended) {
  auto& sh = *t.shared;
  if (intended > clock::now()) {
    asio::steady_timer timer(t.io);
    timer.expires_at(intended);
    co_await timer.async_wait(nothrow);
    t.gen.lag.record(micros(clock::now() - intended));
  }
  if (sh.stop || clock::now() >= sh.end) co_return false;
  ++t.ws.attempted;
  co_return true;
}

void connect_failed(thread_context& t, const char* kind) {
  ++t.ws.connect_errors;
  ++t.ws.connect_error_kinds[kind];
}

// Counts a client in once its CONNECT was answered; its state for the rest of the run.
client_state count_connected(thread_context& t, clock::time_point intended) {
  auto& sh = *t.shared;
  t.ws.connect_latency.record(micros(clock::now() - intended));
  ++t.ws.connected;
  ++t.ws_open;
  sh.live.ws_connected.fetch_add(1, std::memory_order_relaxed);
  client_state cs;
  cs.symbols.resize(std::min<std::size_t>(sh.sc->publisher.symbols.size(), 64));
  for (const auto& e : sh.sc->socketio.expect) cs.expect_counts.emplace_back(e.event, 0);
  return cs;
}

asio::awaitable<void> client(thread_context& t, std::shared_ptr<sio_pool> pool, std::uint64_t index) {
  auto& sh = *t.shared;
  const auto& so = sh.sc->socketio;
  const auto intended = slot_of(sh, index);
  const bool due = co_await wait_for_slot(t, intended);
  if (!due) co_return;
  // Clients stay until the publisher's last ticks had time to arrive, then leave.
  const auto leave_at = sh.end + (sh.deadline - sh.end) / 2;
  beast::tcp_stream s(t.io);
  auto fail = [&t](const char* kind) { connect_failed(t, kind); };
  s.expires_after(std::chrono::duration_cast<clock::duration>(so.connect_timeout));
  auto [cec, ep] = co_await s.async_connect(sh.endpoints, nothrow);
  if (cec) {
    fail(cec == beast::error::timeout ? "timeout" : "connect");
    co_return;
  }
  s.socket().set_option(asio::ip::tcp::no_delay(true));
  raw_frames frames;
  if (const char* why = co_await upgrade(s, sh, so.path + "?EIO=4&transport=websocket", frames); *why) {
    fail(why);
    co_return;
  }
  std::string_view f;
  // Engine.IO open, then the Socket.IO CONNECT to the default namespace.
  if (auto oec = co_await frames.next(s, f); oec || !open_sid(f)) {
    fail(oec == beast::error::timeout ? "timeout" : "protocol");
    co_return;
  }
  const auto vu = index % sh.vus.size();
  if (auto wec = co_await write_frame(s, t.rng, connect_packet(sh, vu)); wec) {
    fail(wec == beast::error::timeout ? "timeout" : "protocol");
    co_return;
  }
  for (;;) {
    auto rec = co_await frames.next(s, f);
    if (rec) {
      fail(rec == beast::error::timeout ? "timeout" : "protocol");
      co_return;
    }
    if (f == "2") {  // a ping before the connect answer
      co_await write_frame(s, t.rng, "3");
      continue;
    }
    if (f.starts_with("40")) break;
    if (f.starts_with("44")) {
      fail("refused");  // connect_error, e.g. a bad token
      co_return;
    }
    fail("protocol");
    co_return;
  }
  client_state cs = count_connected(t, intended);
  for (auto& packet : emit_packets(t, cs, vu, index))
    if (auto wec = co_await write_frame(s, t.rng, packet); wec) break;
  if (cs.pending_acks.empty()) take_base(t, cs);

  s.expires_at(leave_at);
  bool server_closed = false;
  for (;;) {
    auto rec = co_await frames.next(s, f);
    if (rec) {
      server_closed = rec != beast::error::timeout && clock::now() < leave_at;
      if (frames.bad) ++t.ws.protocol_errors;
      break;
    }
    if (frames.opcode == 2) {  // binary data (attachments): counted, not read
      count_received(t);
      continue;
    }
    switch (on_packet(t, *pool, cs, f)) {
      case packet_action::pong:
        co_await write_frame(s, t.rng, "3");
        break;
      case packet_action::closed:
        server_closed = true;
        break;
      case packet_action::none:
        break;
    }
    if (server_closed) break;
  }
  settle(t, cs, server_closed);
  // Leave cleanly: a close frame, and the server's answer to it (briefly).
  s.expires_after(std::chrono::seconds(1));
  if (frames.bad) co_return;
  const char normal[] = {0x03, static_cast<char>(0xe8)};  // 1000
  if (auto wec = co_await write_frame(s, t.rng, std::string_view(normal, 2), 8); wec) co_return;
  while (!co_await frames.next(s, f)) {
  }
}

// ---- HTTP long-polling transport ----

// One keep-alive HTTP/1.1 connection of a polling client (one for the long GETs, one for POSTs).
struct poll_conn {
  beast::tcp_stream s;
  beast::flat_buffer buf;
  bool open = false;
  explicit poll_conn(asio::io_context& io) : s(io) {}
};

// A GET or POST on `c` (connecting first when needed) that must finish by `deadline`; the body of a
// 200, else nullopt with `why` set ("timeout", "connect", "protocol", "status").
asio::awaitable<std::optional<std::string>> poll_request(const shared_state& sh, poll_conn& c, bhttp::verb verb,
                                                         std::string target, std::string body,
                                                         clock::time_point deadline, const char*& why) {
  if (!c.open) {
    c.s.expires_at(deadline);
    auto [cec, ep] = co_await c.s.async_connect(sh.endpoints, nothrow);
    if (cec) {
      why = cec == beast::error::timeout ? "timeout" : "connect";
      co_return std::nullopt;
    }
    c.s.socket().set_option(asio::ip::tcp::no_delay(true));
    c.open = true;
  }
  bhttp::request<bhttp::string_body> req{verb, target, 11};
  req.set(bhttp::field::host, sh.host_header);
  if (verb == bhttp::verb::post) {
    req.set(bhttp::field::content_type, "text/plain;charset=UTF-8");
    req.body() = std::move(body);
  }
  req.prepare_payload();
  c.s.expires_at(deadline);
  auto [wec, wn] = co_await bhttp::async_write(c.s, req, nothrow);
  bhttp::response<bhttp::string_body> res;
  beast::error_code rec = wec;
  if (!wec) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(16 << 20);
    auto [ec, n] = co_await bhttp::async_read(c.s, c.buf, parser, nothrow);
    rec = ec;
    if (!ec) res = parser.release();
  }
  if (rec) {
    why = rec == beast::error::timeout ? "timeout" : "protocol";
    c.s.close();
    c.open = false;
    c.buf.clear();
    co_return std::nullopt;
  }
  if (!res.keep_alive()) {
    c.s.close();
    c.open = false;
  }
  if (res.result() != bhttp::status::ok) {
    why = "status";
    co_return std::nullopt;
  }
  std::string out = std::move(res.body());
  co_return out;
}

// The packets of a polling payload (joined by the record separator).
std::vector<std::string_view> split_payload(std::string_view body) {
  std::vector<std::string_view> out;
  std::size_t p = 0;
  while (p <= body.size()) {
    auto e = body.find('\x1e', p);
    if (e == std::string_view::npos) e = body.size();
    if (e > p) out.push_back(body.substr(p, e - p));
    p = e + 1;
  }
  return out;
}

asio::awaitable<void> polling_client(thread_context& t, std::shared_ptr<sio_pool> pool, std::uint64_t index) {
  auto& sh = *t.shared;
  const auto& so = sh.sc->socketio;
  const auto intended = slot_of(sh, index);
  const bool due = co_await wait_for_slot(t, intended);
  if (!due) co_return;
  const auto leave_at = sh.end + (sh.deadline - sh.end) / 2;
  const auto connect_by = clock::now() + std::chrono::duration_cast<clock::duration>(so.connect_timeout);
  auto fail = [&t](const char* kind) { connect_failed(t, kind); };
  poll_conn get(t.io), post(t.io);
  const char* why = "protocol";
  const std::string base = so.path + "?EIO=4&transport=polling";
  auto open = co_await poll_request(sh, get, bhttp::verb::get, base, {}, connect_by, why);
  if (!open) {
    fail(why);
    co_return;
  }
  auto packets = split_payload(*open);
  auto sid = packets.empty() ? std::nullopt : open_sid(packets.front());
  if (!sid) {
    fail("protocol");
    co_return;
  }
  const std::string target = base + "&sid=" + *sid;
  const auto vu = index % sh.vus.size();
  auto sent = co_await poll_request(sh, post, bhttp::verb::post, target, connect_packet(sh, vu), connect_by, why);
  if (!sent) {
    fail(why);
    co_return;
  }
  // Polls until the CONNECT answer (pings before it are answered).
  bool connected = false;
  while (!connected) {
    auto body = co_await poll_request(sh, get, bhttp::verb::get, target, {}, connect_by, why);
    if (!body) {
      fail(why);
      co_return;
    }
    for (auto f : split_payload(*body)) {
      if (f == "2") {
        co_await poll_request(sh, post, bhttp::verb::post, target, "3", connect_by, why);
      } else if (f.starts_with("40")) {
        connected = true;
      } else if (f.starts_with("44")) {
        fail("refused");
        co_return;
      }
    }
  }
  client_state cs = count_connected(t, intended);
  std::string emits;
  for (auto& packet : emit_packets(t, cs, vu, index)) {
    if (!emits.empty()) emits += '\x1e';
    emits += packet;
  }
  if (!emits.empty()) co_await poll_request(sh, post, bhttp::verb::post, target, std::move(emits), leave_at, why);
  if (cs.pending_acks.empty()) take_base(t, cs);

  bool server_closed = false;
  while (!server_closed) {
    auto body = co_await poll_request(sh, get, bhttp::verb::get, target, {}, leave_at, why);
    if (!body) {
      server_closed = std::string_view(why) != "timeout" && clock::now() < leave_at;
      break;
    }
    for (auto f : split_payload(*body)) {
      auto action = on_packet(t, *pool, cs, f);
      if (action == packet_action::pong) {
        co_await poll_request(sh, post, bhttp::verb::post, target, "3", leave_at, why);
      } else if (action == packet_action::closed) {
        server_closed = true;
        break;
      }
    }
  }
  settle(t, cs, server_closed);
  // Leave cleanly: an Engine.IO close packet.
  co_await poll_request(sh, post, bhttp::verb::post, target, "1", clock::now() + std::chrono::seconds(1), why);
}

}  // namespace

void spawn_socketio(thread_context& t) {
  auto& sh = *t.shared;
  const auto& so = sh.sc->socketio;
  auto pool = std::make_shared<sio_pool>(t);
  for (std::uint64_t i = t.index; i < so.connections; i += sh.threads) {
    t.task_started();
    if (so.transport == "polling")
      asio::co_spawn(t.io, polling_client(t, pool, i), [&t](std::exception_ptr) { t.task_done(); });
    else
      asio::co_spawn(t.io, client(t, pool, i), [&t](std::exception_ptr) { t.task_done(); });
  }
}

}  // namespace zuperior::loadtest::detail
