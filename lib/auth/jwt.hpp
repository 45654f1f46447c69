#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace zuperior::config {
struct auth_settings;
}

namespace zuperior::auth {

/// The claims the daemon issues and reads.
struct claims {
  std::string sub;       // user id
  std::int64_t iat = 0;  // seconds since the epoch
  std::int64_t exp = 0;  // seconds since the epoch
  std::string email;     // empty when absent
  std::string jti;       // the token's own id (every token we issue has one); empty when absent
};

/// Why a token was refused (never shown to clients beyond a generic 401; fine for logs and metrics).
enum class jwt_error {
  none,
  too_long,         // over max_token_size
  malformed,        // not three base64url parts of JSON objects
  unsupported_alg,  // alg other than HS256 (none, RS256, HS512 …), or a crit header
  bad_signature,
  missing_exp,
  missing_sub,
  bad_claims,  // a claim of the wrong type (exp as a string, sub as a number …)
  expired,
  not_yet_valid,  // nbf or iat in the future beyond the leeway
};

/// A short stable name for logs and metric labels.
std::string_view to_string(jwt_error e);

/// The outcome of verify(): the claims, or the reason for refusal.
struct verify_result {
  jwt_error error = jwt_error::none;
  auth::claims value;
  /// True when the token is valid.
  explicit operator bool() const { return error == jwt_error::none; }
};

/// Tokens longer than this are refused before any decoding work.
inline constexpr std::size_t max_token_size = 8192;
/// A `jti` longer than this is a bad claim (it names a Redis entry when the token is revoked).
inline constexpr std::size_t max_jti_size = 128;

/// HS256 JSON Web Tokens: issue and verify. Only HS256 is accepted, `exp` and `sub` are required,
/// the signature is compared in constant time. Thread-safe; cheap enough for network threads.
class jwt_codec {
 public:
  /// `secret` must be at least 32 bytes (throws std::invalid_argument); `leeway` tolerates clock skew.
  jwt_codec(std::string_view secret, std::chrono::seconds ttl, std::chrono::seconds leeway);
  /// A codec from the auth section (jwt_secret, token_ttl, jwt_leeway).
  static jwt_codec from_settings(const config::auth_settings& s);
  ~jwt_codec();
  jwt_codec(jwt_codec&&) noexcept;
  jwt_codec& operator=(jwt_codec&&) noexcept;

  /// A token for `sub` (and `email` when not empty) valid from now for ttl(), with a random `jti`
  /// (128 bits) so that it can be revoked alone.
  std::string issue(std::string_view sub, std::string_view email = {}) const;
  /// Same with an explicit issue time (seconds since the epoch), for tests.
  std::string issue(std::string_view sub, std::string_view email, std::int64_t now) const;
  /// Checks a token against the current time.
  verify_result verify(std::string_view token) const;
  /// Checks a token against `now` (seconds since the epoch).
  verify_result verify(std::string_view token, std::int64_t now) const;
  /// Token lifetime.
  std::chrono::seconds ttl() const { return ttl_; }
  /// Clock skew tolerated: a token is accepted until exp + leeway().
  std::chrono::seconds leeway() const { return leeway_; }

 private:
  struct keys;
  std::unique_ptr<keys> keys_;  // precomputed HMAC state; the secret itself is not kept in clear
  std::chrono::seconds ttl_;
  std::chrono::seconds leeway_;
};

/// Seconds since the epoch, now.
std::int64_t unix_now();

}  // namespace zuperior::auth
