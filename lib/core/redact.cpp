#include "core/redact.hpp"

#include <algorithm>
#include <cctype>

#include "core/strings.hpp"

namespace zuperior::core {
namespace {

// By hand, not std::regex: libstdc++'s regex recurses once per character, and a 40 KB value (a
// long DATABASE_URL, a list of CORS origins) overflowed the stack.

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool scheme_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'; }

// scheme://user:password@host — the password runs to the last '@' of the authority (as
// core::parse_url reads it), also across spaces ("app:my secret pw@db"), which end the authority
// only when no '@' follows them.
std::string mask_userinfo(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t done = 0;  // s[0, done) is in out
  for (std::size_t sep = s.find("://"); sep != std::string_view::npos; sep = s.find("://", sep + 1)) {
    if (sep < done || sep == 0 || !scheme_char(s[sep - 1])) continue;
    const std::size_t start = sep + 3;
    std::size_t end = std::min(s.find_first_of("/?#", start), s.size());
    std::string_view authority = s.substr(start, end - start);
    std::size_t at = authority.rfind('@');
    if (at == std::string_view::npos) {
      // A password with an unencoded '/', '?' or '#' (base64 often has a '/'): its '@' comes after
      // that cut. Such a URL does not parse, so it is exactly the one an error message shows.
      // Up to the next space or the next URL's scheme (searched in that order, so a long list of
      // URLs costs one pass, not one pass per URL).
      const std::string_view rest = s.substr(start, std::min(s.find("://", start), s.size()) - start);
      end = start + std::min(rest.find_first_of(" \t\r\n\f\v"), rest.size());
      authority = s.substr(start, end - start);
      at = authority.rfind('@');
    }
    const std::size_t colon = authority.find(':');
    if (at == std::string_view::npos || colon == std::string_view::npos || colon > at) continue;
    // The user of user:password has neither '@' nor a space: else that ':' is in other text.
    if (authority.substr(0, colon).find_first_of("@ \t\r\n\f\v") != std::string_view::npos) continue;
    out.append(s.substr(done, start + colon + 1 - done));
    out += "***";
    done = start + at;  // from the '@' on
  }
  out.append(s.substr(done));
  return out;
}

// password=, pass= and pwd= (any case) at the start or after '?', '&' or a space: query parameters
// and key=value conninfo. The value runs to the next '&' or space.
std::string mask_password_params(std::string_view s) {
  static constexpr std::string_view names[] = {"password=", "pass=", "pwd="};
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t name = 0;
    if (i == 0 || s[i - 1] == '?' || s[i - 1] == '&' || is_space(s[i - 1]))
      for (auto n : names)
        if (iequals(s.substr(i, n.size()), n)) name = n.size();
    if (!name) {
      out += s[i++];
      continue;
    }
    out.append(s.substr(i, name));
    out += "***";
    i += name;
    while (i < s.size() && s[i] != '&' && !is_space(s[i])) ++i;
  }
  return out;
}

bool is_token68(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-._~+/").find(c) != std::string_view::npos;
}

bool is_base64url(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

// "Bearer TOKEN" (any case) -> "Bearer ***".
std::string mask_bearer_tokens(std::string_view s) {
  const std::string lower = to_lower(s);
  std::string out;
  out.reserve(s.size());
  std::size_t done = 0;
  for (std::size_t i = lower.find("bearer"); i != std::string::npos; i = lower.find("bearer", i + 1)) {
    if (i < done) continue;
    std::size_t j = i + 6;
    while (j < s.size() && is_space(s[j])) ++j;
    std::size_t k = j;
    while (k < s.size() && is_token68(s[k])) ++k;
    if (j == i + 6 || k == j) continue;
    while (k < s.size() && s[k] == '=') ++k;
    out.append(s.substr(done, j - done));
    out += "***";
    done = k;
  }
  out.append(s.substr(done));
  return out;
}

// A JWT (eyJ... . ... . ...) -> "<jwt>".
std::string mask_jwts(std::string_view s) {
  const auto run = [&s](std::size_t from) {
    while (from < s.size() && is_base64url(s[from])) ++from;
    return from;
  };
  std::string out;
  out.reserve(s.size());
  std::size_t done = 0;
  for (std::size_t i = s.find("eyJ"); i != std::string_view::npos; i = s.find("eyJ", i)) {
    // Where a candidate fails, every "eyJ" inside it fails at the same place: go on from there.
    const std::size_t header = run(i + 3);
    if (header == i + 3 || header == s.size() || s[header] != '.') {
      i = std::max(header, i + 1);
      continue;
    }
    const std::size_t payload = run(header + 1);
    if (payload == header + 1 || payload == s.size() || s[payload] != '.') {
      i = payload;
      continue;
    }
    const std::size_t signature = run(payload + 1);
    out.append(s.substr(done, i - done));
    out += "<jwt>";
    done = i = signature;
  }
  out.append(s.substr(done));
  return out;
}

}  // namespace

std::string redact_url(std::string_view text) { return mask_password_params(mask_userinfo(text)); }

std::string redact_text(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out(text);
  for (const auto& secret : secrets) {
    if (secret.size() < 4) continue;  // too short to replace without mangling ordinary text
    for (size_t pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos)) {
      out.replace(pos, secret.size(), redacted);
      pos += redacted.size();
    }
  }
  return mask_jwts(mask_bearer_tokens(redact_url(out)));
}

}  // namespace zuperior::core
