#include "auth/cookie.hpp"

#include <stdexcept>

#include "config/settings.hpp"
#include "core/strings.hpp"

namespace zuperior::auth {

namespace {

bool cookie_octet(char c) {  // RFC 6265 cookie-octet
  const auto u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x2B) || (u >= 0x2D && u <= 0x3A) || (u >= 0x3C && u <= 0x5B) ||
         (u >= 0x5D && u <= 0x7E);
}

bool attribute_safe(std::string_view v) {  // Path and Domain may not carry ';' or controls
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == ';') return false;
  }
  return true;
}

std::string build(const cookie_options& o, std::string_view value, long long max_age) {
  if (o.name.empty()) throw std::invalid_argument("cookie name is empty");
  if (!core::is_token(o.name)) throw std::invalid_argument("cookie name is not an HTTP token");
  for (char c : value)
    if (!cookie_octet(c)) throw std::invalid_argument("cookie value has a character a cookie cannot carry");
  if (!attribute_safe(o.path) || !attribute_safe(o.domain))
    throw std::invalid_argument("cookie path or domain has a forbidden character");
  std::string out;
  out.reserve(o.name.size() + value.size() + 96);
  out += o.name;
  out += '=';
  out += value;
  out += "; Max-Age=";
  out += std::to_string(max_age);
  if (max_age == 0) out += "; Expires=Thu, 01 Jan 1970 00:00:00 GMT";
  if (!o.path.empty()) {
    out += "; Path=";
    out += o.path;
  }
  if (!o.domain.empty()) {
    out += "; Domain=";
    out += o.domain;
  }
  if (o.http_only) out += "; HttpOnly";
  switch (o.same_site) {
    case same_site::lax:
      out += "; SameSite=Lax";
      break;
    case same_site::strict:
      out += "; SameSite=Strict";
      break;
    case same_site::none:
      out += "; SameSite=None";
      break;
  }
  if (o.secure || o.same_site == same_site::none) out += "; Secure";
  return out;
}

}  // namespace

cookie_options cookie_options_from(const config::settings& s) {
  cookie_options o;
  o.name = s.auth.cookie_name;
  o.max_age = std::chrono::duration_cast<std::chrono::seconds>(s.auth.token_ttl);
  const std::string secure = core::to_lower(s.auth.cookie_secure);
  if (secure == "auto")
    o.secure = s.app.production();
  else if (secure == "true")
    o.secure = true;
  else if (secure == "false")
    o.secure = false;
  else
    throw std::invalid_argument("auth.cookie_secure must be auto, true or false");
  const std::string ss = core::to_lower(s.auth.cookie_same_site);
  if (ss == "lax")
    o.same_site = same_site::lax;
  else if (ss == "strict")
    o.same_site = same_site::strict;
  else if (ss == "none")
    o.same_site = same_site::none;
  else
    throw std::invalid_argument("auth.cookie_same_site must be lax, strict or none");
  return o;
}

std::string set_cookie_header(const cookie_options& o, std::string_view value) {
  return build(o, value, o.max_age.count());
}

std::string clear_cookie_header(const cookie_options& o) { return build(o, {}, 0); }

std::optional<std::string_view> find_cookie(std::string_view header, std::string_view name) {
  if (name.empty()) return std::nullopt;
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view pair = core::trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (core::trim(pair.substr(0, eq)) != name) continue;
    std::string_view value = core::trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    if (value.empty()) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  authorization = core::trim(authorization);
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size() || !core::iequals(authorization.substr(0, scheme.size()), scheme))
    return std::nullopt;
  std::string_view rest = authorization.substr(scheme.size());
  if (rest.front() != ' ' && rest.front() != '\t') return std::nullopt;
  rest = core::trim(rest);
  if (rest.empty()) return std::nullopt;
  // A plain loop: find_first_of calls memchr once per character, on every authenticated request.
  for (char ch : rest)
    if (ch == ' ' || ch == '\t') return std::nullopt;
  return rest;
}

std::optional<std::string_view> request_token(std::string_view authorization, std::string_view cookie_header,
                                              std::string_view cookie_name) {
  if (auto t = bearer_token(authorization)) return t;
  return find_cookie(cookie_header, cookie_name);
}

}  // namespace zuperior::auth
