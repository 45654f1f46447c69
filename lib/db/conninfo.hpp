#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace zuperior::db {

/// A DATABASE_URL turned into what libpq accepts: Prisma's pool parameters (connection_limit,
/// pool_timeout, schema, pgbouncer, …) removed or translated, connect_timeout set.
std::string libpq_url(const std::string& database_url, std::chrono::milliseconds connect_timeout);

/// The host of a libpq URL when it is one name to look up (not an address literal, not a socket
/// directory, not a list of hosts, not overridden by a host= parameter), with its port ("5432" when
/// none is given); nullopt otherwise.
struct named_host {
  std::string host;
  std::string port;
};
std::optional<named_host> single_named_host(const std::string& libpq_url);

/// The URL with its named host pinned to `addresses` (non-empty; looked up by the caller): the host
/// is repeated once per address and hostaddr= lists them, so libpq tries each in turn, as it would
/// after its own lookup, and still uses the name for TLS and password-file checks.
std::string pin_addresses(const std::string& libpq_url, const std::vector<std::string>& addresses);

/// libpq looks a host name up itself, outside connect_timeout (resolv.conf's retries can take tens
/// of seconds, and a thread waiting on it cannot be stopped). This looks it up within `timeout` and
/// pins the result; a URL without a single named host comes back as it is. Throws
/// std::runtime_error("cannot resolve HOST: ...") when the lookup fails or times out.
std::string resolve_host(const std::string& libpq_url, std::chrono::milliseconds timeout);

}  // namespace zuperior::db
