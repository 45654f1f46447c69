#include "ratelimit/tier.hpp"

namespace zuperior::ratelimit {

std::string_view to_string(tier t) {
  switch (t) {
    case tier::strict:
      return "strict";
    case tier::standard:
      return "standard";
    case tier::generous:
      return "generous";
    case tier::websocket:
      return "websocket";
  }
  return "unknown";
}

std::optional<tier> parse_tier(std::string_view name) {
  for (tier t : all_tiers)
    if (to_string(t) == name) return t;
  return std::nullopt;
}

const config::rate_tier& tier_settings(const config::ratelimit_settings& s, tier t) {
  switch (t) {
    case tier::strict:
      return s.strict;
    case tier::standard:
      return s.standard;
    case tier::generous:
      return s.generous;
    case tier::websocket:
      return s.websocket;
  }
  return s.standard;
}

config::fallback_mode fallback_of(const config::ratelimit_settings& s, tier t) {
  switch (t) {
    case tier::strict:
      return s.fallback_strict;
    case tier::standard:
      return s.fallback_standard;
    case tier::generous:
      return s.fallback_generous;
    case tier::websocket:
      return s.fallback_websocket;
  }
  return config::fallback_mode::local;
}

}  // namespace zuperior::ratelimit
