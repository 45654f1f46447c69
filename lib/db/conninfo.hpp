#pragma once
#include <chrono>
#include <string>

namespace zuperior::db {

/// A DATABASE_URL turned into what libpq accepts: Prisma's pool parameters (connection_limit,
/// pool_timeout, schema, pgbouncer, …) removed or translated, connect_timeout set.
std::string libpq_url(const std::string& database_url, std::chrono::milliseconds connect_timeout);

}  // namespace zuperior::db
