#pragma once
// Which address a request comes from: the peer, or — only when the peer is a configured trusted
// proxy — the right-most X-Forwarded-For entry that is not itself a trusted proxy.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::http {

/// A set of trusted proxies given as IPs or CIDRs ("10.0.0.0/8", "::1", "127.0.0.1").
class proxy_list {
 public:
  /// Parses the entries; nullopt and `bad` set to the first malformed entry when one is invalid.
  static std::optional<proxy_list> parse(const std::vector<std::string>& entries, std::string* bad = nullptr);
  /// True when `ip` (a literal address) falls in one of the entries.
  bool contains(std::string_view ip) const;
  /// True when no proxy is trusted.
  bool empty() const noexcept { return nets_.empty(); }

 private:
  struct net {
    bool v6 = false;
    unsigned char bytes[16] = {};
    unsigned prefix = 0;
  };
  std::vector<net> nets_;
};

/// The client address for a request from `peer` carrying `forwarded_for` (may be empty).
/// `from_header` (optional) says whether the answer came from X-Forwarded-For: the peer is trusted
/// and its nearest hop was an address (it may equal the peer's: a proxy forwarding a local client).
std::string client_ip(std::string_view peer, std::string_view forwarded_for, const proxy_list& trusted,
                      bool* from_header = nullptr);
/// `ip` in canonical text form with IPv4-mapped IPv6 addresses shown as IPv4; empty when not an address.
std::string normalize_ip(std::string_view ip);

}  // namespace zuperior::http
