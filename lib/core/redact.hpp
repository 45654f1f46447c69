#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::core {

/// What every redacted secret prints as.
inline constexpr std::string_view redacted = "<redacted>";

/// `text` with the password of any URL in it replaced (user:***@host), also for non-URL text.
std::string redact_url(std::string_view text);
/// `text` with every occurrence of each non-empty secret replaced, plus URL passwords and
/// bearer tokens / JWTs masked.
std::string redact_text(std::string_view text, const std::vector<std::string>& secrets = {});

}  // namespace zuperior::core
