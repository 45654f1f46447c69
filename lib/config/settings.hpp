#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace zuperior::config {

using std::chrono::milliseconds;

/// A rate-limit tier: at most `limit` events per sliding `window`.
struct rate_tier {
  std::uint32_t limit = 0;
  milliseconds window{0};
};

/// What a tier does while Redis is unreachable.
enum class fallback_mode { local, open, closed };

struct app_settings {
  std::string env = "development";  // NODE_ENV: development|production|test
  /// True for NODE_ENV=production.
  bool production() const { return env == "production"; }
};

struct server_settings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 4000;
  unsigned workers = 0;  // 0 = one per core
  std::uint64_t max_body_size = 1 << 20;
  std::uint64_t max_header_size = 16 << 10;
  milliseconds header_timeout{10'000};
  milliseconds request_timeout{30'000};
  milliseconds idle_timeout{60'000};
  milliseconds drain_timeout{20'000};
  std::uint32_t max_connections = 20'000;
  std::uint32_t max_connections_per_ip = 2'000;
  std::uint32_t ipv6_prefix = 64;            // an IPv6 client is counted by its /ipv6_prefix network
  std::vector<std::string> trusted_proxies;  // IPs or CIDRs
  // Client addresses (after trusted proxies) that may read /metrics and health's error texts.
  // Loopback by default: a load balancer or NAT that rewrites client addresses to private ones
  // would make every client internal; the monitoring network is the operator's to add.
  std::vector<std::string> internal_networks{"127.0.0.0/8", "::1"};
  std::vector<std::string> cors_origins;  // NEXT_PUBLIC_APP_URL
  std::string public_url;                 // NEXT_PUBLIC_API_BASE_URL
};

struct database_settings {
  std::string url;                       // DATABASE_URL (secret parts redacted in output)
  std::uint32_t pool_size = 20;          // ?connection_limit=
  milliseconds pool_timeout{10'000};     // ?pool_timeout= (seconds)
  milliseconds connect_timeout{10'000};  // ?connect_timeout= (seconds)
  milliseconds statement_timeout{5'000};
  std::string migrations_dir = "migrations";
  std::string history_table = "zuperior_schema_history";
  milliseconds lock_timeout{5'000};             // migrate: per-statement lock_timeout
  milliseconds migration_statement_timeout{0};  // migrate: 0 = none (index builds take long)
};

struct redis_settings {
  std::string url;  // REDIS_URL; when empty host/port/password are used
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string password;
  std::uint32_t db = 0;
  std::string key_prefix;
  milliseconds connect_timeout{2'000};
  milliseconds command_timeout{1'000};
};

struct auth_settings {
  std::string jwt_secret;  // JWT_SECRET, at least 32 characters
  milliseconds token_ttl{7LL * 24 * 3600 * 1000};
  milliseconds jwt_leeway{30'000};
  std::string cookie_name = "token";
  std::string cookie_secure = "auto";  // auto (= production) | true | false
  std::string cookie_same_site = "lax";
  unsigned bcrypt_cost = 10;
};

struct ratelimit_settings {
  rate_tier strict{10, milliseconds{10'000}};
  rate_tier standard{100, milliseconds{60'000}};
  rate_tier generous{1000, milliseconds{60'000}};
  rate_tier websocket{10000, milliseconds{60'000}};
  fallback_mode fallback_strict = fallback_mode::local;
  fallback_mode fallback_standard = fallback_mode::local;
  fallback_mode fallback_generous = fallback_mode::local;
  fallback_mode fallback_websocket = fallback_mode::local;
  std::string key_prefix = "ratelimit";
  bool enabled = true;
};

struct realtime_settings {
  std::string path = "/socket.io/";
  milliseconds ping_interval{25'000};
  milliseconds ping_timeout{20'000};
  std::uint64_t max_payload = 1'000'000;
  std::vector<std::string> namespaces;  // extra namespaces besides "/"
  std::uint32_t max_symbols_per_socket = 100;
  std::uint32_t outbox_limit = 256;                  // queued messages per socket before conflation
  rate_tier connect_rate{30, milliseconds{10'000}};  // per IP
  std::uint32_t max_violations = 5;                  // rate-limit violations before disconnect
  milliseconds account_recheck{60'000};              // account subscriptions checked again this often; 0 = never
  bool protocol_test_mode = false;                   // never from config: only `serve --protocol-test-mode`
};

struct market_settings {
  std::string feed = "redis";  // redis | sim | none
  std::vector<std::string> symbols{"EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "BTCUSD"};
  std::string symbols_path;  // MARKET_DATA_SYMBOLS_PATH
  double sim_rate = 10;      // ticks per second per symbol
  std::string channel = "zuperior:market";
  std::string account_channel = "zuperior:account";
  milliseconds balance_ttl{3'600'000};
  milliseconds accounts_ttl{60'000};  // cached GET /apis/accounts answers; 0 = not cached
};

struct log_settings {
  std::string level = "info";
  std::string format = "text";  // text | json
  bool access_log = true;
};

struct manager_settings {  // the MT5 manager bridge of the existing application
  std::string api_base_url;
  std::string username;
  std::string password;
  std::string server_ip;
  std::uint16_t port = 0;
  std::string login_path;
};

/// The whole typed configuration.
struct settings {
  app_settings app;
  server_settings server;
  database_settings database;
  redis_settings redis;
  auth_settings auth;
  ratelimit_settings ratelimit;
  realtime_settings realtime;
  market_settings market;
  log_settings log;
  manager_settings manager;

  /// The Redis URL in effect (redis.url, or one built from host/port/password/db).
  std::string redis_url() const;
  /// Descriptors `serve` needs at its connection cap: server.max_connections, the pool, and 64 for
  /// Redis, listeners, logs and the rest. Below it, accept fails before the cap can answer 503.
  std::uint64_t open_files_needed() const { return std::uint64_t{server.max_connections} + database.pool_size + 64; }
};

}  // namespace zuperior::config
