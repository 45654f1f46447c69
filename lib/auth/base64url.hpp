#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace zuperior::auth {

/// Base64url (RFC 4648 §5) without padding, as JWTs use.
std::string base64url_encode(std::string_view bytes);
/// Strict decode: only [A-Za-z0-9_-], no padding, no whitespace, length not 1 mod 4, and the unused
/// low bits of the last character must be zero (so every byte string has exactly one encoding).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace zuperior::auth
