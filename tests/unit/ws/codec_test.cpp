#include <catch2/catch.hpp>

#include "ws/base64.hpp"
#include "ws/eio_codec.hpp"
#include "ws/sio_codec.hpp"

using namespace zuperior::ws;

TEST_CASE("base64 round-trips and rejects bad input", "[base64]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("\x01\x02\x03\x04") == "AQIDBA==");
  CHECK(base64_encode("ab") == "YWI=");
  CHECK(base64_encode("abc") == "YWJj");
  CHECK(base64_decode("AQIDBA==") == std::string("\x01\x02\x03\x04"));
  CHECK(base64_decode("AQIDBA") == std::string("\x01\x02\x03\x04"));
  CHECK(base64_decode("") == std::string());
  CHECK_FALSE(base64_decode("A"));
  CHECK_FALSE(base64_decode("AQ=I"));
  CHECK_FALSE(base64_decode("AQIDBA="));    // padding with a bad length
  CHECK_FALSE(base64_decode("AQID BA=="));  // space
  CHECK_FALSE(base64_decode("====="));
  CHECK_FALSE(base64_decode("\xff\xfe"));
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 7) {
    const auto part = all.substr(0, n);
    CHECK(base64_decode(base64_encode(part)) == part);
  }
}

TEST_CASE("Engine.IO text packets", "[eio]") {
  auto p = eio_decode_text("4hello");
  REQUIRE(p);
  CHECK(p->type == eio_type::message);
  CHECK(p->data == "hello");
  CHECK_FALSE(p->binary);
  CHECK(eio_decode_text("2probe")->type == eio_type::ping);
  CHECK(eio_decode_text("2probe")->data == "probe");
  CHECK(eio_decode_text("6")->type == eio_type::noop);
  CHECK(eio_decode_text("0")->type == eio_type::open);
  CHECK_FALSE(eio_decode_text(""));
  CHECK_FALSE(eio_decode_text("7"));
  CHECK_FALSE(eio_decode_text("abc"));
  CHECK_FALSE(eio_decode_text("/"));
  CHECK_FALSE(eio_decode_text(std::string_view("\0", 1)));
  CHECK(eio_encode_text({eio_type::pong, "probe", false}) == "3probe");
  CHECK(eio_encode_text({eio_type::message, "42[\"a\"]", false}) == "442[\"a\"]");
  auto b = eio_decode_binary(std::string_view("\x01\x02", 2));
  CHECK(b.binary);
  CHECK(b.type == eio_type::message);
  CHECK(b.data == std::string("\x01\x02"));
}

TEST_CASE("Engine.IO polling payloads", "[eio]") {
  auto ps = eio_decode_payload(
      "4hello\x1e"
      "4world\x1e"
      "bAQIDBA==");
  REQUIRE(ps);
  REQUIRE(ps->size() == 3);
  CHECK((*ps)[0] == eio_packet{eio_type::message, "hello", false});
  CHECK((*ps)[1] == eio_packet{eio_type::message, "world", false});
  CHECK((*ps)[2] == eio_packet{eio_type::message, std::string("\x01\x02\x03\x04"), true});
  CHECK(eio_decode_payload("2")->size() == 1);
  CHECK(eio_decode_payload("1")->front().type == eio_type::close);
  // Malformed payloads are refused as a whole.
  CHECK_FALSE(eio_decode_payload(""));
  CHECK_FALSE(eio_decode_payload("abc"));
  CHECK_FALSE(eio_decode_payload("4a\x1e"));
  CHECK_FALSE(
      eio_decode_payload("\x1e"
                         "4a"));
  CHECK_FALSE(
      eio_decode_payload("4a\x1e\x1e"
                         "4b"));
  CHECK_FALSE(eio_decode_payload("b!!!"));
  CHECK_FALSE(
      eio_decode_payload("4a\x1e"
                         "9"));
  CHECK_FALSE(eio_decode_payload("8:4hello"));  // EIO v3 framing with a length prefix
  // Packet count limit.
  std::string many;
  for (int i = 0; i < 20; ++i) many += (i ? "\x1e" : "") + std::string("2");
  CHECK(eio_decode_payload(many, 20));
  CHECK_FALSE(eio_decode_payload(many, 19));
  // Encoding.
  CHECK(eio_encode_payload_element({eio_type::message, "\x01\x02\x03\x04", true}) == "bAQIDBA==");
  CHECK(eio_encode_payload_element({eio_type::ping, "", false}) == "2");
  CHECK(eio_join_payload({"4a", "4b", "bAQ=="}) ==
        "4a\x1e"
        "4b\x1e"
        "bAQ==");
  CHECK(eio_join_payload({}) == "");
  CHECK(eio_join_payload({"6"}) == "6");
}

