#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <boost/beast/http/write.hpp>
#include <catch2/catch.hpp>
#include <latch>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "api/limits.hpp"
#include "http/client_ip.hpp"
#include "http/cors.hpp"
#include "http/error.hpp"
#include "http/framing.hpp"
#include "http/message.hpp"
#include "http/server.hpp"
#include "http/target.hpp"

using namespace zuperior;

TEST_CASE("trusted proxies parse IPs and CIDRs and refuse garbage") {
  std::string bad;
  auto p = http::proxy_list::parse({"10.0.0.0/8", "::1", "192.168.1.7"}, &bad);
  REQUIRE(p);
  CHECK(p->contains("10.1.2.3"));
  CHECK(p->contains("::ffff:10.9.9.9"));  // IPv4-mapped peer
  CHECK(p->contains("::1"));
  CHECK(p->contains("192.168.1.7"));
  CHECK_FALSE(p->contains("192.168.1.8"));
  CHECK_FALSE(p->contains("11.0.0.1"));
  CHECK_FALSE(http::proxy_list::parse({"10.0.0.0/33"}, &bad));
  CHECK(bad == "10.0.0.0/33");
  CHECK_FALSE(http::proxy_list::parse({"example.com"}, &bad));
}

TEST_CASE("X-Forwarded-For is believed only from trusted proxies") {
  auto trusted = *http::proxy_list::parse({"127.0.0.1", "10.0.0.0/8"});
  // untrusted peer: the header is ignored
  CHECK(http::client_ip("198.51.100.7", "1.2.3.4", trusted) == "198.51.100.7");
  // trusted peer: the right-most untrusted hop
  CHECK(http::client_ip("127.0.0.1", "1.2.3.4", trusted) == "1.2.3.4");
  CHECK(http::client_ip("127.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.5", trusted) == "1.2.3.4");
  // garbage stops the walk at the last good hop
  CHECK(http::client_ip("127.0.0.1", "junk", trusted) == "127.0.0.1");
  CHECK(http::client_ip("127.0.0.1", "1.2.3.4, junk", trusted) == "127.0.0.1");
  // Whether the answer came from the header: also when it names the proxy's own address.
  bool from_header = true;
  CHECK(http::client_ip("127.0.0.1", "127.0.0.1", trusted, &from_header) == "127.0.0.1");
  CHECK(from_header);
  CHECK(http::client_ip("127.0.0.1", "junk", trusted, &from_header) == "127.0.0.1");
  CHECK_FALSE(from_header);
  CHECK(http::client_ip("198.51.100.7", "1.2.3.4", trusted, &from_header) == "198.51.100.7");
  CHECK_FALSE(from_header);
  // no proxies configured: always the peer
  CHECK(http::client_ip("127.0.0.1", "1.2.3.4", http::proxy_list{}) == "127.0.0.1");
  CHECK(http::normalize_ip("::ffff:1.2.3.4") == "1.2.3.4");
  CHECK(http::normalize_ip("nope").empty());
}

TEST_CASE("one function maps errors to statuses; bodies have the seed's shape") {
  CHECK(http::status_of(http::errc::validation) == http::status::bad_request);
  CHECK(http::status_of(http::errc::unsupported_media_type) == http::status::unsupported_media_type);
  CHECK(http::status_of(http::errc::payload_too_large) == http::status::payload_too_large);
  CHECK(http::status_of(http::errc::header_too_large) == http::status::request_header_fields_too_large);
  CHECK(http::status_of(http::errc::unavailable) == http::status::service_unavailable);
  CHECK(http::status_of(http::errc::conflict) == http::status::conflict);
  CHECK(http::error_body("Nope") == R"({"success":false,"message":"Nope"})");
  CHECK(http::error_body("Validation error", {{"email", "Invalid \"x\""}}) ==
        R"({"success":false,"message":"Validation error","errors":[{"field":"email","message":"Invalid \"x\""}]})");
}

