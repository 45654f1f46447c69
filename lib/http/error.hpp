#pragma once
// Data-plane errors and the one function that maps them to HTTP statuses; bodies always have the
// seed's shape {"success":false,"message":…,"errors":[{field,message}]}.
#include <string>
#include <vector>

#include "http/message.hpp"

namespace zuperior::http {

/// Why a request failed.
enum class errc {
  bad_request,             // malformed JSON, bad query
  validation,              // schema errors (400 with `errors`)
  unauthorized,            // 401
  forbidden,               // 403
  not_found,               // 404
  method_not_allowed,      // 405
  request_timeout,         // 408
  conflict,                // 409
  payload_too_large,       // 413
  unsupported_media_type,  // 415
  header_too_large,        // 431
  too_many_requests,       // 429
  internal,                // 500
  unavailable,             // 503 (dependency down, pool timeout, connection cap, draining)
  timeout,                 // 504 upstream deadline
  not_implemented,         // 501 (a transfer coding we do not decode)
};

/// One field's validation failure.
struct field_error {
  std::string field;
  std::string message;
};

/// The HTTP status for an error: the single place this mapping lives.
status status_of(errc e) noexcept;
/// The seed-shaped JSON body for an error.
std::string error_body(std::string_view message, const std::vector<field_error>& errors = {});
/// A complete error response for `req` (keep-alive and version copied from it).
response error_response(const request& req, errc e, std::string_view message,
                        const std::vector<field_error>& errors = {});
/// The default message for an error when the caller has none.
std::string_view default_message(errc e) noexcept;

}  // namespace zuperior::http
