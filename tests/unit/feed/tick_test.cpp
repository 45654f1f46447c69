#include <catch2/catch.hpp>

#include "feed/tick.hpp"
#include "ws/local_limiter.hpp"
#include "ws/market_app.hpp"

using namespace zuperior;

TEST_CASE("market ticks parse strictly and encode once into the shared packet", "[tick]") {
  auto t = feed::parse_tick(R"({"symbol":"EURUSD","bid":1.0845,"ask":1.0847,"ts":1700000000000000})");
  REQUIRE(t);
  CHECK(t->symbol == "EURUSD");
  CHECK(t->bid == 1.0845);
  CHECK(t->ts == 1700000000000000);
  CHECK(feed::encode_market_update(*t) ==
        R"(42["market:update",{"symbol":"EURUSD","bid":1.0845,"ask":1.0847,"ts":1700000000000000}])");
  auto no_ts = feed::parse_tick(R"({"symbol":"X","bid":1,"ask":2})");
  REQUIRE(no_ts);
  CHECK(no_ts->ts > 0);
  CHECK_FALSE(feed::parse_tick(""));
  CHECK_FALSE(feed::parse_tick("[]"));
  CHECK_FALSE(feed::parse_tick(R"({"symbol":"EUR USD","bid":1,"ask":2})"));
  CHECK_FALSE(feed::parse_tick(R"({"symbol":"E\"U","bid":1,"ask":2})"));
  CHECK_FALSE(feed::parse_tick(R"({"symbol":"EURUSD","bid":"1","ask":2})"));
  CHECK_FALSE(feed::parse_tick(R"({"symbol":"EURUSD","ask":2})"));
  CHECK_FALSE(feed::parse_tick(R"({"symbol":"EURUSD","bid":1,"ask":2,"ts":"now"})"));
  CHECK_FALSE(feed::parse_tick(R"({"symbol":"EURUSD","bid":1,"ask":2,"ts":-5})"));
  CHECK_FALSE(feed::parse_tick(R"({"symbol":"","bid":1,"ask":2})"));
  // A publisher's sequence number is passed through for loss checks; anything but a count is refused.
  auto seq = feed::parse_tick(R"({"symbol":"EURUSD","bid":1,"ask":2,"ts":5,"seq":42})");
  REQUIRE(seq);
  CHECK(seq->seq == 42u);
  CHECK(feed::tick_json(*seq) == R"({"symbol":"EURUSD","bid":1,"ask":2,"ts":5,"seq":42})");
  CHECK_FALSE(t->seq);
  CHECK_FALSE(feed::parse_tick(R"({"symbol":"EURUSD","bid":1,"ask":2,"seq":-1})"));
  CHECK_FALSE(feed::parse_tick(R"({"symbol":"EURUSD","bid":1,"ask":2,"seq":"7"})"));
  CHECK_FALSE(feed::parse_tick(R"({"symbol":"EURUSD","bid":1,"ask":2,"seq":1.5})"));
  CHECK(feed::conflation_key("EURUSD") != 0);
  CHECK(feed::conflation_key("EURUSD") != feed::conflation_key("GBPUSD"));
}

TEST_CASE("account updates need an accountId and keep the snapshot", "[tick]") {
  auto u = feed::parse_account_update(R"({"accountId":"1001","balance":1000.5,"equity":1001})");
  REQUIRE(u);
  CHECK(u->account == "1001");
  CHECK(feed::encode_account_update(*u) ==
        R"(42["account:update",{"accountId":"1001","balance":1000.5,"equity":1001}])");
  auto n = feed::parse_account_update(R"({"accountId":42,"balance":1})");
  REQUIRE(n);
  CHECK(n->account == "42");
  CHECK_FALSE(feed::parse_account_update(R"({"balance":1})"));
  CHECK_FALSE(feed::parse_account_update(R"({"accountId":"../x"})"));
  CHECK_FALSE(feed::parse_account_update(R"({"accountId":true})"));
  CHECK_FALSE(feed::parse_account_update("nope"));
  // Nested a million deep (one PUBLISH): refused before the parser, whose dump would have recursed
  // until the stack overflowed. A snapshot with a few nested objects still passes.
  std::string deep = R"({"accountId":"1","x":)" + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}";
  CHECK_FALSE(feed::parse_account_update(deep));
  CHECK(feed::parse_account_update(R"({"accountId":"1","positions":[{"symbol":"EURUSD","legs":[{"q":1}]}]})"));
  // An object of 1,001 keys is refused (ordered_json compares each new key with every earlier one).
  std::string wide = R"({"accountId":"1")";
  for (int i = 0; i < 1000; ++i) wide += ",\"k" + std::to_string(i) + "\":0";
  CHECK_FALSE(feed::parse_account_update(wide + "}"));
  CHECK(feed::parse_account_update(wide.substr(0, wide.rfind(',')) + "}"));
  // Half an emoji, as JSON.stringify writes it, becomes U+FFFD instead of losing the update.
  auto half = feed::parse_account_update(R"({"accountId":"1","note":"ab\ud83d"})");
  REQUIRE(half);
  CHECK(half->json == "{\"accountId\":\"1\",\"note\":\"ab\xEF\xBF\xBD\"}");
}

TEST_CASE("symbol and account id validation", "[market]") {
  CHECK(ws::valid_symbol("EURUSD"));
  CHECK(ws::valid_symbol("BTC/USD"));
  CHECK(ws::valid_symbol("US30.cash"));
  CHECK_FALSE(ws::valid_symbol(""));
  CHECK_FALSE(ws::valid_symbol("EUR USD"));
  CHECK_FALSE(ws::valid_symbol(std::string(33, 'A')));
  CHECK_FALSE(ws::valid_symbol("A\"B"));
  CHECK(ws::valid_account_id("1001"));
  CHECK_FALSE(ws::valid_account_id("10 01"));
  CHECK_FALSE(ws::valid_account_id(std::string(65, '1')));
  CHECK(ws::market_room("EURUSD") == "market:EURUSD");
  CHECK(ws::account_room("1001") == "account:1001");
}

TEST_CASE("local limiter: sliding window per key", "[limiter]") {
  ws::local_limiter l(3, std::chrono::milliseconds(1000));
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::milliseconds(10'000'000));
  CHECK(l.allow("a", t0));
  CHECK(l.allow("a", t0));
  CHECK(l.allow("a", t0));
  CHECK_FALSE(l.allow("a", t0));
  CHECK(l.allow("b", t0));  // keys are independent
  // Half-way through the next window, half of the previous window still counts: 3*0.5 = 1.5, so one more.
  CHECK(l.allow("a", t0 + std::chrono::milliseconds(1500)));
  CHECK_FALSE(l.allow("a", t0 + std::chrono::milliseconds(1500)));
  // Two windows later everything is forgotten.
  CHECK(l.allow("a", t0 + std::chrono::milliseconds(3000)));
  ws::local_limiter off(0, std::chrono::milliseconds(1000));
  for (int i = 0; i < 100; ++i) CHECK(off.allow("x", t0));
}
