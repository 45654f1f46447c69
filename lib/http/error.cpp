#include "http/error.hpp"

#include "core/strings.hpp"

namespace zuperior::http {

status status_of(errc e) noexcept {
  switch (e) {
    case errc::bad_request:
      return status::bad_request;
    case errc::validation:
      return status::bad_request;
    case errc::unauthorized:
      return status::unauthorized;
    case errc::forbidden:
      return status::forbidden;
    case errc::not_found:
      return status::not_found;
    case errc::method_not_allowed:
      return status::method_not_allowed;
    case errc::request_timeout:
      return status::request_timeout;
    case errc::conflict:
      return status::conflict;
    case errc::payload_too_large:
      return status::payload_too_large;
    case errc::unsupported_media_type:
      return status::unsupported_media_type;
    case errc::header_too_large:
      return status::request_header_fields_too_large;
    case errc::too_many_requests:
      return status::too_many_requests;
    case errc::internal:
      return status::internal_server_error;
    case errc::unavailable:
      return status::service_unavailable;
    case errc::timeout:
      return status::gateway_timeout;
    case errc::not_implemented:
      return status::not_implemented;
  }
  return status::internal_server_error;
}

std::string_view default_message(errc e) noexcept {
  switch (e) {
    case errc::bad_request:
      return "Bad request";
    case errc::validation:
      return "Validation error";
    case errc::unauthorized:
      return "Unauthorized";
    case errc::forbidden:
      return "Forbidden";
    case errc::not_found:
      return "Not found";
    case errc::method_not_allowed:
      return "Method not allowed";
    case errc::request_timeout:
      return "Request timeout";
    case errc::conflict:
      return "Conflict";
    case errc::payload_too_large:
      return "Request body too large";
    case errc::unsupported_media_type:
      return "Content-Type must be application/json";
    case errc::header_too_large:
      return "Request header fields too large";
    case errc::too_many_requests:
      return "Too many requests. Please try again later.";
    case errc::internal:
      return "Internal server error";
    case errc::unavailable:
      return "Service unavailable";
    case errc::timeout:
      return "Upstream timeout";
    case errc::not_implemented:
      return "Transfer-Encoding not implemented";
  }
  return "Internal server error";
}

std::string error_body(std::string_view message, const std::vector<field_error>& errors) {
  std::string out = "{\"success\":false,\"message\":" + core::quote(message);
  if (!errors.empty()) {
    out += ",\"errors\":[";
    for (std::size_t i = 0; i < errors.size(); ++i) {
      if (i) out += ',';
      out += "{\"field\":" + core::quote(errors[i].field) + ",\"message\":" + core::quote(errors[i].message) + "}";
    }
    out += ']';
  }
  out += '}';
  return out;
}

response error_response(const request& req, errc e, std::string_view message, const std::vector<field_error>& errors) {
  return json_response(req, status_of(e), error_body(message.empty() ? default_message(e) : message, errors));
}

}  // namespace zuperior::http
