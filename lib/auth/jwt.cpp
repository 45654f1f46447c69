#include "auth/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "auth/base64url.hpp"
#include "config/settings.hpp"

namespace zuperior::auth {

namespace {

using json = nlohmann::json;
using digest = std::array<unsigned char, 32>;

// base64url('{"alg":"HS256","typ":"JWT"}'): every token we issue has this exact header.
constexpr std::string_view issued_header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

std::optional<json> parse_object(std::string_view b64) {
  auto raw = base64url_decode(b64);
  if (!raw) return std::nullopt;
  json j = json::parse(*raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// A NumericDate as whole seconds, saturating instead of overflowing on absurd values.
std::optional<std::int64_t> numeric_date(const json& v) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      return std::numeric_limits<std::int64_t>::max();
    return v.get<std::int64_t>();
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isnan(d)) return std::nullopt;
    if (d >= 9.0e18) return std::numeric_limits<std::int64_t>::max();
    if (d <= -9.0e18) return std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(std::floor(d));
  }
  return std::nullopt;
}

// Verified tokens recently seen on this thread, keyed by their (already verified) signature, so a
// client presenting the same token on every request costs one HMAC, not a JSON parse. The lookup
// happens only after the constant-time signature check, so its timing reveals nothing secret.
struct cached_claims {
  std::uint64_t codec_id = 0;  // 0 = empty slot
  digest signature{};
  claims value;
  std::optional<std::int64_t> nbf;
};
constexpr std::size_t cache_slots = 256;
thread_local std::array<cached_claims, cache_slots> verified_cache;
std::atomic<std::uint64_t> next_codec_id{1};

}  // namespace

// HMAC-SHA256 with the key's inner and outer SHA-256 states computed once (RFC 2104), so a
// signature costs two digest copies and two short hashes instead of re-keying every time.
struct jwt_codec::keys {
  std::uint64_t id = next_codec_id.fetch_add(1);
  EVP_MD_CTX* inner = nullptr;
  EVP_MD_CTX* outer = nullptr;