TEST_CASE("CORS only for configured origins; request ids") {
  namespace bh = boost::beast::http;
  http::cors_policy cors({"https://app.example/"});
  CHECK(cors.allowed("https://app.example"));
  CHECK_FALSE(cors.allowed("https://evil.example"));
  CHECK_FALSE(cors.allowed(""));

  // Cookies authenticate only requests a page of another site cannot forge (the WebSocket handshake
  // is outside CORS): no Origin, a listed one, or the Host's own host; "*" does not vouch for them.
  auto req = [](std::string_view origin, std::string_view host) {
    http::request r{bh::verb::get, "/socket.io/?EIO=4&transport=websocket", 11};
    if (!origin.empty()) r.set(bh::field::origin, origin);
    if (!host.empty()) r.set(bh::field::host, host);
    return r;
  };
  CHECK(cors.cookie_allowed(req("", "api.example")));
  CHECK(cors.cookie_allowed(req("https://app.example", "api.example")));
  CHECK(cors.cookie_allowed(req("https://API.example:8443", "api.example")));
  CHECK(cors.cookie_allowed(req("http://[::1]:8080", "[::1]:8080")));
  CHECK_FALSE(cors.cookie_allowed(req("https://evil.example", "api.example")));
  CHECK_FALSE(cors.cookie_allowed(req("https://api.example.evil.example", "api.example")));
  CHECK_FALSE(cors.cookie_allowed(req("null", "api.example")));
  CHECK_FALSE(cors.cookie_allowed(req("https://evil.example", "")));
  // Behind a proxy that says the request came over https, a plain-http page of the host is refused.
  auto tls = req("http://api.example", "api.example");
  tls.set("X-Forwarded-Proto", "https");
  CHECK_FALSE(cors.cookie_allowed(tls));
  tls.set(bh::field::origin, "https://api.example");
  CHECK(cors.cookie_allowed(tls));
  http::cors_policy any({"*"});
  CHECK(any.allowed("https://evil.example"));
  CHECK_FALSE(any.cookie_allowed(req("https://evil.example", "api.example")));

  CHECK(http::valid_request_id("abc-123.x:y_z"));
  CHECK_FALSE(http::valid_request_id("has space"));
  CHECK_FALSE(http::valid_request_id(std::string(129, 'a')));
  auto a = http::new_request_id(), b = http::new_request_id();
  CHECK(a.size() == 16);
  CHECK(a != b);
  // Unique across threads too (each counts in its own stride).
  std::vector<std::vector<std::string>> per(4);
  std::vector<std::thread> ts;
  for (auto& v : per)
    ts.emplace_back([&v] {
      for (int i = 0; i < 5000; ++i) v.push_back(http::new_request_id());
    });
  for (auto& t : ts) t.join();
  std::set<std::string> all;
  for (auto& v : per) all.insert(v.begin(), v.end());
  CHECK(all.size() == 20000);
  CHECK(std::all_of(all.begin(), all.end(), [](const std::string& id) { return http::valid_request_id(id); }));
}

namespace {
namespace bh = boost::beast::http;

// What the server sent before serialize_response: Beast's own keep_alive/prepare_payload/serializer.
std::string beast_wire(http::response res, std::string_view rid, bool keep, bool head) {
  res.set("X-Request-Id", rid);
  res.keep_alive(keep);
  res.prepare_payload();
  if (head) res.body().clear();
  std::ostringstream os;
  os << res;
  return os.str();
}

std::string ours(http::response res, std::string_view rid, bool keep, bool head) {
  std::string out = "left over";  // appends, never clears
  http::serialize_response(out, res, rid, keep, head);
  REQUIRE(out.rfind("left over", 0) == 0);
  return out.substr(9);
}

// Status line, header fields as a sorted list (order carries no meaning), body.
struct wire {
  std::string status;
  std::vector<std::string> fields;
  std::string body;
  bool operator==(const wire& o) const { return status == o.status && fields == o.fields && body == o.body; }
};

wire split(const std::string& s) {
  wire w;
  auto end = s.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  w.body = s.substr(end + 4);
  std::string head = s.substr(0, end + 2);
  std::size_t pos = head.find("\r\n");
  w.status = head.substr(0, pos);
  pos += 2;
  while (pos < head.size()) {
    auto next = head.find("\r\n", pos);
    w.fields.push_back(head.substr(pos, next - pos));
    pos = next + 2;
  }
  std::sort(w.fields.begin(), w.fields.end());
  return w;
}

http::response json_res(unsigned version, http::status code, std::string body) {
  http::request req{bh::verb::get, "/x", version};
  return http::json_response(req, code, std::move(body));
}
}  // namespace

