#include "http/client_ip.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "core/strings.hpp"

namespace zuperior::http {
namespace {

// Parses a literal address into 16 bytes; IPv4 and IPv4-mapped IPv6 both come out as v4.
bool parse_addr(std::string_view text, bool& v6, unsigned char out[16]) {
  std::string s(core::trim(text));
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  if (auto pct = s.find('%'); pct != std::string::npos) s.resize(pct);  // zone id
  std::memset(out, 0, 16);
  if (inet_pton(AF_INET, s.c_str(), out) == 1) {
    v6 = false;
    return true;
  }
  unsigned char b[16];
  if (inet_pton(AF_INET6, s.c_str(), b) != 1) return false;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, mapped, 12) == 0) {
    v6 = false;
    std::memcpy(out, b + 12, 4);
    return true;
  }
  v6 = true;
  std::memcpy(out, b, 16);
  return true;
}

bool prefix_equal(const unsigned char* a, const unsigned char* b, unsigned bits) {
  unsigned full = bits / 8;
  if (std::memcmp(a, b, full) != 0) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

std::optional<proxy_list> proxy_list::parse(const std::vector<std::string>& entries, std::string* bad) {
  proxy_list out;
  for (const auto& e : entries) {
    auto text = core::trim(e);
    if (text.empty()) continue;
    net n;
    auto slash = text.find('/');
    bool ok = parse_addr(text.substr(0, slash), n.v6, n.bytes);
    unsigned max = n.v6 ? 128 : 32;
    n.prefix = max;
    if (ok && slash != std::string_view::npos) {
      auto p = text.substr(slash + 1);
      unsigned v = 0;
      auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
      ok = !p.empty() && ec == std::errc() && ptr == p.data() + p.size() && v <= max;
      n.prefix = v;
    }
    if (!ok) {
      if (bad) *bad = std::string(text);
      return std::nullopt;
    }
    out.nets_.push_back(n);
  }
  return out;
}

bool proxy_list::contains(std::string_view ip) const {
  if (nets_.empty()) return false;
  bool v6 = false;
  unsigned char b[16];
  if (!parse_addr(ip, v6, b)) return false;
  for (const auto& n : nets_)
    if (n.v6 == v6 && prefix_equal(n.bytes, b, n.prefix)) return true;
  return false;
}

std::string normalize_ip(std::string_view ip) {
  bool v6 = false;
  unsigned char b[16];
  if (!parse_addr(ip, v6, b)) return {};
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(v6 ? AF_INET6 : AF_INET, b, buf, sizeof buf)) return {};
  return buf;
}

std::string client_ip(std::string_view peer, std::string_view forwarded_for, const proxy_list& trusted,
                      bool* from_header) {
  if (from_header) *from_header = false;
  std::string current = normalize_ip(peer);
  if (current.empty()) current = std::string(peer);
  if (forwarded_for.empty() || !trusted.contains(current)) return current;
  // Walk from the nearest hop outwards; every hop we trust may speak for the one before it.
  auto hops = core::split(forwarded_for, ',', true);
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    std::string hop = normalize_ip(*it);
    if (hop.empty()) break;  // garbage: believe no further
    if (from_header) *from_header = true;
    current = hop;
    if (!trusted.contains(current)) break;
  }
  return current;
}

}  // namespace zuperior::http
