#pragma once
#include "config/diagnostic.hpp"
#include "config/loader.hpp"

namespace zuperior::config {

/// Checks that need the whole configuration: required keys, and the stricter rules of
/// NODE_ENV=production (secret strength, default passwords, CORS). Appends to `cfg.problems`.
void check_policy(loaded_config& cfg);

/// True when a secret looks like a placeholder or is too uniform to be one.
bool weak_secret(std::string_view secret);
/// True when a password is one of the well-known defaults.
bool default_password(std::string_view password);

}  // namespace zuperior::config