TEST_CASE("serialize_response sends what Beast's serializer sent, field order aside") {
  for (unsigned version : {10u, 11u})
    for (bool keep : {true, false})
      for (bool head : {false, true}) {
        INFO("HTTP/" << version << " keep=" << keep << " head=" << head);
        auto res = json_res(version, http::status::ok, "{\"status\":\"ok\"}");
        CHECK(split(ours(res, "rid-1", keep, head)) == split(beast_wire(res, "rid-1", keep, head)));
      }
  // Rate-limit and CORS headers, a custom reason, a handler's own X-Request-Id (replaced).
  auto res = json_res(11, http::status::too_many_requests, "{\"success\":false}");
  res.set("Retry-After", "3");
  res.set("X-RateLimit-Limit", "100");
  res.set(bh::field::access_control_allow_origin, "https://app.example");
  res.set("x-request-id", "from-handler");
  CHECK(split(ours(res, "abc", true, false)) == split(beast_wire(res, "abc", true, false)));
  res.reason("Slow Down");
  CHECK(split(ours(res, "abc", false, false)) == split(beast_wire(res, "abc", false, false)));
  // 204 preflight: Content-Length 0 as prepare_payload set it.
  auto pre = json_res(11, http::status::no_content, "");
  CHECK(split(ours(pre, "p", true, false)) == split(beast_wire(pre, "p", true, false)));
  // A Connection or Transfer-Encoding header a handler set goes through Beast's own rules.
  for (bool keep : {true, false}) {
    auto odd = json_res(11, http::status::ok, "body");
    odd.set(bh::field::connection, "upgrade");
    odd.set(bh::field::transfer_encoding, "chunked");
    CHECK(split(ours(odd, "o", keep, false)) == split(beast_wire(odd, "o", keep, false)));
  }
}

TEST_CASE("serialize_response: exact bytes, HEAD keeps the GET's Content-Length, bad bodies refused") {
  auto res = json_res(11, http::status::ok, "{}");
  CHECK(ours(res, "r1", true, false) ==
        "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nX-Request-Id: r1\r\n"
        "Content-Length: 2\r\n\r\n{}");
  CHECK(ours(res, "r1", false, true) ==
        "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nX-Request-Id: r1\r\n"
        "Connection: close\r\nContent-Length: 2\r\n\r\n");
  auto old = json_res(10, http::status::not_found, "nope");
  CHECK(ours(old, "r2", true, false) ==
        "HTTP/1.0 404 Not Found\r\nContent-Type: application/json; charset=utf-8\r\nX-Request-Id: r2\r\n"
        "Connection: keep-alive\r\nContent-Length: 4\r\n\r\nnope");
  auto bad = json_res(11, http::status::no_content, "x");
  std::string out;
  CHECK_THROWS_AS(http::serialize_response(out, bad, "r", true, false), std::invalid_argument);
}