TEST_CASE("Engine.IO error bodies", "[eio]") {
  CHECK(eio_error_body(eio_error::unknown_transport) == R"({"code":0,"message":"Transport unknown"})");
  CHECK(eio_error_body(eio_error::unknown_sid) == R"({"code":1,"message":"Session ID unknown"})");
  CHECK(eio_error_body(eio_error::bad_handshake_method) == R"({"code":2,"message":"Bad handshake method"})");
  CHECK(eio_error_body(eio_error::bad_request) == R"({"code":3,"message":"Bad request"})");
  CHECK(eio_error_body(eio_error::forbidden) == R"({"code":4,"message":"Forbidden"})");
  CHECK(eio_error_body(eio_error::unsupported_protocol_version) ==
        R"({"code":5,"message":"Unsupported protocol version"})");
}

namespace {
sio_packet decode_one(std::string_view text) {
  sio_decoder d;
  REQUIRE(d.feed_text(text) == sio_decoder::status::packet);
  return d.take();
}
sio_error decode_error(std::string_view text) {
  sio_decoder d;
  REQUIRE(d.feed_text(text) == sio_decoder::status::error);
  return d.error();
}
}  // namespace

TEST_CASE("Socket.IO CONNECT, DISCONNECT, CONNECT_ERROR", "[sio]") {
  auto p = decode_one("0");
  CHECK(p.type == sio_type::connect);
  CHECK(p.nsp == "/");
  CHECK_FALSE(p.has_data());
  p = decode_one(R"(0{"token":"123"})");
  CHECK(p.data["token"] == "123");
  p = decode_one("0/custom,");
  CHECK(p.nsp == "/custom");
  p = decode_one("0/custom");
  CHECK(p.nsp == "/custom");
  p = decode_one(R"(0/custom,{"token":"abc"})");
  CHECK(p.nsp == "/custom");
  CHECK(p.data["token"] == "abc");
  p = decode_one("0/admin?x=1,");
  CHECK(p.nsp == "/admin");
  CHECK(decode_error("0[]") == sio_error::bad_payload);
  CHECK(decode_error(R"(0"x")") == sio_error::bad_payload);
  CHECK(decode_one("1").type == sio_type::disconnect);
  CHECK(decode_one("1/custom,").nsp == "/custom");
  CHECK(decode_error("1{}") == sio_error::bad_payload);
  p = decode_one(R"(4{"message":"Invalid namespace"})");
  CHECK(p.type == sio_type::connect_error);
  CHECK(decode_error("4") == sio_error::bad_payload);

  sio_packet out;
  out.type = sio_type::connect;
  out.data = json{{"sid", "abc"}};
  CHECK(sio_encode_text(out) == R"(0{"sid":"abc"})");
  out.nsp = "/custom";
  CHECK(sio_encode_text(out) == R"(0/custom,{"sid":"abc"})");
  out.type = sio_type::connect_error;
  out.nsp = "/random";
  out.data = json{{"message", "Invalid namespace"}};
  CHECK(sio_encode_text(out) == R"(4/random,{"message":"Invalid namespace"})");
  out = {};
  out.type = sio_type::disconnect;
  CHECK(sio_encode_text(out) == "1");
}

