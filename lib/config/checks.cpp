#include "config/checks.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "config/schema.hpp"
#include "core/strings.hpp"
#include "core/url.hpp"

namespace zuperior::config {
namespace {

struct checker {
  loaded_config& cfg;
  bool production;

  void problem(diagnostic::level level, const std::string& key, std::string message, std::string hint) {
    const key_spec* spec = find_key(key);
    diagnostic d;
    d.severity = level;
    d.key = key;
    d.from = cfg.source_of(key);
    if (d.from.where == source::kind::environment || d.from.where == source::kind::env_file)
      d.variable = d.from.name;
    else if (spec)
      d.variable = spec->aliases.empty() ? spec->env_name() : spec->aliases.front();
    auto text = cfg.texts.find(key);
    if (spec && text != cfg.texts.end()) d.value = display_value(*spec, text->second);
    d.message = std::move(message);
    d.hint = std::move(hint);
    cfg.problems.push_back(std::move(d));
  }
  void error(const std::string& key, std::string message, std::string hint) {
    problem(diagnostic::level::error, key, std::move(message), std::move(hint));
  }
  void warn(const std::string& key, std::string message, std::string hint) {
    problem(diagnostic::level::warning, key, std::move(message), std::move(hint));
  }
  // An error in production, a warning elsewhere.
  void strict(const std::string& key, std::string message, std::string hint) {
    problem(production ? diagnostic::level::error : diagnostic::level::warning, key, std::move(message),
            std::move(hint));
  }
  bool has_error(const std::string& key) const {
    for (const auto& d : cfg.problems)
      if (d.key == key && d.severity == diagnostic::level::error) return true;
    return false;
  }
};

}  // namespace

bool weak_secret(std::string_view secret) {
  std::string s = core::to_lower(secret);
  static const char* placeholders[] = {
      "changeme",     "change-me", "change_me",   "change-this", "change_this", "your-secret", "your_secret",
      "yoursecret",   "your-jwt",  "your_jwt",    "secret-key",  "secret_key",  "supersecret", "super-secret",
      "super_secret", "example",   "placeholder", "replace",     "xxxxxxxx",    "12345678",    "password",
      "abcdefgh",     "qwerty",    "default",     "insecure",    "development", "test-secret", "testsecret"};
  for (const char* p : placeholders)
    if (s.find(p) != std::string::npos) return true;
  std::set<char> distinct(s.begin(), s.end());
  return distinct.size() < 10;
}

bool default_password(std::string_view password) {
  static const char* defaults[] = {
      "postgres", "password",           "pass",          "admin", "root", "123456", "12345678", "changeme",
      "secret",   "your_password_here", "your-password", "redis", "user", "test",   "default",  "manager"};
  std::string p = core::to_lower(password);
  for (const char* d : defaults)
    if (p == d) return true;
  return false;
}

void check_policy(loaded_config& cfg) {
  const settings& s = cfg.values;
  checker c{cfg, s.app.production()};
  const char* secret_hint = "generate one with: openssl rand -base64 48";

  // Secrets and credentials.
  // A value that was given but rejected already has its error; "not set" would contradict it.
  if (s.auth.jwt_secret.empty() && !c.has_error("auth.jwt_secret"))
    c.error("auth.jwt_secret", "JWT_SECRET is not set", secret_hint);
  else if (!c.has_error("auth.jwt_secret") && weak_secret(s.auth.jwt_secret))
    c.strict("auth.jwt_secret", "JWT_SECRET looks like a placeholder or has too little variety", secret_hint);

  if (s.database.url.empty() && !c.has_error("database.url")) {
    c.error("database.url", "DATABASE_URL is not set",
            "e.g. postgresql://app:PASSWORD@127.0.0.1:5432/zuperior?connection_limit=20");
  } else if (auto u = core::parse_url(s.database.url)) {
    if (u->path.size() <= 1) c.error("database.url", "DATABASE_URL names no database", "append /DBNAME to the URL");
    if (u->has_password && default_password(u->password))
      c.strict("database.url", "DATABASE_URL uses a well-known default password",
               "set a strong password for the database role");
    if (!u->has_password && c.production && u->host != "localhost" && u->host != "127.0.0.1" && !u->host.empty())
      c.warn("database.url", "DATABASE_URL has no password for a remote host",
             "use a password or a client certificate");
    // Prisma's flag for PgBouncer in transaction mode: there each statement may run on another
    // server session, and the pool's prepared statements and its session's statement_timeout
    // would fail or land on other clients' sessions, now and then.
    if (auto it = u->query.find("pgbouncer"); it != u->query.end() && core::to_lower(it->second) == "true")
      c.error("database.url",
              "DATABASE_URL has pgbouncer=true: zuperior keeps prepared statements and settings per session",
              "point DATABASE_URL at PostgreSQL or at a PgBouncer pool in session mode, without pgbouncer=true");
  }

  if (s.redis.url.empty() && s.redis.host.empty())
    c.error("redis.url", "neither REDIS_URL nor REDIS_HOST is set", "set REDIS_URL=redis://HOST:6379");
  if (auto u = core::parse_url(s.redis.url); u && u->scheme == "rediss")  // the scheme, lower-cased
    c.error("redis.url", "rediss:// (TLS) is not supported by this build",
            "reach a TLS Redis through a local TLS proxy (stunnel, spiped) and use redis://");
  if (!s.redis.url.empty() && s.redis.db != 0)  // the shipped YAML says db: 0
    c.warn("redis.db", "redis.db is ignored: REDIS_URL is set and names the database",
           "put the database number in the URL's path (redis://HOST:6379/DB)");
  {
    std::string password = s.redis.password;
    std::string key = "redis.password";
    if (!s.redis.url.empty()) {
      key = "redis.url";
      if (auto u = core::parse_url(s.redis.url)) password = u->password;
    }
    if (!password.empty() && default_password(password))
      c.strict(key, "the Redis password is a well-known default", "set a strong requirepass on the Redis server");
    else if (password.empty() && c.production)
      c.warn(key, "Redis has no password in production", "set requirepass on the server and the password in REDIS_URL");
  }

  // Web exposure.
  if (c.production) {
    if (s.server.cors_origins.empty())
      c.error("server.cors_origins", "no CORS origin is set in production",
              "set NEXT_PUBLIC_APP_URL=https://your-app.example.com");
    for (const auto& o : s.server.cors_origins) {
      if (o == "*")
        c.error("server.cors_origins", "CORS origin '*' with credentials exposes every user",
                "list the app's own origins");
      else if (o.rfind("http://", 0) == 0 && o.find("localhost") == std::string::npos)
        c.warn("server.cors_origins", fmt::format("CORS origin {} is not HTTPS", o), "serve the app over https");
    }
    if (s.auth.cookie_secure == "false" && s.auth.cookie_same_site != "none")  // none forces Secure
      c.error("auth.cookie_secure", "the token cookie is not Secure in production", "use auto or true");
    if (!s.ratelimit.enabled)
      c.warn("ratelimit.enabled", "rate limits are disabled in production", "set ratelimit.enabled: true");
    if (s.log.level == "trace" || s.log.level == "debug")
      c.warn("log.level", fmt::format("log level {} in production is verbose and slow", s.log.level), "use info");
    if (s.server.public_url.empty())
      c.warn("server.public_url", "NEXT_PUBLIC_API_BASE_URL is not set", "set the public URL of the API");
  }
  // Values the daemon would accept at startup and then fail on, request after request.
  if (!core::is_token(s.auth.cookie_name))
    c.error("auth.cookie_name", "the cookie name is not an HTTP token (letters, digits, !#$%&'*+-.^_`|~)",
            "use a plain name such as token");
  if (s.realtime.path.empty() || s.realtime.path.front() != '/')
    c.error("realtime.path", "the Socket.IO path must start with '/'", "e.g. /socket.io/");
  if (s.market.accounts_ttl.count() > 0 && s.market.accounts_ttl < std::chrono::seconds(1))
    c.error("market.accounts_ttl", "the cached accounts answer is kept in whole seconds: under 1s is no cache",
            "use 0 to disable it, or 1s or more");

  if (s.realtime.ping_timeout + s.realtime.ping_interval > s.server.idle_timeout * 10)
    c.warn("realtime.ping_timeout", "the heartbeat is much slower than the idle timeout",
           "keep ping_interval + ping_timeout well under server.idle_timeout");

  // The MT5 manager bridge of the existing application (not used by the daemon itself).
  std::vector<std::string> missing;
  if (s.manager.username.empty()) missing.push_back("MANAGER_USERNAME");
  if (s.manager.password.empty()) missing.push_back("MANAGER_PASSWORD");
  if (s.manager.server_ip.empty()) missing.push_back("MANAGER_SERVER_IP");
  if (s.manager.port == 0) missing.push_back("MANAGER_PORT");
  if (s.manager.login_path.empty()) missing.push_back("MANAGER_LOGIN_PATH");
  if (c.production && !missing.empty() && missing.size() < 5)
    c.error("manager.username",
            fmt::format("the MT5 manager settings are incomplete: {} missing", fmt::join(missing, ", ")),
            "set all MANAGER_* variables or none");
  if (!s.manager.password.empty() && default_password(s.manager.password))
    c.strict("manager.password", "MANAGER_PASSWORD is a well-known default", "use the real manager password");

  // Files the configuration points at (market.symbols_path is read, and checked, by the loader).
  std::error_code ec;
  if (!std::filesystem::is_directory(s.database.migrations_dir, ec))
    c.warn("database.migrations_dir", fmt::format("{} is not a directory here", s.database.migrations_dir),
           "run from the install folder or set ZUPERIOR_DATABASE_MIGRATIONS_DIR");
}

}  // namespace zuperior::config
