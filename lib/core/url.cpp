#include "core/url.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/strings.hpp"

namespace zuperior::core {

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      unsigned v = 0;
      std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool is_ip_address(std::string_view s) {
  std::string str(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, str.c_str(), buf) == 1 || inet_pton(AF_INET6, str.c_str(), buf) == 1;
}

std::string client_key(std::string_view ip, unsigned v6_prefix) {
  if (v6_prefix >= 128 || ip.find(':') == std::string_view::npos) return std::string(ip);
  std::string str(ip);
  unsigned char b[16];
  if (inet_pton(AF_INET6, str.c_str(), b) != 1) return str;
  char buf[INET6_ADDRSTRLEN];
  static constexpr unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(v4_mapped), std::end(v4_mapped), b))  // an IPv4 client, counted as one
    return inet_ntop(AF_INET, b + 12, buf, sizeof buf) ? std::string(buf) : str;
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bit = i * 8;
    if (bit >= v6_prefix)
      b[i] = 0;
    else if (bit + 8 > v6_prefix)
      b[i] &= static_cast<unsigned char>(0xff << (8 - (v6_prefix - bit)));
  }
  if (!inet_ntop(AF_INET6, b, buf, sizeof buf)) return str;
  return std::string(buf) + "/" + std::to_string(v6_prefix);
}

bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  if (is_ip_address(s)) return true;
  for (const auto& label : split(s, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (unsigned char c : label)
      if (!std::isalnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

std::optional<url> parse_url(std::string_view text) {
  url u;
  text = trim(text);
  auto colon = text.find("://");
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  for (char c : text.substr(0, colon))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return std::nullopt;
  u.scheme = to_lower(text.substr(0, colon));
  std::string_view rest = text.substr(colon + 3);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    u.query_text = std::string(rest.substr(q + 1));
    for (const auto& pair : split(u.query_text, '&', true)) {
      auto eq = pair.find('=');
      std::string key = percent_decode(pair.substr(0, eq));
      std::string value = eq == std::string::npos ? "" : percent_decode(std::string_view(pair).substr(eq + 1));
      u.query.emplace(std::move(key), std::move(value));
    }
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    u.path = std::string(rest.substr(slash));
  }
  // The password may itself contain '@' when not encoded: the last '@' ends the userinfo.
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto c = userinfo.find(':');
    u.user = percent_decode(userinfo.substr(0, c));
    if (c != std::string_view::npos) {
      u.password = percent_decode(userinfo.substr(c + 1));
      u.has_password = true;
    }
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port_text = after.substr(1);
    }
  } else {
    auto c = authority.rfind(':');
    u.host = std::string(authority.substr(0, c));
    if (c != std::string_view::npos) port_text = authority.substr(c + 1);
  }
  if (!port_text.empty()) {
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || p == 0 || p > 65535) return std::nullopt;
    u.port = p;
  }
  if (u.host.empty() && u.scheme != "postgresql" && u.scheme != "postgres") return std::nullopt;
  return u;
}

}  // namespace zuperior::core
