#pragma once
// Request-target forms (RFC 9112 3.2), kept out of message.hpp so that most of the tree does not
// recompile for it.
#include <string_view>

namespace zuperior::http {

/// The origin-form ("/path?query") of a request target: an absolute-form "http://host/path?query"
/// (which proxies send, and which a server must accept) loses its scheme and authority; any other
/// target comes back unchanged.
inline std::string_view origin_form(std::string_view target) {
  if (target.empty() || target.front() == '/') return target;
  const auto scheme = target.find("://");
  if (scheme == std::string_view::npos || scheme == 0) return target;
  for (char c : target.substr(0, scheme))
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
          c == '.'))
      return target;
  const auto rest = target.substr(scheme + 3);
  const auto slash = rest.find_first_of("/?");
  if (slash == std::string_view::npos) return "/";
  return rest.substr(slash);
}

}  // namespace zuperior::http
