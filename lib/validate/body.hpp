#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "validate/schema.hpp"

namespace zuperior::validate {

/// The seed's 400 body: {"success":false,"message":"Validation error","errors":[{"field","message"}…]}.
nlohmann::json error_body(const std::vector<field_error>& errors);
/// The same, serialised.
std::string error_body_text(const std::vector<field_error>& errors);

/// Deepest nesting of arrays/objects parse_body() accepts.
inline constexpr std::size_t max_json_depth = 64;

/// A parsed request body, or why it could not be parsed (for a 400 "Malformed JSON body").
struct parsed_body {
  nlohmann::json value;
  std::string error;  // empty on success
  /// True when parsing succeeded.
  explicit operator bool() const { return error.empty(); }
};

/// Parses a JSON request body without exceptions; refuses invalid JSON (including invalid UTF-8),
/// an empty body, and nesting deeper than max_json_depth.
parsed_body parse_body(std::string_view text);

/// True for a Content-Type of application/json (any case, parameters such as charset allowed) or
/// application/<something>+json.
bool is_json_content_type(std::string_view content_type);

}  // namespace zuperior::validate
