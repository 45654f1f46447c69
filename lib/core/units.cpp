#include "core/units.hpp"

#include <fmt/format.h>
#include <charconv>
#include <limits>

#include "core/strings.hpp"

namespace zuperior::core {
namespace {

// Splits "12.5ms" into the number and its unit; both must be present where required.
bool split_number(std::string_view text, double& number, std::string& unit) {
  text = trim(text);
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return false;
  std::string_view digits = text.substr(0, i);
  if (digits.find('.') != digits.rfind('.')) return false;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (ec != std::errc{} || ptr != digits.data() + digits.size()) return false;
  unit = to_lower(trim(text.substr(i)));
  return true;
}

}  // namespace

std::optional<std::chrono::microseconds> parse_duration(std::string_view text) {
  double number = 0;
  std::string unit;
  if (!split_number(text, number, unit)) return std::nullopt;
  double us_per_unit;
  if (unit.empty() || unit == "s" || unit == "sec")
    us_per_unit = 1e6;
  else if (unit == "us" || unit == "µs")
    us_per_unit = 1;
  else if (unit == "ms")
    us_per_unit = 1e3;
  else if (unit == "m" || unit == "min")
    us_per_unit = 60e6;
  else if (unit == "h")
    us_per_unit = 3600e6;
  else if (unit == "d")
    us_per_unit = 86400e6;
  else
    return std::nullopt;
  double us = number * us_per_unit;
  if (us > static_cast<double>(std::numeric_limits<std::int64_t>::max() / 2)) return std::nullopt;
  return std::chrono::microseconds(static_cast<std::int64_t>(us + 0.5));
}

std::string format_duration(std::chrono::microseconds d) {
  auto us = d.count();
  if (us == 0) return "0s";
  struct unit {
    std::int64_t size;
    const char* name;
  };
  for (auto u : {unit{86400000000LL, "d"}, unit{3600000000LL, "h"}, unit{60000000LL, "m"}, unit{1000000LL, "s"},
                 unit{1000LL, "ms"}}) {
    if (us % u.size == 0) return fmt::format("{}{}", us / u.size, u.name);
  }
  return fmt::format("{}us", us);
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  double number = 0;
  std::string unit;
  if (!split_number(text, number, unit)) return std::nullopt;
  double mult;
  if (unit.empty() || unit == "b")
    mult = 1;
  else if (unit == "k" || unit == "kb")
    mult = 1e3;
  else if (unit == "m" || unit == "mb")
    mult = 1e6;
  else if (unit == "g" || unit == "gb")
    mult = 1e9;
  else if (unit == "kib")
    mult = 1024.0;
  else if (unit == "mib")
    mult = 1024.0 * 1024;
  else if (unit == "gib")
    mult = 1024.0 * 1024 * 1024;
  else
    return std::nullopt;
  double bytes = number * mult;
  if (bytes > 1e18) return std::nullopt;
  return static_cast<std::uint64_t>(bytes + 0.5);
}

std::string format_size(std::uint64_t bytes) {
  if (bytes != 0 && bytes % (1024ULL * 1024 * 1024) == 0) return fmt::format("{}GiB", bytes >> 30);
  if (bytes != 0 && bytes % (1024ULL * 1024) == 0) return fmt::format("{}MiB", bytes >> 20);
  if (bytes != 0 && bytes % 1024ULL == 0) return fmt::format("{}KiB", bytes >> 10);
  return fmt::format("{}B", bytes);
}

}  // namespace zuperior::core
