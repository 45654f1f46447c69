#pragma once
// Standard base64 (RFC 4648, with padding), as Engine.IO's polling transport carries binary packets.
#include <optional>
#include <string>
#include <string_view>

namespace zuperior::ws {

/// Encodes bytes as padded base64.
std::string base64_encode(std::string_view bytes);
/// Decodes padded or unpadded base64; nullopt on any character outside the alphabet or a bad length.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace zuperior::ws
