#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zuperior::core {

/// Parses "250ms", "10s", "1m", "2h", "7d", "1500us" (a bare number is seconds); nullopt if malformed.
std::optional<std::chrono::microseconds> parse_duration(std::string_view text);
/// Formats a duration in the largest exact unit ("10s", "250ms", "1m").
std::string format_duration(std::chrono::microseconds d);
/// Parses "1MiB", "16KiB", "1MB", "512", "1g" (bytes; binary and decimal suffixes); nullopt if malformed.
std::optional<std::uint64_t> parse_size(std::string_view text);
/// Formats a byte count ("1MiB", "16KiB", "1000B").
std::string format_size(std::uint64_t bytes);

}  // namespace zuperior::core
