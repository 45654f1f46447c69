// A bounded fuzz run of the decoders: random mutations of valid packets must never crash, hang or
// throw, and whatever decodes must re-encode into something that decodes to the same packet.
#include <catch2/catch.hpp>
#include <random>

#include "ws/base64.hpp"
#include "ws/eio_codec.hpp"
#include "ws/sio_codec.hpp"

using namespace zuperior::ws;

namespace {

const char* const seeds[] = {
    "0",
    "0{\"token\":\"123\"}",
    "0/custom,{\"token\":\"abc\"}",
    "1/custom,",
    "2[\"message\",1,\"2\",{\"3\":[true]}]",
    "2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]",
    "3456[1,\"2\",{\"3\":[false]}]",
    "4{\"message\":\"Invalid namespace\"}",
    "52-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
    "62-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
    "2[\"subscribe:market\",[\"EURUSD\",\"GBPUSD\"]]",
    "2[\"s\",\"\\u00e9\\\"\\\\\",1e308,-0.5,null]",
};

std::string mutate(std::string s, std::mt19937_64& rng) {
  const char alphabet[] = "0123456789-,/[]{}\":\\abn_ \x1e\xff\x00";
  const int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    const auto op = rng() % 5;
    const std::size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    const char c = alphabet[rng() % (sizeof(alphabet) - 1)];
    switch (op) {
      case 0:
        s.insert(s.begin() + static_cast<long>(pos), c);
        break;
      case 1:
        if (pos < s.size()) s.erase(pos, 1 + rng() % 3);
        break;
      case 2:
        if (pos < s.size()) s[pos] = c;
        break;
      case 3:
        s = s.substr(0, pos);
        break;
      default:
        if (!s.empty()) s.insert(pos, s.substr(rng() % s.size(), 1 + rng() % 8));
        break;
    }
  }
  return s;
}

}  // namespace

TEST_CASE("decoders survive random input and round-trip what they accept", "[fuzz]") {
  std::mt19937_64 rng(0x5eed);
  const int iterations = 40'000;
  int accepted = 0;
  for (int i = 0; i < iterations; ++i) {
    const std::string input = mutate(seeds[rng() % std::size(seeds)], rng);

    // Engine.IO layers.
    auto eio = eio_decode_text(input);
    if (eio) CHECK(eio_encode_text(*eio) == input);
    auto payload = eio_decode_payload(input);
    if (payload) {
      std::vector<std::string> elements;
      for (const auto& p : *payload) elements.push_back(eio_encode_payload_element(p));
      auto again = eio_decode_payload(eio_join_payload(elements));
      REQUIRE(again);
      CHECK(*again == *payload);
    }
    auto b64 = base64_decode(input);
    if (b64) CHECK(base64_decode(base64_encode(*b64)) == b64);

    // Socket.IO: text then up to two binary frames.
    sio_decoder d;
    auto st = d.feed_text(input);
    for (int k = 0; k < 2 && st == sio_decoder::status::need_more; ++k) st = d.feed_binary(std::string(k + 1, 'z'));
    if (st == sio_decoder::status::packet) {
      ++accepted;
      sio_packet p = d.take();
      sio_frames frames = sio_encode(p);
      sio_decoder d2;
      auto st2 = d2.feed_text(frames.text);
      for (const auto& a : frames.attachments) {
        REQUIRE(st2 == sio_decoder::status::need_more);
        st2 = d2.feed_binary(a);
      }
      REQUIRE(st2 == sio_decoder::status::packet);
      sio_packet q = d2.take();
      CHECK(q.type == p.type);
      CHECK(q.nsp == p.nsp);
      CHECK(q.id == p.id);
      CHECK(q.has_data() == p.has_data());
      if (p.has_data()) CHECK(q.data == p.data);
    }
  }
  // The mutations keep a share of inputs valid, so the round-trip checks above really ran.
  CHECK(accepted > iterations / 50);
}
