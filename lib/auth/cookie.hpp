#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace zuperior::config {
struct settings;
}

namespace zuperior::auth {

enum class same_site { lax, strict, none };

/// How the session cookie is written.
struct cookie_options {
  std::string name = "token";
  std::chrono::seconds max_age{7 * 24 * 3600};
  bool secure = false;
  bool http_only = true;
  auth::same_site same_site = same_site::lax;
  std::string path = "/";
  std::string domain;  // empty: host-only cookie
};

/// Options from auth.cookie_name, auth.cookie_secure (auto = only in production), auth.cookie_same_site
/// (lax|strict|none, case-insensitive) and auth.token_ttl; throws std::invalid_argument on a bad value.
cookie_options cookie_options_from(const config::settings& s);

/// A Set-Cookie value: `name=value; Max-Age=…; Path=/; HttpOnly; SameSite=Lax[; Secure]`.
/// SameSite=None always gets Secure (browsers drop it otherwise). Throws std::invalid_argument if
/// the name is not an HTTP token or the value has characters a cookie cannot carry.
std::string set_cookie_header(const cookie_options& o, std::string_view value);
/// A Set-Cookie value that deletes the cookie (empty value, Max-Age=0, same attributes).
std::string clear_cookie_header(const cookie_options& o);

/// The value of cookie `name` in a Cookie request header ("a=1; token=…"), first match, surrounding
/// double quotes removed; nullopt when absent or empty. Malformed pairs are skipped, never fatal.
std::optional<std::string_view> find_cookie(std::string_view cookie_header, std::string_view name);

/// The credentials of an "Authorization: Bearer <token>" header (scheme case-insensitive); nullopt otherwise.
std::optional<std::string_view> bearer_token(std::string_view authorization);

/// The request's token: the Bearer header first, else the cookie `cookie_name`; nullopt when neither.
std::optional<std::string_view> request_token(std::string_view authorization, std::string_view cookie_header,
                                              std::string_view cookie_name = "token");

}  // namespace zuperior::auth
