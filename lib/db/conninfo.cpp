#include "db/conninfo.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/strings.hpp"
#include "core/url.hpp"

namespace zuperior::db {

std::string libpq_url(const std::string& database_url, std::chrono::milliseconds connect_timeout) {
  auto q = database_url.find('?');
  std::string base = database_url.substr(0, q);
  std::vector<std::string> kept;
  std::string schema;
  if (q != std::string::npos) {
    for (const auto& pair : core::split(std::string_view(database_url).substr(q + 1), '&', true)) {
      std::string name = core::percent_decode(pair.substr(0, pair.find('=')));
      std::string value =
          pair.find('=') == std::string::npos ? "" : core::percent_decode(pair.substr(pair.find('=') + 1));
      static const char* prisma_only[] = {
          "connection_limit", "pool_timeout",         "connect_timeout", "socket_timeout",
          "pgbouncer",        "statement_cache_size", "schema"};
      if (name == "schema") schema = value;
      if (std::find_if(std::begin(prisma_only), std::end(prisma_only), [&](const char* p) { return name == p; }) !=
          std::end(prisma_only))
        continue;
      kept.push_back(pair);
    }
  }
  long secs = std::max<long>(1, static_cast<long>((connect_timeout.count() + 999) / 1000));
  kept.push_back(fmt::format("connect_timeout={}", secs));
  if (!schema.empty()) kept.push_back("options=" + core::percent_encode("-csearch_path=" + schema));
  kept.push_back("application_name=zuperior");
  std::string out = base + "?";
  for (size_t i = 0; i < kept.size(); ++i) out += (i ? "&" : "") + kept[i];
  return out;
}

}  // namespace zuperior::db
