#pragma once
#include <array>
#include <optional>
#include <string_view>

#include "config/settings.hpp"

namespace zuperior::ratelimit {

/// The seed's four tiers.
enum class tier { strict, standard, generous, websocket };

/// Every tier, in order (for metrics and iteration).
inline constexpr std::array<tier, 4> all_tiers{tier::strict, tier::standard, tier::generous, tier::websocket};

/// "strict", "standard", "generous", "websocket".
std::string_view to_string(tier t);
/// The tier with this name (case-sensitive), or nullopt.
std::optional<tier> parse_tier(std::string_view name);
/// The limit and window of `t` in `s`.
const config::rate_tier& tier_settings(const config::ratelimit_settings& s, tier t);
/// What `t` does while Redis is unreachable.
config::fallback_mode fallback_of(const config::ratelimit_settings& s, tier t);

}  // namespace zuperior::ratelimit
