#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace zuperior::core {

/// A parsed URL: scheme://user:password@host:port/path?query#fragment (userinfo percent-decoded).
struct url {
  std::string scheme;  // lower-case
  std::string user;
  std::string password;
  bool has_password = false;
  std::string host;  // without brackets for IPv6
  std::optional<unsigned> port;
  std::string path;                               // with leading '/', may be empty
  std::multimap<std::string, std::string> query;  // decoded
  std::string query_text;                         // as given
};

/// Parses `text`; nullopt when it is not an absolute URL with a scheme and host.
std::optional<url> parse_url(std::string_view text);
/// Percent-decodes `s`; '+' stays '+'.
std::string percent_decode(std::string_view s);
/// Percent-encodes every byte outside RFC 3986's unreserved set.
std::string percent_encode(std::string_view s);
/// True when `s` is a literal IPv4 or IPv6 address.
bool is_ip_address(std::string_view s);
/// True when `s` is a valid DNS host name or IP address.
bool is_host_name(std::string_view s);
/// What one client is counted as (rate limits, per-client connection caps): an IPv4 address as it
/// is; an IPv6 address as its /`v6_prefix` network ("2001:db8:1:2::/64"), because one subscriber
/// gets a whole /64 or more and could otherwise take a fresh address for every request. 128 (or
/// more) keeps the whole address; anything that is not an IPv6 literal comes back unchanged.
std::string client_key(std::string_view ip, unsigned v6_prefix);

}  // namespace zuperior::core