TEST_CASE("rate-limit headers: X-RateLimit-* and the IETF draft's fields, none when not applied") {
  api::decision d;
  d.applied = true;
  d.limit = 100;
  d.remaining = 42;
  d.window = std::chrono::minutes(1);
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                 .count();
  d.reset_ms = now + 40'000;  // the deciding clock (Redis') 10 s ahead of this host's
  d.reset_after_ms = 29'001;
  auto res = json_res(11, http::status::ok, "{}");
  api::add_rate_headers(res, d, api::tier::standard);
  CHECK(res["X-RateLimit-Limit"] == "100");
  CHECK(res["X-RateLimit-Remaining"] == "42");
  CHECK(res["X-RateLimit-Reset"] == std::to_string(now + 40'000));
  CHECK(res["RateLimit-Policy"] == "\"standard\";q=100;w=60");
  CHECK(res["RateLimit"] == "\"standard\";r=42;t=30");
  d.applied = false;
  auto plain = json_res(11, http::status::ok, "{}");
  api::add_rate_headers(plain, d, api::tier::standard);
  CHECK(plain.find("X-RateLimit-Limit") == plain.end());
  CHECK(plain.find("RateLimit") == plain.end());
}

TEST_CASE("origin_form: absolute-form targets lose scheme and authority, others stay") {
  CHECK(http::origin_form("/livez") == "/livez");
  CHECK(http::origin_form("/a?b=c") == "/a?b=c");
  CHECK(http::origin_form("http://x/livez") == "/livez");
  CHECK(http::origin_form("https://user@example.com:8443/socket.io/?EIO=4") == "/socket.io/?EIO=4");
  CHECK(http::origin_form("http://example.com") == "/");
  CHECK(http::origin_form("http://example.com?x=1") == "?x=1");  // no path: matches no route
  CHECK(http::origin_form("*") == "*");
  CHECK(http::origin_form("example.com:443") == "example.com:443");  // CONNECT's authority-form
  CHECK(http::origin_form("://x/y") == "://x/y");
  CHECK(http::origin_form("ht tp://x/y") == "ht tp://x/y");
  CHECK(http::origin_form("") == "");
}

TEST_CASE("classify_transfer_encoding: only a single, final chunked is decoded (RFC 9112 6.1)") {
  using http::classify_transfer_encoding;
  using tc = http::transfer_coding;
  CHECK(classify_transfer_encoding("chunked") == tc::chunked);
  CHECK(classify_transfer_encoding(" Chunked\t") == tc::chunked);
  CHECK(classify_transfer_encoding(", ,chunked,") == tc::chunked);  // empty list elements are ignored
  CHECK(classify_transfer_encoding("gzip, chunked") == tc::unsupported);
  CHECK(classify_transfer_encoding("gzip,chunked") == tc::unsupported);  // two fields, joined
  // The body's length is unknown: chunked not last, absent, doubled, with a parameter, or no value.
  CHECK(classify_transfer_encoding("identity") == tc::bad);
  CHECK(classify_transfer_encoding("chunked, gzip") == tc::bad);
  CHECK(classify_transfer_encoding("chunked, chunked") == tc::bad);
  CHECK(classify_transfer_encoding("chunked;x=1") == tc::bad);
  CHECK(classify_transfer_encoding("chunkedx") == tc::bad);
  CHECK(classify_transfer_encoding("") == tc::bad);
  CHECK(classify_transfer_encoding(" , ") == tc::bad);
}

namespace {
// A port nothing listens on right now: bind port 0 on loopback, read it, close.
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}
}  // namespace

TEST_CASE("two servers starting at the same instant on one port: exactly one listens") {
  // With SO_REUSEPORT the second server's workers could join the first one's listener group and
  // quietly take part of its connections, if both passed the port check before either listened.
  zuperior::config::server_settings s;
  s.host = "127.0.0.1";
  s.port = free_port();
  s.workers = 2;
  auto routes = std::make_shared<const http::router>();
  int both = 0, none = 0;
  for (int round = 0; round < 200; ++round) {
    http::server a(s, routes), b(s, routes);
    std::latch go(2);
    std::atomic<int> started{0};
    auto run = [&](http::server& srv) {
      go.arrive_and_wait();
      try {
        srv.start();
        ++started;
      } catch (const std::exception&) {
      }
    };
    std::thread ta(run, std::ref(a)), tb(run, std::ref(b));
    ta.join();
    tb.join();
    both += started == 2;
    none += started == 0;
  }
  CHECK(both == 0);
  CHECK(none == 0);
}
