#include "config/schema.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <charconv>
#include <cmath>

#include "core/redact.hpp"
#include "core/strings.hpp"
#include "core/units.hpp"
#include "core/url.hpp"

namespace zuperior::config {
namespace {

// ---- storing a parsed value into a settings field, and rendering it back -------------------

void store(std::string& f, const value& v) { f = std::get<std::string>(v); }
void store(bool& f, const value& v) { f = std::get<bool>(v); }
void store(double& f, const value& v) { f = std::get<double>(v); }
void store(milliseconds& f, const value& v) { f = std::get<milliseconds>(v); }
void store(std::vector<std::string>& f, const value& v) { f = std::get<std::vector<std::string>>(v); }
void store(rate_tier& f, const value& v) { f = std::get<rate_tier>(v); }
void store(std::uint64_t& f, const value& v) {
  f = std::holds_alternative<std::uint64_t>(v) ? std::get<std::uint64_t>(v)
                                               : static_cast<std::uint64_t>(std::get<std::int64_t>(v));
}
template <class I>
requires std::is_integral_v<I>
void store(I& f, const value& v) { f = static_cast<I>(std::get<std::int64_t>(v)); }
void store(fallback_mode& f, const value& v) {
  const auto& s = std::get<std::string>(v);
  f = s == "open" ? fallback_mode::open : s == "closed" ? fallback_mode::closed : fallback_mode::local;
}

std::string show(const std::string& f, kind) { return f; }
std::string show(bool f, kind) { return f ? "true" : "false"; }
std::string show(double f, kind) { return fmt::format("{}", f); }
std::string show(milliseconds f, kind) { return core::format_duration(f); }
std::string show(const std::vector<std::string>& f, kind) { return fmt::format("{}", fmt::join(f, ",")); }
std::string show(const rate_tier& f, kind) { return fmt::format("{}/{}", f.limit, core::format_duration(f.window)); }
std::string show(std::uint64_t f, kind k) { return k == kind::size ? core::format_size(f) : std::to_string(f); }
template <class I>
requires std::is_integral_v<I> std::string show(I f, kind) { return std::to_string(f); }
std::string show(fallback_mode f, kind) {
  return f == fallback_mode::open ? "open" : f == fallback_mode::closed ? "closed" : "local";
}

// Builds a key_spec bound to one field of one section.
struct builder {
  key_spec spec;
  builder& alias(std::string a) {
    spec.aliases.push_back(std::move(a));
    return *this;
  }
  builder& range(std::int64_t lo, std::int64_t hi) {
    spec.min = lo;
    spec.max = hi;
    return *this;
  }
  builder& choices(std::vector<std::string> c) {
    spec.choices = std::move(c);
    return *this;
  }
  builder& reloadable() {
    spec.reloadable = true;
    return *this;
  }
};

template <class S, class F>
builder key(std::string path, kind k, S settings::*section, F S::*member, std::string help) {
  builder b;
  b.spec.path = std::move(path);
  b.spec.type = k;
  b.spec.help = std::move(help);
  b.spec.assign = [section, member](settings& s, const value& v) { store((s.*section).*member, v); };
  b.spec.render = [section, member, k](const settings& s) { return show((s.*section).*member, k); };
  return b;
}

std::vector<key_spec> build_schema() {
  using k = kind;
  const std::vector<std::string> fallback{"local", "open", "closed"};
  std::vector<builder> b{
      key("app.env", k::enumeration, &settings::app, &app_settings::env,
          "Deployment profile; production enforces stricter checks.")
          .alias("NODE_ENV")
          .choices({"development", "production", "test"}),

      key("server.host", k::host, &settings::server, &server_settings::host, "Listen address (IP or host name)."),
      key("server.port", k::port, &settings::server, &server_settings::port, "Listen port; 0 picks a free one.")
          .range(0, 65535),
      key("server.workers", k::integer, &settings::server, &server_settings::workers,
          "Event-loop threads; 0 means one per core.")
          .range(0, 256),
      key("server.max_body_size", k::size, &settings::server, &server_settings::max_body_size,
          "Largest accepted request body; larger gets 413.")
          .range(1024, 1LL << 30),
      key("server.max_header_size", k::size, &settings::server, &server_settings::max_header_size,
          "Largest accepted request head (request line plus headers); larger gets 431.")
          .range(1024, 1 << 20),
      key("server.header_timeout", k::duration, &settings::server, &server_settings::header_timeout,
          "Time a client has to send a complete request head (checked by a per-worker sweep: may fire up to an eighth "
          "of the shortest server timeout, at most 250 ms, late).")
          .range(100, 3'600'000),
      key("server.request_timeout", k::duration, &settings::server, &server_settings::request_timeout,
          "Time a client has to send a request body once its head is in (408 past it), and to take a response that "
          "did not fit the socket at once.")
          .range(100, 3'600'000),
      key("server.idle_timeout", k::duration, &settings::server, &server_settings::idle_timeout,
          "Keep-alive connections idle this long are closed (checked by the same sweep as header_timeout).")
          .range(100, 86'400'000),
      key("server.drain_timeout", k::duration, &settings::server, &server_settings::drain_timeout,
          "On SIGTERM, how long in-flight work may take before the process exits anyway.")
          .range(0, 3'600'000),
      key("server.max_connections", k::integer, &settings::server, &server_settings::max_connections,
          "Open connections (HTTP and real-time) above which new ones get 503.")
          .range(1, 10'000'000),
      key("server.max_connections_per_ip", k::integer, &settings::server, &server_settings::max_connections_per_ip,
          "Open connections one client address may hold; also its long-polling Socket.IO sessions. A "
          "trusted proxy's connections carry many clients: they are held to max_connections only.")
          .range(1, 10'000'000),
      key("server.ipv6_prefix", k::integer, &settings::server, &server_settings::ipv6_prefix,
          "An IPv6 client is counted by its network of this many bits (rate limits, per-client caps): "
          "one subscriber holds a /64 or more; 128 = each address on its own.")
          .range(32, 128),
      key("server.trusted_proxies", k::list, &settings::server, &server_settings::trusted_proxies,
          "Proxy addresses or CIDRs whose X-Forwarded-For is believed (comma-separated)."),
      key("server.internal_networks", k::list, &settings::server, &server_settings::internal_networks,
          "Client addresses or CIDRs (after trusted proxies) that may read /metrics and the error texts "
          "of /apis/health; others get 403 and the health status without them (comma-separated). Add "
          "the monitoring network; a request forwarded by an untrusted peer never qualifies."),
      key("server.cors_origins", k::list, &settings::server, &server_settings::cors_origins,
          "Origins allowed by CORS (comma-separated URLs); the seed's NEXT_PUBLIC_APP_URL.")
          .alias("NEXT_PUBLIC_APP_URL"),
      key("server.public_url", k::url, &settings::server, &server_settings::public_url,
          "Public base URL of this API; the seed's NEXT_PUBLIC_API_BASE_URL.")
          .alias("NEXT_PUBLIC_API_BASE_URL")
          .choices({"http", "https"}),

      key("database.url", k::url, &settings::database, &database_settings::url,
          "PostgreSQL URL; connection_limit, pool_timeout and connect_timeout query parameters are honoured.")
          .alias("DATABASE_URL")
          .choices({"postgresql", "postgres"}),
      key("database.pool_size", k::integer, &settings::database, &database_settings::pool_size,
          "Connections in the pool (DATABASE_URL ?connection_limit=).")
          .range(1, 1000),
      key("database.pool_timeout", k::duration, &settings::database, &database_settings::pool_timeout,
          "Longest wait for a free pooled connection before 503 (?pool_timeout=, seconds).")
          .range(1, 3'600'000),
      key("database.connect_timeout", k::duration, &settings::database, &database_settings::connect_timeout,
          "Longest wait to open a connection (?connect_timeout=, seconds).")
          .range(100, 600'000),
      key("database.statement_timeout", k::duration, &settings::database, &database_settings::statement_timeout,
          "statement_timeout set on every daemon connection.")
          .range(1, 3'600'000),
      key("database.migrations_dir", k::string, &settings::database, &database_settings::migrations_dir,
          "Folder of NNNN_name.sql migration files."),
      key("database.history_table", k::string, &settings::database, &database_settings::history_table,
          "Table (optionally schema.table) recording applied migrations."),
      key("database.lock_timeout", k::duration, &settings::database, &database_settings::lock_timeout,
          "migrate: lock_timeout of every migration statement; retried with backoff.")
          .range(1, 3'600'000),
      key("database.migration_statement_timeout", k::duration, &settings::database,
          &database_settings::migration_statement_timeout,
          "migrate: statement_timeout of every migration statement; 0 means none.")
          .range(0, 86'400'000),

      key("redis.url", k::url, &settings::redis, &redis_settings::url,
          "Redis URL (redis://; TLS needs a local TLS proxy); overrides host/port/password/db when set.")
          .alias("REDIS_URL")
          .choices({"redis", "rediss"}),
      key("redis.host", k::host, &settings::redis, &redis_settings::host, "Redis host when no URL is set.")
          .alias("REDIS_HOST"),
      key("redis.port", k::port, &settings::redis, &redis_settings::port, "Redis port when no URL is set.")
          .alias("REDIS_PORT")
          .range(1, 65535),
      key("redis.password", k::secret, &settings::redis, &redis_settings::password,
          "Redis password when no URL is set.")
          .alias("REDIS_PASSWORD"),
      key("redis.db", k::integer, &settings::redis, &redis_settings::db, "Redis database number when no URL is set.")
          .range(0, 15),
      key("redis.key_prefix", k::string, &settings::redis, &redis_settings::key_prefix,
          "Prefix for every key this daemon uses and its revoked-tokens channel (e.g. 'prod:'); not for "
          "market.channel and market.account_channel, used as given."),
      key("redis.connect_timeout", k::duration, &settings::redis, &redis_settings::connect_timeout,
          "Longest wait to connect to Redis.")
          .range(10, 60'000),
      key("redis.command_timeout", k::duration, &settings::redis, &redis_settings::command_timeout,
          "Deadline of one Redis command.")
          .range(1, 60'000),

      key("auth.jwt_secret", k::secret, &settings::auth, &auth_settings::jwt_secret,
          "HS256 signing secret, at least 32 characters.")
          .alias("JWT_SECRET")
          .range(32, 4096),
      key("auth.token_ttl", k::duration, &settings::auth, &auth_settings::token_ttl, "Lifetime of issued tokens.")
          .range(60'000, 366LL * 86'400'000),
      key("auth.jwt_leeway", k::duration, &settings::auth, &auth_settings::jwt_leeway,
          "Clock skew tolerated when checking exp.")
          .range(0, 300'000),
      key("auth.cookie_name", k::string, &settings::auth, &auth_settings::cookie_name,
          "Name of the httpOnly token cookie."),
      key("auth.cookie_secure", k::enumeration, &settings::auth, &auth_settings::cookie_secure,
          "Secure attribute of the cookie; auto = only in production.")
          .choices({"auto", "true", "false"}),
      key("auth.cookie_same_site", k::enumeration, &settings::auth, &auth_settings::cookie_same_site,
          "SameSite attribute of the cookie.")
          .choices({"lax", "strict", "none"}),
      key("auth.bcrypt_cost", k::integer, &settings::auth, &auth_settings::bcrypt_cost,
          "bcrypt cost factor for new password hashes; a login of an unknown e-mail is checked against "
          "a hash of this cost, so set it to the stored hashes' cost (the answer's timing then does not "
          "tell which e-mails are registered).")
          .range(4, 16),

      key("ratelimit.enabled", k::boolean, &settings::ratelimit, &ratelimit_settings::enabled,
          "Turns every rate limit on or off.")
          .reloadable(),
      key("ratelimit.strict", k::rate, &settings::ratelimit, &ratelimit_settings::strict,
          "Auth endpoints: requests per sliding window.")
          .reloadable(),
      key("ratelimit.standard", k::rate, &settings::ratelimit, &ratelimit_settings::standard,
          "API endpoints: requests per sliding window.")
          .reloadable(),
      key("ratelimit.generous", k::rate, &settings::ratelimit, &ratelimit_settings::generous,
          "Market data: requests per sliding window.")
          .reloadable(),
      key("ratelimit.websocket", k::rate, &settings::ratelimit, &ratelimit_settings::websocket,
          "Inbound socket events per user per sliding window (in Redis: shared by every instance).")
          .reloadable(),
      key("ratelimit.fallback_strict", k::enumeration, &settings::ratelimit, &ratelimit_settings::fallback_strict,
          "While Redis is down: local limiter, open (allow) or closed (deny).")
          .choices(fallback)
          .reloadable(),
      key("ratelimit.fallback_standard", k::enumeration, &settings::ratelimit, &ratelimit_settings::fallback_standard,
          "As fallback_strict, for the standard tier.")
          .choices(fallback)
          .reloadable(),
      key("ratelimit.fallback_generous", k::enumeration, &settings::ratelimit, &ratelimit_settings::fallback_generous,
          "As fallback_strict, for the generous tier.")
          .choices(fallback)
          .reloadable(),
      key("ratelimit.fallback_websocket", k::enumeration, &settings::ratelimit, &ratelimit_settings::fallback_websocket,
          "As fallback_strict, for the websocket tier.")
          .choices(fallback)
          .reloadable(),
      key("ratelimit.key_prefix", k::string, &settings::ratelimit, &ratelimit_settings::key_prefix,
          "Redis key prefix of rate-limit counters (after redis.key_prefix): <prefix>:<tier>:<identifier>:<window "
          "index>."),

      key("realtime.path", k::string, &settings::realtime, &realtime_settings::path, "Socket.IO endpoint path."),
      key("realtime.ping_interval", k::duration, &settings::realtime, &realtime_settings::ping_interval,
          "Engine.IO heartbeat interval: the server pings this long after the open or the last pong.")
          .range(50, 600'000),
      key("realtime.ping_timeout", k::duration, &settings::realtime, &realtime_settings::ping_timeout,
          "Time a client has to answer a ping before it is dropped.")
          .range(50, 600'000),
      key("realtime.max_payload", k::size, &settings::realtime, &realtime_settings::max_payload,
          "Largest accepted Engine.IO message or polling body.")
          .range(1024, 100'000'000),
      key("realtime.namespaces", k::list, &settings::realtime, &realtime_settings::namespaces,
          "Extra Socket.IO namespaces besides '/' (e.g. /admin)."),
      key("realtime.max_symbols_per_socket", k::integer, &settings::realtime,
          &realtime_settings::max_symbols_per_socket, "Market symbols one socket may subscribe to.")
          .range(1, 10'000),
      key("realtime.outbox_limit", k::integer, &settings::realtime, &realtime_settings::outbox_limit,
          "Messages queued per socket before market data is conflated.")
          .range(4, 1'000'000),
      key("realtime.connect_rate", k::rate, &settings::realtime, &realtime_settings::connect_rate,
          "Socket connections per client address per window.")
          .reloadable(),
      key("realtime.max_violations", k::integer, &settings::realtime, &realtime_settings::max_violations,
          "Rate-limit refusals in a row after which a socket is disconnected.")
          .range(1, 1'000'000),
      key("realtime.account_recheck", k::duration, &settings::realtime, &realtime_settings::account_recheck,
          "How often account subscriptions are checked again (same owner, user active); 0 = never.")
          .range(0, 86'400'000),

      key("market.feed", k::enumeration, &settings::market, &market_settings::feed,
          "Where ticks come from: redis (pub/sub), sim (random walk) or none (no ticks; account updates "
          "still come from market.account_channel).")
          .choices({"redis", "sim", "none"}),
      key("market.symbols", k::list, &settings::market, &market_settings::symbols,
          "Symbols of the simulated feed, and with it the only ones clients may subscribe to (comma-separated); with "
          "the redis feed any valid symbol name is accepted."),
      key("market.symbols_path", k::string, &settings::market, &market_settings::symbols_path,
          "File of market symbols, one a line ('#' comments); replaces market.symbols. The seed's "
          "MARKET_DATA_SYMBOLS_PATH.")
          .alias("MARKET_DATA_SYMBOLS_PATH"),
      key("market.sim_rate", k::number, &settings::market, &market_settings::sim_rate,
          "Simulated ticks per second per symbol.")
          .range(0, 100'000),
      key("market.channel", k::string, &settings::market, &market_settings::channel,
          "Redis pub/sub channel of market ticks."),
      key("market.account_channel", k::string, &settings::market, &market_settings::account_channel,
          "Redis pub/sub channel of account updates."),
      key("market.balance_ttl", k::duration, &settings::market, &market_settings::balance_ttl,
          "TTL of cached balance:<accountId> snapshots.")
          .range(1'000, 30LL * 86'400'000),
      key("market.accounts_ttl", k::duration, &settings::market, &market_settings::accounts_ttl,
          "TTL of cached GET /apis/accounts answers (accounts:<userId>); 0 disables that cache.")
          .range(0, 86'400'000),

      key("log.level", k::enumeration, &settings::log, &log_settings::level,
          "trace, debug, info, warn, error, critical or off.")
          .choices({"trace", "debug", "info", "warn", "error", "critical", "off"})
          .reloadable(),
      key("log.format", k::enumeration, &settings::log, &log_settings::format, "text or json (one object a line).")
          .choices({"text", "json"}),
      key("log.access_log", k::boolean, &settings::log, &log_settings::access_log, "One line per HTTP request.")
          .reloadable(),

      key("manager.api_base_url", k::url, &settings::manager, &manager_settings::api_base_url,
          "Base URL of the MT5 manager API bridge.")
          .choices({"http", "https"}),
      key("manager.username", k::string, &settings::manager, &manager_settings::username, "MT5 manager login.")
          .alias("MANAGER_USERNAME"),
      key("manager.password", k::secret, &settings::manager, &manager_settings::password, "MT5 manager password.")
          .alias("MANAGER_PASSWORD"),
      key("manager.server_ip", k::ip, &settings::manager, &manager_settings::server_ip, "MT5 server IP address.")
          .alias("MANAGER_SERVER_IP"),
      key("manager.port", k::port, &settings::manager, &manager_settings::port, "MT5 server port (0 = unset).")
          .alias("MANAGER_PORT")
          .range(0, 65535),
      key("manager.login_path", k::string, &settings::manager, &manager_settings::login_path,
          "Login path of the manager API.")
          .alias("MANAGER_LOGIN_PATH"),
  };
  std::vector<key_spec> out;
  out.reserve(b.size());
  for (auto& x : b) out.push_back(std::move(x.spec));
  return out;
}

std::string check_list_item(const key_spec& spec, const std::string& item) {
  if (spec.path == "server.trusted_proxies" || spec.path == "server.internal_networks") {
    auto slash = item.find('/');
    std::string ip = item.substr(0, slash);
    if (!core::is_ip_address(ip)) return fmt::format("{} is not an IP address or CIDR", core::quote(item));
    if (slash != std::string::npos) {
      int bits = -1;
      auto tail = std::string_view(item).substr(slash + 1);
      auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), bits);
      int max_bits = ip.find(':') == std::string::npos ? 32 : 128;
      if (ec != std::errc{} || p != tail.data() + tail.size() || bits < 0 || bits > max_bits)
        return fmt::format("{} has an invalid prefix length", core::quote(item));
    }
  } else if (spec.path == "server.cors_origins") {
    if (item == "*") return {};
    auto u = core::parse_url(item);
    if (!u || (u->scheme != "http" && u->scheme != "https") || (!u->path.empty() && u->path != "/"))
      return fmt::format("{} is not an origin like https://app.example.com", core::quote(item));
  } else if (spec.path == "realtime.namespaces") {
    if (item.empty() || item.front() != '/') return fmt::format("{} must start with '/'", core::quote(item));
  } else if (spec.path == "market.symbols") {
    // As the real-time layer validates a subscription (ws::valid_symbol): 1 to 32 characters.
    // Never the item's text: from MARKET_DATA_SYMBOLS_PATH naming the wrong file (a .env), a
    // "symbol" is a line holding a secret.
    if (item.size() > 32) return fmt::format("a symbol is longer than 32 characters ({})", item.size());
    for (std::size_t i = 0; i < item.size(); ++i) {
      const auto c = static_cast<unsigned char>(item[i]);
      if (!std::isalnum(c) && c != '.' && c != '_' && c != '-' && c != '/')
        return fmt::format("not a symbol name: character {} is not a letter, digit, . _ - or /", i + 1);
    }
  }
  return {};
}

std::string range_text(const key_spec& s) {
  if (s.type == kind::duration)
    return fmt::format("{}..{}", core::format_duration(milliseconds(s.min)),
                       core::format_duration(milliseconds(s.max)));
  if (s.type == kind::size) return fmt::format("{}..{}", core::format_size(s.min), core::format_size(s.max));
  return fmt::format("{}..{}", s.min, s.max);
}

}  // namespace

std::string key_spec::env_name() const {
  std::string out = "ZUPERIOR_";
  for (char c : path) out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool key_spec::sensitive() const { return type == kind::secret || type == kind::url; }

const std::vector<key_spec>& schema() {
  static const std::vector<key_spec> keys = build_schema();
  return keys;
}

const key_spec* find_key(std::string_view path) {
  for (const auto& k : schema())
    if (k.path == path) return &k;
  return nullptr;
}

const key_spec* find_env(std::string_view name) {
  for (const auto& k : schema()) {
    if (k.env_name() == name) return &k;
    for (const auto& a : k.aliases)
      if (a == name) return &k;
  }
  return nullptr;
}

std::string display_value(const key_spec& spec, const std::string& text) {
  if (spec.type == kind::secret) return text.empty() ? "" : std::string(core::redacted);
  if (spec.type == kind::url || spec.type == kind::list) return core::redact_url(text);
  return text;
}

parse_result parse_value(const key_spec& spec, const std::string& raw, const std::vector<std::string>* items) {
  parse_result r;
  const std::string text(core::trim(raw));
  const bool ranged = spec.max > spec.min;
  auto fail = [&](std::string msg, std::string hint) {
    r.error = std::move(msg);
    r.hint = std::move(hint);
    return r;
  };
  switch (spec.type) {
    case kind::string:
      r.parsed = text;
      return r;
    case kind::secret:
      if (!raw.empty() && ranged && static_cast<std::int64_t>(raw.size()) < spec.min)
        return fail(fmt::format("must be at least {} characters (got {})", spec.min, raw.size()),
                    "generate one with: openssl rand -base64 48");
      r.parsed = raw;  // secrets are taken verbatim: leading/trailing spaces may be part of them
      return r;
    case kind::integer:
    case kind::port: {
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || ec != std::errc{} || p != text.data() + text.size())
        return fail(fmt::format("{} is not an integer", core::quote(text)),
                    spec.type == kind::port ? "use a port number between 1 and 65535" : "use a whole number");
      std::int64_t lo = ranged ? spec.min : (spec.type == kind::port ? 1 : INT64_MIN);
      std::int64_t hi = ranged ? spec.max : (spec.type == kind::port ? 65535 : INT64_MAX);
      if (v < lo || v > hi) return fail(fmt::format("{} is out of range {}..{}", v, lo, hi), "use a value in range");
      r.parsed = v;
      return r;
    }
    case kind::number: {
      double v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || ec != std::errc{} || p != text.data() + text.size())
        return fail(fmt::format("{} is not a number", core::quote(text)), "use a decimal number like 10 or 2.5");
      // from_chars reads "nan" and "inf", which every range comparison lets through.
      if (!std::isfinite(v))
        return fail(fmt::format("{} is not a finite number", core::quote(text)), "use a decimal number like 10 or 2.5");
      if (ranged && (v < static_cast<double>(spec.min) || v > static_cast<double>(spec.max)))
        return fail(fmt::format("{} is out of range {}", v, range_text(spec)), "use a value in range");
      r.parsed = v;
      return r;
    }
    case kind::boolean: {
      auto t = core::to_lower(text);
      if (t == "true" || t == "1" || t == "yes" || t == "on")
        r.parsed = true;
      else if (t == "false" || t == "0" || t == "no" || t == "off")
        r.parsed = false;
      else
        return fail(fmt::format("{} is not a boolean", core::quote(text)), "use true or false");
      return r;
    }
    case kind::duration: {
      auto d = core::parse_duration(text);
      if (!d)
        return fail(fmt::format("{} is not a duration", core::quote(text)),
                    "use a number with a unit: 250ms, 10s, 5m, 1h, 7d");
      auto ms = std::chrono::duration_cast<milliseconds>(*d);
      if (ranged && (ms.count() < spec.min || ms.count() > spec.max))
        return fail(fmt::format("{} is out of range {}", text, range_text(spec)), "use a duration in range");
      r.parsed = ms;
      return r;
    }
    case kind::size: {
      auto s = core::parse_size(text);
      if (!s)
        return fail(fmt::format("{} is not a size", core::quote(text)), "use bytes or a unit: 16KiB, 1MiB, 1000000");
      if (ranged && (static_cast<std::int64_t>(*s) < spec.min || static_cast<std::int64_t>(*s) > spec.max))
        return fail(fmt::format("{} is out of range {}", text, range_text(spec)), "use a size in range");
      r.parsed = *s;
      return r;
    }
    case kind::url: {
      if (text.empty()) {
        r.parsed = std::string();
        return r;
      }
      auto u = core::parse_url(text);
      auto schemes = fmt::format("{}", fmt::join(spec.choices, ", "));
      if (!u)
        return fail(fmt::format("{} is not a valid URL", core::quote(core::redact_url(text))),
                    fmt::format("use scheme://host[:port]/path ({})", schemes));
      if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), u->scheme) == spec.choices.end())
        return fail(fmt::format("URL scheme {} is not allowed", core::quote(u->scheme)), "use one of: " + schemes);
      if (!u->host.empty() && !core::is_host_name(u->host))
        return fail(fmt::format("{} is not a valid host", core::quote(u->host)), "use a DNS name or an IP address");
      r.parsed = text;
      return r;
    }
    case kind::host:
      if (!core::is_host_name(text))
        return fail(fmt::format("{} is not a host name or IP address", core::quote(text)),
                    "use e.g. 127.0.0.1 or db.internal");
      r.parsed = text;
      return r;
    case kind::ip:
      if (!text.empty() && !core::is_ip_address(text))
        return fail(fmt::format("{} is not an IP address", core::quote(text)),
                    "use an IPv4 or IPv6 address, e.g. 10.0.0.5");
      r.parsed = text;
      return r;
    case kind::enumeration: {
      auto t = core::to_lower(text);
      if (std::find(spec.choices.begin(), spec.choices.end(), t) == spec.choices.end())
        return fail(fmt::format("{} is not one of {}", core::quote(text), fmt::join(spec.choices, ", ")),
                    fmt::format("use one of: {}", fmt::join(spec.choices, ", ")));
      r.parsed = t;
      return r;
    }
    case kind::list: {
      std::vector<std::string> out;
      if (items) {
        for (const auto& i : *items) out.emplace_back(core::trim(i));
      } else {
        for (const auto& i : core::split(text, ',', true))
          if (auto t = core::trim(i); !t.empty()) out.emplace_back(t);
      }
      for (const auto& i : out)
        if (auto e = check_list_item(spec, i); !e.empty()) return fail(e, "fix or remove that item");
      r.parsed = out;
      return r;
    }
    case kind::rate: {
      // "10/10s", "100/1m", "100 per minute"
      auto slash = text.find('/');
      std::string count_text, window_text;
      if (slash != std::string::npos) {
        count_text = std::string(core::trim(std::string_view(text).substr(0, slash)));
        window_text = std::string(core::trim(std::string_view(text).substr(slash + 1)));
      }
      std::uint32_t n = 0;
      auto [p, ec] = std::from_chars(count_text.data(), count_text.data() + count_text.size(), n);
      auto w = core::parse_duration(window_text);
      if (slash == std::string::npos || ec != std::errc{} || p != count_text.data() + count_text.size() || n == 0 ||
          !w || w->count() < 1000)
        return fail(fmt::format("{} is not a rate", core::quote(text)),
                    "use COUNT/WINDOW, e.g. 100/1m or 10/10s (window at least 1ms)");
      r.parsed = rate_tier{n, std::chrono::duration_cast<milliseconds>(*w)};
      return r;
    }
  }
  return fail("unsupported type", "");
}

std::string settings::redis_url() const {
  if (!redis.url.empty()) return redis.url;
  std::string auth = redis.password.empty() ? "" : ":" + core::percent_encode(redis.password) + "@";
  std::string host = redis.host.find(':') != std::string::npos ? "[" + redis.host + "]" : redis.host;
  return fmt::format("redis://{}{}:{}/{}", auth, host, redis.port, redis.db);
}

}  // namespace zuperior::config
