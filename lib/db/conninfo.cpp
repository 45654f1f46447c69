#include "db/conninfo.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "core/strings.hpp"
#include "core/url.hpp"
#include "net/resolve_within.hpp"
#include "net/run_step.hpp"

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
  // A server whose network dropped without a reset (a host gone, a firewall's state lost) is found
  // out by TCP keepalives after about 25 s; the default (two hours) held a pool thread, and a
  // stopping daemon joining it, that long. Unless the URL sets its own.
  auto has = [&kept](std::string_view name) {
    return std::any_of(kept.begin(), kept.end(), [name](const std::string& p) {
      return p.size() > name.size() && p.compare(0, name.size(), name) == 0 && p[name.size()] == '=';
    });
  };
  for (const auto& [name, value] : {std::pair<std::string_view, std::string_view>{"keepalives", "1"},
                                    {"keepalives_idle", "10"},
                                    {"keepalives_interval", "5"},
                                    {"keepalives_count", "3"},
                                    {"tcp_user_timeout", "25000"}})
    if (!has(name)) kept.push_back(fmt::format("{}={}", name, value));
  std::string out = base + "?";
  for (size_t i = 0; i < kept.size(); ++i) out += (i ? "&" : "") + kept[i];
  return out;
}

namespace {

// Where the authority's host:port sits in a postgres:// URL: [begin, end).
struct authority_span {
  std::size_t begin = 0, end = 0;
};

std::optional<authority_span> host_span(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return std::nullopt;
  std::size_t start = scheme + 3;
  std::size_t stop = url.find_first_of("/?", start);
  if (stop == std::string::npos) stop = url.size();
  auto at = url.rfind('@', stop == 0 ? 0 : stop - 1);
  if (at != std::string::npos && at >= start) start = at + 1;
  return authority_span{start, stop};
}

bool has_query_key(const std::string& url, std::string_view key) {
  auto q = url.find('?');
  if (q == std::string::npos) return false;
  for (const auto& pair : core::split(std::string_view(url).substr(q + 1), '&', true))
    if (core::percent_decode(pair.substr(0, pair.find('='))) == key) return true;
  return false;
}

}  // namespace

std::optional<named_host> single_named_host(const std::string& url) {
  auto span = host_span(url);
  if (!span) return std::nullopt;
  std::string_view hostport(url.data() + span->begin, span->end - span->begin);
  if (hostport.empty() || hostport.front() == '[' || hostport.find(',') != std::string_view::npos) return std::nullopt;
  if (has_query_key(url, "host") || has_query_key(url, "hostaddr")) return std::nullopt;
  named_host out;
  auto colon = hostport.find(':');
  out.host = core::percent_decode(hostport.substr(0, colon));
  out.port = colon == std::string_view::npos ? "5432" : std::string(hostport.substr(colon + 1));
  if (out.host.empty() || out.host.front() == '/' || core::is_ip_address(out.host)) return std::nullopt;
  if (out.port.empty()) out.port = "5432";
  return out;
}

std::string pin_addresses(const std::string& url, const std::vector<std::string>& addresses) {
  auto span = host_span(url);
  if (!span || addresses.empty()) return url;
  const std::string hostport = url.substr(span->begin, span->end - span->begin);
  std::string hosts, addrs;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    hosts += (i ? "," : "") + hostport;
    addrs += (i ? "," : "") + addresses[i];
  }
  std::string out = url.substr(0, span->begin) + hosts + url.substr(span->end);
  out += out.find('?') == std::string::npos ? "?" : "&";
  return out + "hostaddr=" + core::percent_encode(addrs);
}

std::string resolve_host(const std::string& url, std::chrono::milliseconds timeout) {
  auto named = single_named_host(url);
  if (!named) return url;
  boost::system::error_code ec;
  auto results = net::resolve_within(named->host, named->port, timeout, ec);
  if (ec || results.empty())
    throw std::runtime_error(
        fmt::format("cannot resolve {}: {}", named->host, ec ? net::failure_text(ec, timeout) : "no address"));
  std::vector<std::string> addresses;
  for (const auto& r : results) {
    auto a = r.endpoint().address().to_string();
    if (std::find(addresses.begin(), addresses.end(), a) == addresses.end()) addresses.push_back(a);
  }
  return pin_addresses(url, addresses);
}

}  // namespace zuperior::db