  explicit keys(std::string_view secret) {
    std::array<unsigned char, 64> block{};
    if (secret.size() > block.size()) {
      unsigned int n = 0;
      EVP_Digest(secret.data(), secret.size(), block.data(), &n, EVP_sha256(), nullptr);
    } else {
      std::copy(secret.begin(), secret.end(), block.begin());
    }
    std::array<unsigned char, 64> ipad{}, opad{};
    for (std::size_t i = 0; i < block.size(); ++i) {
      ipad[i] = block[i] ^ 0x36;
      opad[i] = block[i] ^ 0x5c;
    }
    inner = EVP_MD_CTX_new();
    outer = EVP_MD_CTX_new();
    if (!inner || !outer || EVP_DigestInit_ex(inner, EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(inner, ipad.data(), ipad.size()) != 1 ||
        EVP_DigestInit_ex(outer, EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(outer, opad.data(), opad.size()) != 1) {
      release();
      throw std::runtime_error("jwt: cannot initialise SHA-256");
    }
    OPENSSL_cleanse(block.data(), block.size());
    OPENSSL_cleanse(ipad.data(), ipad.size());
    OPENSSL_cleanse(opad.data(), opad.size());
  }
  ~keys() { release(); }
  void release() {
    EVP_MD_CTX_free(inner);
    EVP_MD_CTX_free(outer);
    inner = outer = nullptr;
  }

  bool sign(std::string_view message, digest& out) const {
    // Freed when the thread ends (a plain pointer was one context per thread reported by LeakSanitizer).
    thread_local const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> work_ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
    EVP_MD_CTX* work = work_ctx.get();
    if (!work) return false;
    digest ih{};
    unsigned int n = 0;
    if (EVP_MD_CTX_copy_ex(work, inner) != 1 || EVP_DigestUpdate(work, message.data(), message.size()) != 1 ||
        EVP_DigestFinal_ex(work, ih.data(), &n) != 1)
      return false;
    if (EVP_MD_CTX_copy_ex(work, outer) != 1 || EVP_DigestUpdate(work, ih.data(), ih.size()) != 1 ||
        EVP_DigestFinal_ex(work, out.data(), &n) != 1)
      return false;
    return true;
  }
};

std::string_view to_string(jwt_error e) {
  switch (e) {
    case jwt_error::none:
      return "ok";
    case jwt_error::too_long:
      return "too_long";
    case jwt_error::malformed:
      return "malformed";
    case jwt_error::unsupported_alg:
      return "unsupported_alg";
    case jwt_error::bad_signature:
      return "bad_signature";
    case jwt_error::missing_exp:
      return "missing_exp";
    case jwt_error::missing_sub:
      return "missing_sub";
    case jwt_error::bad_claims:
      return "bad_claims";
    case jwt_error::expired:
      return "expired";
    case jwt_error::not_yet_valid:
      return "not_yet_valid";
  }
  return "unknown";
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

jwt_codec::jwt_codec(std::string_view secret, std::chrono::seconds ttl, std::chrono::seconds leeway)
    : ttl_(ttl), leeway_(leeway) {
  if (secret.size() < 32) throw std::invalid_argument("JWT secret must be at least 32 characters");
  if (ttl.count() <= 0) throw std::invalid_argument("JWT lifetime must be positive");
  if (leeway.count() < 0) throw std::invalid_argument("JWT leeway must not be negative");
  keys_ = std::make_unique<keys>(secret);
}

jwt_codec jwt_codec::from_settings(const config::auth_settings& s) {
  return jwt_codec(s.jwt_secret, std::chrono::duration_cast<std::chrono::seconds>(s.token_ttl),
                   std::chrono::duration_cast<std::chrono::seconds>(s.jwt_leeway));
}

jwt_codec::~jwt_codec() = default;
jwt_codec::jwt_codec(jwt_codec&&) noexcept = default;
jwt_codec& jwt_codec::operator=(jwt_codec&&) noexcept = default;

std::string jwt_codec::issue(std::string_view sub, std::string_view email) const {
  return issue(sub, email, unix_now());
}

std::string jwt_codec::issue(std::string_view sub, std::string_view email, std::int64_t now) const {
  unsigned char id[16];
  if (RAND_bytes(id, sizeof id) != 1) throw std::runtime_error("jwt: no random bytes for jti");
  json payload = {{"sub", sub},
                  {"iat", now},
                  {"exp", now + ttl_.count()},
                  {"jti", base64url_encode(std::string_view(reinterpret_cast<const char*>(id), sizeof id))}};
  if (!email.empty()) payload["email"] = email;
  std::string token(issued_header);
  token += '.';
  token += base64url_encode(payload.dump(-1, ' ', false, json::error_handler_t::replace));
  digest sig{};
  if (!keys_->sign(token, sig)) throw std::runtime_error("jwt: signing failed");
  token += '.';
  token += base64url_encode(std::string_view(reinterpret_cast<const char*>(sig.data()), sig.size()));
  return token;
}

verify_result jwt_codec::verify(std::string_view token) const { return verify(token, unix_now()); }

verify_result jwt_codec::verify(std::string_view token, std::int64_t now) const {
  verify_result r;
  auto fail = [&r](jwt_error e) {
    r.error = e;
    r.value = {};
    return r;
  };
  if (token.size() > max_token_size) return fail(jwt_error::too_long);
  const auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return fail(jwt_error::malformed);
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return fail(jwt_error::malformed);
  const auto header_b64 = token.substr(0, dot1);
  const auto payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const auto sig_b64 = token.substr(dot2 + 1);
  if (header_b64.empty() || payload_b64.empty() || sig_b64.empty()) return fail(jwt_error::malformed);

  // The header decides nothing but must say HS256: "none", RS256 (key confusion) and others are refused.
  if (header_b64 != issued_header) {
    auto header = parse_object(header_b64);
    if (!header) return fail(jwt_error::malformed);
    auto alg = header->find("alg");
    if (alg == header->end() || !alg->is_string() || alg->get_ref<const std::string&>() != "HS256")
      return fail(jwt_error::unsupported_alg);
    if (header->contains("crit")) return fail(jwt_error::unsupported_alg);
  }

  const auto sig = base64url_decode(sig_b64);
  if (!sig || sig->size() != 32) return fail(jwt_error::bad_signature);
  digest expected{};
  if (!keys_->sign(token.substr(0, dot2), expected)) return fail(jwt_error::bad_signature);
  if (CRYPTO_memcmp(expected.data(), sig->data(), expected.size()) != 0) return fail(jwt_error::bad_signature);

  const std::int64_t leeway = leeway_.count();
  auto check_times = [&](std::int64_t exp, std::optional<std::int64_t> nbf, std::int64_t iat) {
    // Saturating comparisons: exp near INT64_MAX must not wrap around.
    if (exp < std::numeric_limits<std::int64_t>::max() - leeway && now >= exp + leeway) return jwt_error::expired;
    if (nbf && *nbf > now && *nbf - now > leeway) return jwt_error::not_yet_valid;
    if (iat > now && iat - now > leeway) return jwt_error::not_yet_valid;
    return jwt_error::none;
  };
  cached_claims& slot = verified_cache[(std::size_t(expected[0]) << 8 | expected[1]) % cache_slots];
  if (slot.codec_id == keys_->id && slot.signature == expected) {
    if (auto e = check_times(slot.value.exp, slot.nbf, slot.value.iat); e != jwt_error::none) return fail(e);
    r.value = slot.value;
    return r;
  }

  // Only now, with the signature proven, are the claims read.
  auto payload = parse_object(payload_b64);
  if (!payload) return fail(jwt_error::malformed);
  const auto exp_it = payload->find("exp");
  if (exp_it == payload->end()) return fail(jwt_error::missing_exp);
  const auto exp = numeric_date(*exp_it);
  if (!exp) return fail(jwt_error::bad_claims);
  const auto sub_it = payload->find("sub");
  if (sub_it == payload->end()) return fail(jwt_error::missing_sub);
  if (!sub_it->is_string()) return fail(jwt_error::bad_claims);
  if (sub_it->get_ref<const std::string&>().empty()) return fail(jwt_error::missing_sub);
  std::int64_t iat = 0;
  if (auto it = payload->find("iat"); it != payload->end()) {
    auto v = numeric_date(*it);
    if (!v) return fail(jwt_error::bad_claims);
    iat = *v;
  }
  std::optional<std::int64_t> nbf;
  if (auto it = payload->find("nbf"); it != payload->end()) {
    nbf = numeric_date(*it);
    if (!nbf) return fail(jwt_error::bad_claims);
  }
  std::string email;
  if (auto it = payload->find("email"); it != payload->end() && !it->is_null()) {
    if (!it->is_string()) return fail(jwt_error::bad_claims);
    email = it->get<std::string>();
  }
  std::string jti;
  if (auto it = payload->find("jti"); it != payload->end() && !it->is_null()) {
    if (!it->is_string() || it->get_ref<const std::string&>().size() > max_jti_size) return fail(jwt_error::bad_claims);
    jti = it->get<std::string>();
  }
  if (auto e = check_times(*exp, nbf, iat); e != jwt_error::none) return fail(e);

  r.value.sub = sub_it->get<std::string>();
  r.value.iat = iat;
  r.value.exp = *exp;
  r.value.email = std::move(email);
  r.value.jti = std::move(jti);
  slot.codec_id = keys_->id;
  slot.signature = expected;
  slot.value = r.value;
  slot.nbf = nbf;
  return r;
}

}  // namespace zuperior::auth
