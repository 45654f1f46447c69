#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::core {

/// `s` without leading and trailing ASCII whitespace.
std::string_view trim(std::string_view s);
/// A view into a temporary would dangle (`trim(str.substr(1))` on a std::string): not allowed.
std::string_view trim(std::string&&) = delete;
/// `s` split at every `sep`; empty pieces are kept unless `skip_empty`.
std::vector<std::string> split(std::string_view s, char sep, bool skip_empty = false);
/// ASCII lower-case copy.
std::string to_lower(std::string_view s);
/// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);
/// True when `s` is a non-empty RFC 9110 token (letters, digits, !#$%&'*+-.^_`|~): a header field
/// or cookie name.
bool is_token(std::string_view s);
/// `s` quoted and escaped as a JSON string would be, for one-line messages.
std::string quote(std::string_view s);
/// `s` trimmed, with every run of whitespace that contains a line break replaced by one space: a
/// library's multi-line message (libpq's "...failed: Connection refused\n\tIs the server running...")
/// as one log line.
std::string one_line(std::string_view s);
/// Appends the decimal digits of `v` to `out` (no locale, no allocation beyond `out`'s growth).
void append_number(std::string& out, std::int64_t v);

}  // namespace zuperior::core
