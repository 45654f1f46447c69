#include <openssl/hmac.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "auth/base64url.hpp"
#include "auth/jwt.hpp"
#include "config/settings.hpp"

using namespace zuperior::auth;
using std::chrono::seconds;

namespace {

const std::string secret = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t now = 1'800'000'000;

// An independent HS256 signer (OpenSSL's one-shot HMAC) to forge arbitrary tokens.
std::string forge(const std::string& header, const std::string& payload, const std::string& key = secret) {
  std::string signing_input = base64url_encode(header) + "." + base64url_encode(payload);
  unsigned char mac[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &n);
  return signing_input + "." + base64url_encode(std::string_view(reinterpret_cast<char*>(mac), n));
}

const std::string hs256 = R"({"alg":"HS256","typ":"JWT"})";

std::string payload(std::int64_t exp, const std::string& sub = "\"u1\"") {
  return R"({"sub":)" + sub + R"(,"iat":)" + std::to_string(now - 10) + R"(,"exp":)" + std::to_string(exp) + "}";
}

jwt_codec codec() { return jwt_codec(secret, seconds(3600), seconds(30)); }

}  // namespace

TEST_CASE("issued tokens verify and carry the claims") {
  auto c = codec();
  const std::string t = c.issue("user-42", "a@example.com", now);
  CHECK(t.rfind("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 0) == 0);
  auto r = c.verify(t, now + 5);
  REQUIRE(r);
  CHECK(r.value.sub == "user-42");
  CHECK(r.value.email == "a@example.com");
  CHECK(r.value.iat == now);
  CHECK(r.value.exp == now + 3600);
  // The payload is plain JSON with the standard names.
  auto parts = t.substr(t.find('.') + 1);
  auto p = nlohmann::json::parse(*base64url_decode(parts.substr(0, parts.find('.'))));
  CHECK(p["sub"] == "user-42");
  CHECK(p["exp"] == now + 3600);
  CHECK_FALSE(c.issue("u", "", now).empty());
  CHECK(c.verify(c.issue("u", "", now), now).value.email.empty());
}

TEST_CASE("every issued token has its own jti, so one can be revoked alone") {
  auto c = codec();
  const auto a = c.issue("u", "", now), b = c.issue("u", "", now);  // same user, same second
  CHECK(a != b);
  auto ra = c.verify(a, now), rb = c.verify(b, now);
  REQUIRE(ra);
  REQUIRE(rb);
  CHECK(ra.value.jti.size() == 22);  // 128 random bits, base64url
  CHECK(ra.value.jti != rb.value.jti);
  // Tokens without one (the Node application's, other issuers') still verify, with an empty jti.
  auto r = c.verify(forge(hs256, payload(now + 10)), now);
  REQUIRE(r);
  CHECK(r.value.jti.empty());
  auto with = [&](const std::string& jti) {
    return c.verify(forge(hs256, R"({"sub":"u","exp":)" + std::to_string(now + 10) + R"(,"jti":)" + jti + "}"), now);
  };
  CHECK(with("\"abc\"").value.jti == "abc");
  CHECK(with("null").value.jti.empty());
  CHECK(with("42").error == jwt_error::bad_claims);
  CHECK(with("\"" + std::string(max_jti_size, 'x') + "\"").value.jti.size() == max_jti_size);
  CHECK(with("\"" + std::string(max_jti_size + 1, 'x') + "\"").error == jwt_error::bad_claims);
}

TEST_CASE("tokens of the existing Node application (jsonwebtoken) verify") {
  const std::string node =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJlbWFpbCI6ImFAYi5jIiwiaWF0IjoxNzk1NTQ4NzUyLCJleHAi"
      "OjE3OTU1NTIzNTJ9.sioSoiJMWhvl3_9FkuFV1wtlRLH0hKLhNej2rZqrMQE";
  auto r = codec().verify(node, 1795548800);
  REQUIRE(r);
  CHECK(r.value.sub == "user-1");
  CHECK(r.value.email == "a@b.c");
  CHECK(codec().verify(node, 1795552352 + 30).error == jwt_error::expired);
}

TEST_CASE("a token signed independently with the same key verifies; another key does not") {
  auto c = codec();
  CHECK(c.verify(forge(hs256, payload(now + 100)), now));
  CHECK(c.verify(forge(R"({"typ":"JWT","alg":"HS256","kid":"k1"})", payload(now + 100)), now));
  CHECK(c.verify(forge(hs256, payload(now + 100), secret + "x"), now).error == jwt_error::bad_signature);
  // Keys longer than the SHA-256 block are hashed first (RFC 2104); both sides must agree.
  const std::string long_key(100, 'k');
  jwt_codec lc(long_key, seconds(60), seconds(0));
  CHECK(lc.verify(forge(hs256, payload(now + 100), long_key), now));
}

TEST_CASE("tampering with any part is detected") {
  auto c = codec();
  const std::string t = c.issue("user-1", "", now);
  const auto d1 = t.find('.'), d2 = t.rfind('.');
  // A different payload with the original signature.
  std::string other = t.substr(0, d1 + 1) + base64url_encode(payload(now + 100, "\"admin\"")) + t.substr(d2);
  CHECK(c.verify(other, now).error == jwt_error::bad_signature);
  // Every single-character change of the signature.
  for (std::size_t i = d2 + 1; i < t.size(); ++i) {
    std::string x = t;
    x[i] = x[i] == 'A' ? 'B' : 'A';
    CHECK_FALSE(c.verify(x, now));
  }
  // Truncated and extended signatures.
  CHECK(c.verify(t.substr(0, t.size() - 1), now).error == jwt_error::bad_signature);
  CHECK(c.verify(t + "A", now).error == jwt_error::bad_signature);
  CHECK(c.verify(t.substr(0, d2 + 1) + "AAAA", now).error == jwt_error::bad_signature);
}

TEST_CASE("only HS256 is accepted") {
  auto c = codec();
  const std::string p = base64url_encode(payload(now + 100));
  // alg none with an empty or any signature.
  const std::string none = base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + p;
  CHECK(c.verify(none + ".", now).error == jwt_error::malformed);
  CHECK(c.verify(none + ".AAAA", now).error == jwt_error::unsupported_alg);
  CHECK(c.verify(forge(R"({"alg":"none"})", payload(now + 100)), now).error == jwt_error::unsupported_alg);
  // Other algorithms, even with a signature made from the shared secret (key confusion).
  for (const char* h : {R"({"alg":"RS256"})", R"({"alg":"HS512"})", R"({"alg":"hs256"})", R"({"alg":"HS256 "})",
                        R"({"typ":"JWT"})", R"({"alg":null})", R"({"alg":["HS256"]})", R"({"alg":256})"}) {
    INFO(h);
    CHECK(c.verify(forge(h, payload(now + 100)), now).error == jwt_error::unsupported_alg);
  }
  CHECK(c.verify(forge(R"({"alg":"HS256","crit":["exp"]})", payload(now + 100)), now).error ==
        jwt_error::unsupported_alg);
}

TEST_CASE("exp and sub are required and typed") {
  auto c = codec();
  CHECK(c.verify(forge(hs256, R"({"sub":"u1"})"), now).error == jwt_error::missing_exp);
  CHECK(c.verify(forge(hs256, R"({"exp":)" + std::to_string(now + 10) + "}"), now).error == jwt_error::missing_sub);
  CHECK(c.verify(forge(hs256, payload(now + 10, "\"\"")), now).error == jwt_error::missing_sub);
  CHECK(c.verify(forge(hs256, payload(now + 10, "42")), now).error == jwt_error::bad_claims);
  CHECK(c.verify(forge(hs256, payload(now + 10, "null")), now).error == jwt_error::bad_claims);
  CHECK(c.verify(forge(hs256, R"({"sub":"u","exp":")" + std::to_string(now + 10) + "\"}"), now).error ==
        jwt_error::bad_claims);
  CHECK(c.verify(forge(hs256, R"({"sub":"u","exp":null})"), now).error == jwt_error::bad_claims);
  CHECK(c.verify(forge(hs256, R"({"sub":"u","exp":1e400})"), now).error != jwt_error::none);
  CHECK(c.verify(forge(hs256, R"({"sub":"u","exp":99999999999999999999})"), now));  // far future saturates
  CHECK(c.verify(forge(hs256, R"({"sub":"u","exp":)" + std::to_string(now + 10) + R"(,"email":5})"), now).error ==
        jwt_error::bad_claims);
  CHECK(c.verify(forge(hs256, R"({"sub":"u","exp":)" + std::to_string(now + 10) + R"(,"iat":"x"})"), now).error ==
        jwt_error::bad_claims);
  CHECK(c.verify(forge(hs256, R"({"sub":"u","exp":)" + std::to_string(now) + R"(.9})"), now));  // fractional exp
}

TEST_CASE("expiry and not-before honour the leeway exactly") {
  auto c = codec();  // leeway 30 s
  const std::string t = forge(hs256, payload(now));
  CHECK(c.verify(t, now - 1));
  CHECK(c.verify(t, now + 29));
  CHECK(c.verify(t, now + 30).error == jwt_error::expired);
  CHECK(c.verify(t, now + 100000).error == jwt_error::expired);
  const std::string nbf = forge(
      hs256, R"({"sub":"u","exp":)" + std::to_string(now + 1000) + R"(,"nbf":)" + std::to_string(now + 100) + "}");
  CHECK(c.verify(nbf, now).error == jwt_error::not_yet_valid);
  CHECK(c.verify(nbf, now + 70));
  const std::string future_iat =
      forge(hs256, R"({"sub":"u","exp":)" + std::to_string(now + 1000) + R"(,"iat":)" + std::to_string(now + 31) + "}");
  CHECK(c.verify(future_iat, now).error == jwt_error::not_yet_valid);
  jwt_codec strict(secret, seconds(60), seconds(0));
  CHECK(strict.verify(t, now).error == jwt_error::expired);
  CHECK(strict.verify(t, now - 1));
}

TEST_CASE("hostile and malformed inputs are refused without exceptions") {
  auto c = codec();
  const std::string good = c.issue("u", "", now);
  std::vector<std::string> bad = {"",
                                  ".",
                                  "..",
                                  "a.b",
                                  "a.b.c.d",
                                  good + ".",
                                  "." + good,
                                  good.substr(0, good.find('.')) + "..sig",
                                  "!!!.###.$$$",
                                  std::string(1000, '.'),
                                  "eyJ=.eyJ=.AAAA",
                                  " " + good,
                                  good + " ",
                                  std::string("\0", 1) + good,
                                  base64url_encode("not json") + "." + base64url_encode("{}") + ".AAAA",
                                  base64url_encode("[1,2]") + "." + base64url_encode("{}") + ".AAAA",
                                  base64url_encode(std::string(5000, '[')) + ".e30.AAAA"};
  for (const auto& t : bad) {
    INFO(t.substr(0, 80));
    jwt_error e = jwt_error::none;
    REQUIRE_NOTHROW(e = c.verify(t, now).error);
    CHECK(e != jwt_error::none);
  }
  CHECK(c.verify(std::string(max_token_size + 1, 'a'), now).error == jwt_error::too_long);
  // A correctly signed payload that is not an object, or not JSON.
  CHECK(c.verify(forge(hs256, "[1]"), now).error == jwt_error::malformed);
  CHECK(c.verify(forge(hs256, "{\"sub\":"), now).error == jwt_error::malformed);
  CHECK(c.verify(forge(hs256, "\xff\xfe"), now).error == jwt_error::malformed);
  // Padding appended to a part of an otherwise valid token.
  const auto d1 = good.find('.');
  CHECK_FALSE(c.verify(good.substr(0, d1) + "=" + good.substr(d1), now));
}

TEST_CASE("issuing escapes claims and never throws on odd strings") {
  auto c = codec();
  const std::string t = c.issue("id\"with}quotes", "bad\xff@utf8", now);
  auto r = c.verify(t, now);
  REQUIRE(r);
  CHECK(r.value.sub == "id\"with}quotes");
}

TEST_CASE("codec construction checks its settings") {
  CHECK_THROWS_AS(jwt_codec("short", seconds(60), seconds(0)), std::invalid_argument);
  CHECK_THROWS_AS(jwt_codec(secret, seconds(0), seconds(0)), std::invalid_argument);
  CHECK_THROWS_AS(jwt_codec(secret, seconds(10), seconds(-1)), std::invalid_argument);
  zuperior::config::auth_settings s;
  s.jwt_secret = secret;
  auto c = jwt_codec::from_settings(s);
  CHECK(c.ttl() == seconds(7 * 24 * 3600));
  jwt_codec moved = std::move(c);
  CHECK(moved.verify(moved.issue("u")));
  CHECK(to_string(jwt_error::bad_signature) == "bad_signature");
}

TEST_CASE("repeat verifications (served from the per-thread cache) give the same answers") {
  auto c = codec();
  const std::string t = c.issue("user-7", "u7@example.com", now);
  for (int i = 0; i < 3; ++i) {
    auto r = c.verify(t, now + i);
    REQUIRE(r);
    CHECK(r.value.sub == "user-7");
    CHECK(r.value.email == "u7@example.com");
  }
  CHECK(c.verify(t, now + 3600 + 30).error == jwt_error::expired);  // expiry still checked on a hit
  CHECK(c.verify(t, now + 1));
  // Another codec (another secret) never sees this codec's verified tokens.
  jwt_codec other(secret + "-other", seconds(3600), seconds(30));
  CHECK(other.verify(t, now).error == jwt_error::bad_signature);
  // Same secret, separate codec: verifies on its own merits.
  auto twin = codec();
  CHECK(twin.verify(t, now));
  // A tampered payload carrying a cached token's signature is still refused.
  const auto d1 = t.find('.'), d2 = t.rfind('.');
  CHECK(c.verify(t.substr(0, d1 + 1) + base64url_encode(payload(now + 100, "\"user-7\"")) + t.substr(d2), now).error ==
        jwt_error::bad_signature);
}
