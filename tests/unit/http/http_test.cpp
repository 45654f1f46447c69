#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <thread>
#include <vector>

#include "api/limits.hpp"
#include "http/client_ip.hpp"
#include "http/cors.hpp"
#include "http/error.hpp"

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
  http::cors_policy cors({"https://app.example/"});
  CHECK(cors.allowed("https://app.example"));
  CHECK_FALSE(cors.allowed("https://evil.example"));
  CHECK_FALSE(cors.allowed(""));
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

TEST_CASE("local sliding window: exactly the limit per window, previous window weighted") {
  config::ratelimit_settings s;
  s.strict = {10, std::chrono::milliseconds(10'000)};
  api::local_limiter l(s);
  std::int64_t t0 = 1'000'000'000'000;  // a window boundary (multiple of 10 s)
  int allowed = 0;
  for (int i = 0; i < 15; ++i) allowed += l.decide(api::tier::strict, "ip:1", t0 + i).allowed;
  CHECK(allowed == 10);
  auto d = l.decide(api::tier::strict, "ip:1", t0 + 100);
  CHECK_FALSE(d.allowed);
  CHECK(d.remaining == 0);
  CHECK(d.retry_after_s >= 1);
  // halfway through the next window half of the previous window still counts: 5 more allowed
  allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += l.decide(api::tier::strict, "ip:1", t0 + 15'000 + i).allowed;
  CHECK(allowed == 5);
  // other identifiers are independent
  CHECK(l.decide(api::tier::strict, "ip:2", t0 + 100).allowed);
}
