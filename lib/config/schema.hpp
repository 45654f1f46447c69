#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/settings.hpp"

namespace zuperior::config {

/// The type of a configuration value; decides parsing, validation and display.
enum class kind {
  string,
  secret,
  integer,
  number,
  boolean,
  duration,
  size,
  url,
  host,
  ip,
  port,
  enumeration,
  list,
  rate
};

/// A parsed value, before it is stored into `settings`.
using value = std::variant<std::string, std::int64_t, double, bool, milliseconds, std::uint64_t,
                           std::vector<std::string>, rate_tier>;

/// One configuration key.
struct key_spec {
  std::string path;  // "server.port"
  kind type = kind::string;
  std::string help;
  std::vector<std::string> aliases;  // the seed's variable names, e.g. "DATABASE_URL"
  std::int64_t min = 0, max = 0;     // integer/port/duration(ms)/size ranges when max > min
  std::vector<std::string> choices;  // enum values, or URL schemes for kind::url
  bool reloadable = false;           // applied on SIGHUP
  std::function<void(settings&, const value&)> assign;
  std::function<std::string(const settings&)> render;  // the value as configuration text

  /// "ZUPERIOR_SERVER_PORT".
  std::string env_name() const;
  /// True for secrets and URLs that may carry passwords.
  bool sensitive() const;
};

/// Every key, in documentation order.
const std::vector<key_spec>& schema();
/// The key with this dotted path, or nullptr.
const key_spec* find_key(std::string_view path);
/// The key whose environment name (ZUPERIOR_… or a seed alias) is `name`, or nullptr.
const key_spec* find_env(std::string_view name);

/// Parsing outcome: a value, or an error message and a fix hint.
struct parse_result {
  std::optional<value> parsed;
  std::string error;
  std::string hint;
};

/// Parses and validates `text` (or `items`, for lists given as YAML sequences) for `spec`.
parse_result parse_value(const key_spec& spec, const std::string& text,
                         const std::vector<std::string>* items = nullptr);
/// `text` as it may be shown: secrets redacted, URL passwords masked.
std::string display_value(const key_spec& spec, const std::string& text);

}  // namespace zuperior::config