TEST_CASE("Socket.IO EVENT and ACK", "[sio]") {
  auto p = decode_one(R"(2["message",1,"2",{"3":[true]}])");
  CHECK(p.type == sio_type::event);
  CHECK_FALSE(p.id);
  CHECK(p.data.dump() == R"(["message",1,"2",{"3":[true]}])");
  p = decode_one(R"(2456["message-with-ack",1])");
  REQUIRE(p.id);
  CHECK(*p.id == 456);
  p = decode_one(R"(2/custom,7["x"])");
  CHECK(p.nsp == "/custom");
  CHECK(*p.id == 7);
  p = decode_one(R"(3456[1,"2"])");
  CHECK(p.type == sio_type::ack);
  CHECK(*p.id == 456);
  CHECK(decode_error("3[1]") == sio_error::bad_payload);  // ack without id
  CHECK(decode_error("2{}") == sio_error::bad_payload);
  CHECK(decode_error("2[]") == sio_error::bad_payload);
  CHECK(decode_error("2") == sio_error::bad_payload);
  CHECK(decode_error("2[{}]") == sio_error::bad_payload);
  // Names the reference parser keeps for its own local events are refused, as it refuses them.
  for (const char* name : {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"})
    CHECK(decode_error(std::string("2[\"") + name + "\"]") == sio_error::bad_payload);
  CHECK(decode_one(R"(2["disconnected"])").data[0] == "disconnected");
  // A binary header whose payload cannot become a packet fails before any attachment arrives.
  CHECK(decode_error("51-") == sio_error::bad_payload);
  CHECK(decode_error(R"(51-{"_placeholder":true,"num":0})") == sio_error::bad_payload);
  CHECK(decode_error(R"(61-[{"_placeholder":true,"num":0}])") == sio_error::bad_payload);  // binary ack without id
  CHECK(decode_error(R"(2abc["message-with-ack",1])") == sio_error::bad_json);
  CHECK(decode_error(R"(2["unterminated)") == sio_error::bad_json);
  CHECK(decode_error("21234567890123456[\"x\"]") == sio_error::bad_id);
  CHECK(decode_error("abc") == sio_error::bad_type);
  CHECK(decode_error("7") == sio_error::bad_type);
  CHECK(decode_error("") == sio_error::empty);
  CHECK(decode_error(std::string(100, '[')) == sio_error::bad_type);
  CHECK(decode_error("2" + std::string(100, '[') + std::string(100, ']')) == sio_error::too_deep);
  CHECK(decode_error("0/" + std::string(300, 'a') + ",") == sio_error::bad_namespace);

  sio_packet out;
  out.type = sio_type::event;
  out.data = json::array({"message-back", 1, "2", json{{"3", json::array({true})}}});
  CHECK(sio_encode_text(out) == R"(2["message-back",1,"2",{"3":[true]}])");
  out.type = sio_type::ack;
  out.id = 456;
  out.data = json::array({1, "2"});
  CHECK(sio_encode_text(out) == R"(3456[1,"2"])");
  out.nsp = "/custom";
  CHECK(sio_encode_text(out) == R"(3/custom,456[1,"2"])");
}

TEST_CASE("JSON payloads are measured before they are parsed", "[sio]") {
  auto shape = measure_json(R"({"a":{"b":1,"c":[{"d":2,"e":3,"f":4}]},"g":"x:y:z"})");
  CHECK(shape.depth == 4);
  CHECK(shape.members == 3);  // the innermost object; ':' inside a string is not a member
  CHECK_FALSE(shape.lone_surrogates);
  CHECK(measure_json(R"(["a:b",{"k":[1,2,3]}])").members == 1);
  CHECK(measure_json(R"("\"{[:")").depth == 0);  // an escaped quote does not end the string

  // One object of n keys costs the ordered parser n²/2 comparisons: a 1 MB CONNECT of 125,000
  // keys held a worker for seconds before the token was even looked at. Refused past 1,000.
  std::string keys = "0{";
  for (int i = 0; i < 1001; ++i) keys += (i ? ",\"" : "\"") + std::to_string(i) + "\":0";
  CHECK(decode_error(keys + "}") == sio_error::too_many_members);
  keys = keys.substr(0, keys.rfind(','));
  CHECK(decode_one(keys + "}").data.size() == 1000);
  // Many objects of 1,000 keys each cost as much together: the total is capped too (140 of them,
  // 1 MB, were 70 million comparisons).
  std::string wide = "{";
  for (int i = 0; i < 1000; ++i) wide += (i ? ",\"" : "\"") + std::to_string(i) + "\":0";
  wide += "}";
  std::string several = "0{";
  for (int i = 0; i < 10; ++i) several += (i ? ",\"o" : "\"o") + std::to_string(i) + "\":" + wide;
  CHECK(decode_error(several + "}") == sio_error::too_many_members);
  CHECK(measure_json(wide).member_cost == 1000 * 999 / 2);
  // Many small objects are fine: the limit is per object.
  std::string many = R"(2["x",[)";
  for (int i = 0; i < 2000; ++i) many += std::string(i ? "," : "") + R"({"a":1,"b":2})";
  CHECK(decode_one(many + "]]").data[1].size() == 2000);
}

TEST_CASE("unpaired surrogate escapes are read as U+FFFD, as JSON.parse keeps them", "[sio]") {
  // socket.emit("x", "ab\uD83D") in a browser sends the lone high half escaped; the whole packet
  // used to fail and the session was closed.
  auto p = decode_one(R"(2["x","ab\ud83d"])");
  CHECK(p.data[1] == "ab\xEF\xBF\xBD");
  p = decode_one(R"(2["x","\uDE00z","\ud83d\ud83d\ude00"])");  // a lone low half; high, then a pair
  CHECK(p.data[1] == "\xEF\xBF\xBDz");
  CHECK(p.data[2] == "\xEF\xBF\xBD\xF0\x9F\x98\x80");
  p = decode_one(R"(2["x","\ud83d\ude00","\\ud83d"])");  // a pair; an escaped backslash, then text
  CHECK(p.data[1] == "\xF0\x9F\x98\x80");
  CHECK(p.data[2] == "\\ud83d");
  CHECK_FALSE(measure_json(R"(["\ud83d\ude00","\\ud83d"])").lone_surrogates);
  CHECK(replace_lone_surrogates(R"(["\ud83d",1])") == R"(["\uFFFD",1])");
}

TEST_CASE("Socket.IO binary attachments", "[sio]") {
  sio_decoder d;
  REQUIRE(d.feed_text(R"(52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])") ==
          sio_decoder::status::need_more);
  CHECK(d.awaiting_attachments());
  REQUIRE(d.feed_binary("\x01\x02\x03") == sio_decoder::status::need_more);
  REQUIRE(d.feed_binary("\x04\x05\x06") == sio_decoder::status::packet);
  auto p = d.take();
  CHECK(p.type == sio_type::event);
  REQUIRE(p.data[1].is_binary());
  CHECK(std::string(p.data[1].get_binary().begin(), p.data[1].get_binary().end()) == "\x01\x02\x03");
  CHECK(std::string(p.data[2].get_binary().begin(), p.data[2].get_binary().end()) == "\x04\x05\x06");

  // Re-encoding puts placeholders back in the same order.
  p.data[0] = "message-back";
  auto frames = sio_encode(p);
  CHECK(frames.text == R"(52-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
  REQUIRE(frames.attachments.size() == 2);
  CHECK(frames.attachments[0] == "\x01\x02\x03");

  // Binary ack with an id and a namespace.
  REQUIRE(d.feed_text(R"(61-/custom,789[{"_placeholder":true,"num":0}])") == sio_decoder::status::need_more);
  REQUIRE(d.feed_binary("xy") == sio_decoder::status::packet);
  p = d.take();
  CHECK(p.type == sio_type::ack);
  CHECK(p.nsp == "/custom");
  CHECK(*p.id == 789);
  frames = sio_encode(p);
  CHECK(frames.text == R"(61-/custom,789[{"_placeholder":true,"num":0}])");

  // Nested binary inside objects.
  sio_packet nested;
  nested.data = json::array({"e", json{{"a", json::array({json::binary({1, 2})})}}});
  frames = sio_encode(nested);
  CHECK(frames.text == R"(51-["e",{"a":[{"_placeholder":true,"num":0}]}])");
}

TEST_CASE("Socket.IO malformed binary sequences", "[sio]") {
  sio_decoder d;
  CHECK(d.feed_binary("x") == sio_decoder::status::error);
  CHECK(d.error() == sio_error::unexpected_binary);
  // Placeholder number out of range.
  REQUIRE(d.feed_text(R"(51-["m",{"_placeholder":true,"num":1}])") == sio_decoder::status::need_more);
  CHECK(d.feed_binary("x") == sio_decoder::status::error);
  CHECK(d.error() == sio_error::bad_placeholder);
  // An attachment never referenced.
  REQUIRE(d.feed_text(R"(52-["m",{"_placeholder":true,"num":0}])") == sio_decoder::status::need_more);
  CHECK(d.feed_binary("x") == sio_decoder::status::need_more);
  CHECK(d.feed_binary("y") == sio_decoder::status::error);
  // The same attachment referenced twice.
  REQUIRE(d.feed_text(R"(52-["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}])") ==
          sio_decoder::status::need_more);
  CHECK(d.feed_binary("x") == sio_decoder::status::need_more);
  CHECK(d.feed_binary("y") == sio_decoder::status::error);
  // A text frame while attachments are pending.
  REQUIRE(d.feed_text(R"(51-["m",{"_placeholder":true,"num":0}])") == sio_decoder::status::need_more);
  CHECK(d.feed_text(R"(2["x"])") == sio_decoder::status::error);
  CHECK_FALSE(d.awaiting_attachments());
  // Bad attachment counts.
  CHECK(d.feed_text(R"(5-["m"])") == sio_decoder::status::error);
  CHECK(d.feed_text(R"(51["m"])") == sio_decoder::status::error);
  CHECK(d.feed_text(R"(59999999-["m"])") == sio_decoder::status::error);
  CHECK(d.feed_text(R"(5100-["m"])") == sio_decoder::status::error);  // over max_attachments
  // A binary packet announcing zero attachments is a plain event.
  REQUIRE(d.feed_text(R"(50-["m"])") == sio_decoder::status::packet);
  CHECK(d.take().type == sio_type::event);
  // Binary event without payload: refused at the header, as the reference parser does.
  CHECK(d.feed_text("51-") == sio_decoder::status::error);
  CHECK_FALSE(d.awaiting_attachments());
}

TEST_CASE("Socket.IO attachments of one packet are capped in bytes together", "[sio]") {
  sio_decoder d(sio_limits{.max_attachment_bytes = 10});
  const auto header =
      R"(53-["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}])";
  // 4 + 4 + 2 = 10 bytes: exactly the cap.
  REQUIRE(d.feed_text(header) == sio_decoder::status::need_more);
  CHECK(d.feed_binary("aaaa") == sio_decoder::status::need_more);
  CHECK(d.feed_binary("bbbb") == sio_decoder::status::need_more);
  REQUIRE(d.feed_binary("cc") == sio_decoder::status::packet);
  CHECK(d.take().data[3].get_binary().size() == 2);
  // One byte more: refused as soon as it arrives, and nothing is kept.
  REQUIRE(d.feed_text(header) == sio_decoder::status::need_more);
  CHECK(d.feed_binary("aaaa") == sio_decoder::status::need_more);
  CHECK(d.feed_binary("bbbbbbb") == sio_decoder::status::error);
  CHECK(d.error() == sio_error::attachments_too_large);
  CHECK_FALSE(d.awaiting_attachments());
  // The count starts again with the next packet.
  REQUIRE(d.feed_text(header) == sio_decoder::status::need_more);
  CHECK(d.feed_binary("aaaaaaaaaa") == sio_decoder::status::need_more);
  CHECK(d.feed_binary("") == sio_decoder::status::need_more);
  CHECK(d.feed_binary("x") == sio_decoder::status::error);
  // The default cap is the default max_payload; 0 means none.
  CHECK(sio_limits{}.max_attachment_bytes == 1'000'000);
  sio_decoder unlimited(sio_limits{.max_attachment_bytes = 0});
  REQUIRE(unlimited.feed_text(R"(51-["m",{"_placeholder":true,"num":0}])") == sio_decoder::status::need_more);
  CHECK(unlimited.feed_binary(std::string(2'000'000, 'x')) == sio_decoder::status::packet);
}

