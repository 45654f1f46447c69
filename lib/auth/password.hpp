#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace zuperior::auth {

/// Lowest and highest bcrypt cost accepted (2^cost rounds).
inline constexpr unsigned min_bcrypt_cost = 4;
inline constexpr unsigned max_bcrypt_cost = 31;
/// Longest password accepted; bcrypt itself reads only the first 72 bytes (as bcryptjs does).
inline constexpr std::size_t max_password_size = 1024;

/// A bcrypt "$2b$<cost>$…" hash of `password` with a fresh random salt (libxcrypt crypt_gensalt_rn +
/// crypt_rn). SLOW by design (~50-100 ms at cost 10): call it on a worker/pool thread, never on a
/// network thread. Throws std::invalid_argument for a password with a NUL byte or over
/// max_password_size, or a cost outside [min_bcrypt_cost, max_bcrypt_cost]; std::runtime_error if
/// the system's crypt library fails.
std::string hash_password(std::string_view password, unsigned cost);

/// True when `password` matches `stored`, a bcrypt hash "$2a$", "$2b$" or "$2y$" (as bcryptjs and
/// PHP store them). The final comparison is constant-time. Anything else in `stored` (empty,
/// another scheme, a malformed hash) is false, never an exception. SLOW like hash_password():
/// run it off the network threads.
bool verify_password(std::string_view password, std::string_view stored);

/// A fixed bcrypt hash at `cost` (made on first use, once per cost, thread-safe), for checking a
/// login of an unknown e-mail: verifying against it takes as long as against a stored hash of that
/// cost, so the answer's timing does not tell which e-mails are registered. SLOW on first use.
/// Throws std::invalid_argument for a cost outside [min_bcrypt_cost, max_bcrypt_cost].
const std::string& stand_in_hash(unsigned cost);

/// True when `stored` looks like a bcrypt hash this module can verify ($2a$/$2b$/$2y$, cost, 53 chars).
bool is_bcrypt_hash(std::string_view stored);

/// The cost encoded in a bcrypt hash, e.g. to rehash users whose cost is below the configured one.
std::optional<unsigned> bcrypt_cost(std::string_view stored);

}  // namespace zuperior::auth
