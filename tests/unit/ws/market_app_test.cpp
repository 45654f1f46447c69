#include <catch2/catch.hpp>
#include <cctype>
#include <set>
#include <string>

#include "ws/market_app.hpp"
#include "ws/session.hpp"

using namespace zuperior::ws;

TEST_CASE("the error event repeats at most 64 bytes of an unknown event's name") {
  CHECK(echoed_event_name("subscribe:acount") == "subscribe:acount");
  CHECK(echoed_event_name("") == "");
  const std::string exact(max_echoed_event_name, 'e');
  CHECK(echoed_event_name(exact) == exact);
  // A 1 MB name (the payload limit) once came back whole in every error event.
  const std::string huge(1'000'000, 'e');
  CHECK(echoed_event_name(huge) == exact);
  // Never half a character: a 3-byte character straddling the cut is dropped whole.
  const std::string euro = "\xE2\x82\xAC";
  const std::string straddle = std::string(max_echoed_event_name - 1, 'x') + euro;
  CHECK(echoed_event_name(straddle) == std::string(max_echoed_event_name - 1, 'x'));
  const std::string all_multibyte = [&] {
    std::string s;
    for (int i = 0; i < 40; ++i) s += euro;
    return s;
  }();
  const auto cut = echoed_event_name(all_multibyte);
  CHECK(cut.size() == 63);
  CHECK(cut.size() % 3 == 0);
}

TEST_CASE("subscribe:account and unsubscribe:account read the account id alike") {
  CHECK(account_arg(json::array({"1001"})) == "1001");
  CHECK(account_arg(json::array({1001})) == "1001");  // MT5 logins often arrive as numbers
  CHECK(account_arg(json::array({"1001", "extra"})) == "1001");
  CHECK(account_arg(json::array()) == "");
  CHECK(account_arg(json::array({1.5})) == "");
  CHECK(account_arg(json::array({nullptr})) == "");
  CHECK(account_arg(json::array({json::object()})) == "");
  CHECK_FALSE(valid_account_id(account_arg(json::array({true}))));
}

TEST_CASE("account rooms: named from an account id, and the id read back only from an account room") {
  CHECK(account_room("1001") == "account:1001");
  CHECK(account_in_room(account_room("1001")) == "1001");
  CHECK(account_in_room(market_room("EURUSD")).empty());
  CHECK(account_in_room("account").empty());
  CHECK(account_in_room("").empty());
}

TEST_CASE("random_token: session ids of the URL-safe alphabet, every symbol used, none repeated") {
  std::set<std::string> seen;
  std::set<char> symbols;
  for (int i = 0; i < 5000; ++i) {
    auto t = zuperior::ws::random_token(18);
    REQUIRE(t.size() == 18);
    for (char c : t) {
      CHECK((std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'));
      symbols.insert(c);
    }
    seen.insert(std::move(t));
  }
  CHECK(seen.size() == 5000);
  CHECK(symbols.size() == 64);
  CHECK(zuperior::ws::random_token(0).empty());
}