TEST_CASE("a broadcast frame re-addressed to another namespace", "[sio]") {
  const std::string tick = R"(42["market:update",{"symbol":"EURUSD","bid":1.1}])";
  const auto desk = sio_to_namespace(tick, "/desk");
  CHECK(desk == R"(42/desk,["market:update",{"symbol":"EURUSD","bid":1.1}])");
  // What a client of /desk decodes is the same event in its namespace.
  sio_decoder d;
  REQUIRE(d.feed_text(std::string_view(desk).substr(1)) == sio_decoder::status::packet);
  auto p = d.take();
  CHECK(p.nsp == "/desk");
  CHECK(p.type == sio_type::event);
  CHECK(p.data[0] == "market:update");
  CHECK(p.data[1]["symbol"] == "EURUSD");
  // An ack id and binary attachments stay where the protocol puts them.
  CHECK(sio_to_namespace("4212[\"x\"]", "/a") == "42/a,12[\"x\"]");
  CHECK(sio_to_namespace("451-[\"x\",{\"_placeholder\":true,\"num\":0}]", "/a") ==
        "451-/a,[\"x\",{\"_placeholder\":true,\"num\":0}]");
  CHECK(sio_to_namespace("41", "/a") == "41/a");
  // The default namespace, frames already addressed, and what is not a Socket.IO packet: unchanged.
  CHECK(sio_to_namespace(tick, "/") == tick);
  CHECK(sio_to_namespace("42/other,[\"x\"]", "/a") == "42/other,[\"x\"]");
  for (std::string_view odd : {"", "4", "3", "2probe", "49[]", "45[]", "45x-[]", "451"})
    CHECK(sio_to_namespace(odd, "/a") == odd);
}
