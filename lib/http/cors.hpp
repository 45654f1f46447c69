#pragma once
// CORS for the configured origins only: a matching Origin gets Access-Control-Allow-Origin echoed
// with credentials allowed; anything else gets no CORS headers (the browser then refuses).
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hpp"

namespace zuperior::http {

/// The allowed origins ("*" allows any, still echoed so that credentials work).
class cors_policy {
 public:
  /// Builds the policy; origins are compared without a trailing '/'.
  explicit cors_policy(std::vector<std::string> origins);
  /// True when `origin` may read responses.
  bool allowed(std::string_view origin) const;
  /// True when the request may be authenticated by its cookies: it has no Origin (not a browser's
  /// cross-site request), or its Origin is listed by name ("*" does not count), or names the host
  /// of the Host header (same site, port aside: a proxy may drop it). A WebSocket handshake is not
  /// subject to CORS, so without this a page of any site could use a visitor's cookie.
  bool cookie_allowed(const request& req) const;
  /// True for a preflight request (OPTIONS with Access-Control-Request-Method).
  static bool is_preflight(const request& req);
  /// The answer to a preflight: 204 with the allow headers, or 403 for a foreign origin.
  response preflight(const request& req) const;
  /// Adds the CORS headers to `res` when the request's origin is allowed.
  void decorate(const request& req, response& res) const;

 private:
  std::vector<std::string> origins_;
  bool any_ = false;
};

/// True when a client-sent X-Request-Id may be reused (1-128 chars of [A-Za-z0-9._:-]).
bool valid_request_id(std::string_view id);
/// A fresh request id, unique per process: 16 hex digits.
std::string new_request_id();

}  // namespace zuperior::http
