#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "config/checks.hpp"
#include "config/loader.hpp"
#include "config/report.hpp"
#include "config/schema.hpp"

using namespace zuperior::config;
using namespace std::chrono_literals;

namespace {

struct temp_file {
  std::string path;
  temp_file(const std::string& name, const std::string& text) {
    path = (std::filesystem::temp_directory_path() / ("zuperior-test-" + std::to_string(::getpid()) + "-" + name))
               .string();
    std::ofstream(path) << text;
  }
  ~temp_file() { std::filesystem::remove(path); }
};

const diagnostic* find_problem(const loaded_config& c, const std::string& key) {
  for (const auto& d : c.problems)
    if (d.key == key || d.variable == key) return &d;
  return nullptr;
}

const std::string good_secret = "k8Jq2LwP9zXv4RtY7uNm3BcD6fGh1SaE";

}  // namespace

TEST_CASE("defaults load with no sources and no problems") {
  auto c = load({});
  CHECK(c.problems.empty());
  CHECK(c.values.server.port == 4000);
  CHECK(c.values.database.pool_size == 20);
  CHECK(c.values.ratelimit.strict.limit == 10);
  CHECK(c.values.ratelimit.strict.window == 10s);
  CHECK(c.source_of("server.port").where == source::kind::default_value);
}

TEST_CASE("schema: rendering the defaults and parsing them back is the identity") {
  settings defaults;
  for (const auto& spec : schema()) {
    std::string text = spec.render(defaults);
    if (text.empty() && spec.type != kind::list && spec.type != kind::string) continue;  // unset optional values
    auto r = parse_value(spec, text);
    INFO(spec.path << " = " << text << " : " << r.error);
    REQUIRE(r.parsed);
    settings s;
    spec.assign(s, *r.parsed);
    CHECK(spec.render(s) == text);
  }
}

TEST_CASE("precedence: defaults < yaml < .env < environment < flags") {
  temp_file yaml("p.yaml", "server:\n  port: 5001\n  workers: 3\n  max_body_size: 2MiB\nlog:\n  level: warn\n");
  temp_file env(".env-p", "ZUPERIOR_SERVER_PORT=5002\nZUPERIOR_LOG_LEVEL=error\n");
  load_options o;
  o.config_file = yaml.path;
  o.env_file = env.path;
  o.environment = {{"ZUPERIOR_SERVER_PORT", "5003"}};
  o.flags = {{"server.workers", "7", "--workers"}};
  auto c = load(o);
  CHECK(c.problems.empty());
  CHECK(c.values.server.port == 5003);
  CHECK(c.source_of("server.port").where == source::kind::environment);
  CHECK(c.values.server.workers == 7);
  CHECK(c.source_of("server.workers").describe() == "flag --workers");
  CHECK(c.values.log.level == "error");
  CHECK(c.source_of("log.level").where == source::kind::env_file);
  CHECK(c.source_of("log.level").line == 2);
  CHECK(c.values.server.max_body_size == 2u << 20);
  CHECK(c.source_of("server.max_body_size").line == 4);
}

TEST_CASE("seed variable names are accepted verbatim, DATABASE_URL parameters honoured") {
  load_options o;
  o.environment = {
      {"DATABASE_URL", "postgresql://u:p@db:5432/app?connection_limit=35&pool_timeout=60&connect_timeout=7"},
      {"REDIS_HOST", "cache.internal"},
      {"REDIS_PORT", "6380"},
      {"REDIS_PASSWORD", "pw with space"},
      {"JWT_SECRET", good_secret},
      {"NEXT_PUBLIC_APP_URL", "https://app.example.com"},
      {"NODE_ENV", "test"},
      {"MANAGER_PORT", "443"},
      {"MANAGER_SERVER_IP", "10.1.2.3"}};
  auto c = load(o);
  CHECK(c.problems.empty());
  CHECK(c.values.database.pool_size == 35);
  CHECK(c.values.database.pool_timeout == 60s);
  CHECK(c.values.database.connect_timeout == 7s);
  CHECK(c.source_of("database.pool_size").name == "DATABASE_URL?connection_limit");
  CHECK(c.values.redis_url() == "redis://:pw%20with%20space@cache.internal:6380/0");
  CHECK(c.values.server.cors_origins == std::vector<std::string>{"https://app.example.com"});
  CHECK(c.values.app.env == "test");
  CHECK(c.values.manager.port == 443);
}

TEST_CASE("DATABASE_URL parameters belong to their URL: a later DATABASE_URL without them gives the pool back") {
  temp_file yaml("u.yaml", "database:\n  pool_timeout: 4s\n");
  temp_file env(".env-u",
                "DATABASE_URL=postgresql://u:p@old:5432/a?connection_limit=3&pool_timeout=9\n"
                "JWT_SECRET=" +
                    good_secret + "\n");
  load_options o;
  o.config_file = yaml.path;
  o.env_file = env.path;
  o.environment = {{"DATABASE_URL", "postgresql://u:p@prod:5432/b?connect_timeout=6"}};
  auto c = load(o);
  CHECK(c.problems.empty());
  CHECK(c.values.database.url == "postgresql://u:p@prod:5432/b?connect_timeout=6");
  CHECK(c.values.database.pool_size == 20);  // the default again, not .env's URL's 3
  CHECK(c.source_of("database.pool_size").where == source::kind::default_value);
  CHECK(c.values.database.pool_timeout == 4s);  // the YAML's again, not .env's URL's 9 s
  CHECK(c.source_of("database.pool_timeout").where == source::kind::yaml);
  CHECK(c.values.database.connect_timeout == 6s);
  CHECK(c.source_of("database.connect_timeout").name == "DATABASE_URL?connect_timeout");
  // Two DATABASE_URL lines in one .env: the second one's parameters only.
  temp_file twice(".env-t",
                  "DATABASE_URL=postgresql://u:p@a:5432/a?connection_limit=3\n"
                  "DATABASE_URL=postgresql://u:p@b:5432/b?pool_timeout=2\n");
  load_options o2;
  o2.env_file = twice.path;
  auto c2 = load(o2);
  CHECK(c2.values.database.pool_size == 20);
  CHECK(c2.values.database.pool_timeout == 2s);
}

TEST_CASE("a ZUPERIOR_ name beats the seed alias in the same layer") {
  load_options o;
  o.environment = {{"ZUPERIOR_REDIS_HOST", "specific"}, {"REDIS_HOST", "generic"}};
  CHECK(load(o).values.redis.host == "specific");
}

TEST_CASE("every type reports its error with the variable, source and a hint") {
  load_options o;
  o.environment = {{"ZUPERIOR_SERVER_PORT", "70000"},
                   {"ZUPERIOR_SERVER_WORKERS", "many"},
                   {"ZUPERIOR_SERVER_HOST", "bad host!"},
                   {"ZUPERIOR_SERVER_IDLE_TIMEOUT", "soon"},
                   {"ZUPERIOR_SERVER_MAX_BODY_SIZE", "huge"},
                   {"ZUPERIOR_LOG_ACCESS_LOG", "perhaps"},
                   {"ZUPERIOR_LOG_FORMAT", "xml"},
                   {"DATABASE_URL", "mysql://x@y/z"},
                   {"REDIS_URL", "nonsense"},
                   {"MANAGER_SERVER_IP", "999.1.1.1"},
                   {"ZUPERIOR_RATELIMIT_STRICT", "ten per second"},
                   {"ZUPERIOR_MARKET_SIM_RATE", "fast"},
                   {"ZUPERIOR_SERVER_TRUSTED_PROXIES", "10.0.0.1,notanip"},
                   {"ZUPERIOR_SERVER_CORS_ORIGINS", "ftp://x"},
                   {"JWT_SECRET", "short"}};
  auto c = load(o);
  // Each message says what is wrong for that type (a port error saying "not a boolean" misleads).
  const std::pair<const char*, const char*> expected[] = {
      {"server.port", "out of range"},       {"server.workers", "integer"},     {"server.host", "host"},
      {"server.idle_timeout", "duration"},   {"server.max_body_size", "size"},  {"log.access_log", "boolean"},
      {"log.format", "text, json"},          {"database.url", "mysql"},         {"redis.url", "URL"},
      {"manager.server_ip", "IP address"},   {"ratelimit.strict", "rate"},      {"market.sim_rate", "number"},
      {"server.trusted_proxies", "notanip"}, {"server.cors_origins", "origin"}, {"auth.jwt_secret", "at least 32"}};
  for (const auto& [key, says] : expected) {
    INFO(key);
    auto* d = find_problem(c, key);
    REQUIRE(d);
    CHECK(d->severity == diagnostic::level::error);
    CHECK(d->from.where == source::kind::environment);
    CHECK_FALSE(d->hint.empty());
    CHECK(d->message.find(says) != std::string::npos);
  }
  CHECK(find_problem(c, "auth.jwt_secret")->variable == "JWT_SECRET");
  CHECK(find_problem(c, "auth.jwt_secret")->value == "<redacted>");
  CHECK(find_problem(c, "auth.jwt_secret")->message.find("at least 32") != std::string::npos);
  // The invalid values did not replace the defaults.
  CHECK(c.values.server.port == 4000);
}

TEST_CASE("unknown keys: YAML is an error with its line, ZUPERIOR_ in .env an error, in the environment a warning") {
  temp_file yaml("u.yaml", "server:\n  port: 1\n  prot: 2\nbogus:\n  x: 1\n");
  temp_file env(".env-u", "ZUPERIOR_SERVER_PROT=3\nUNRELATED=fine\n");
  load_options o;
  o.config_file = yaml.path;
  o.env_file = env.path;
  o.environment = {{"ZUPERIOR_SERVR_PORT", "1"}, {"ZUPERIOR_BIN", "/x"}};
  auto c = load(o);
  REQUIRE(c.problems.size() == 4);
  CHECK(c.problems[0].from.line == 3);
  CHECK(c.problems[0].message.find("server.prot") != std::string::npos);
  CHECK(c.problems[0].hint == "did you mean server.port?");
  CHECK(c.problems[1].message.find("bogus") != std::string::npos);
  CHECK(c.problems[2].severity == diagnostic::level::error);
  CHECK(c.problems[2].hint == "did you mean ZUPERIOR_SERVER_PORT?");
  CHECK(c.problems[3].severity == diagnostic::level::warning);
}

TEST_CASE("YAML: syntax errors, wrong shapes and lists") {
  temp_file broken("b.yaml", "server:\n  port: [1, 2\n");
  load_options o;
  o.config_file = broken.path;
  auto c = load(o);
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].message.find("YAML syntax error") != std::string::npos);
  CHECK(c.problems[0].from.line > 0);

  temp_file shapes("s.yaml",
                   "server:\n  port: [1, 2]\n  trusted_proxies:\n    - 10.0.0.0/8\n    - ::1\n  host:\n    a: b\n");
  o.config_file = shapes.path;
  c = load(o);
  CHECK(c.problems.size() == 2);
  CHECK(c.values.server.trusted_proxies == std::vector<std::string>{"10.0.0.0/8", "::1"});

  temp_file scalar_root("r.yaml", "just a string\n");
  o.config_file = scalar_root.path;
  CHECK(load(o).problems.size() == 1);
}

TEST_CASE("a named config or env file that is missing is an error; an implicit one is skipped") {
  load_options o;
  o.config_file = "/nonexistent/zuperior.yaml";
  o.env_file = "/nonexistent/.env";
  CHECK(load(o).problems.empty());
  o.config_required = o.env_file_required = true;
  CHECK(load(o).problems.size() == 2);
}

TEST_CASE("production is stricter: placeholder secret, default passwords, CORS") {
  load_options o;
  o.environment = {{"NODE_ENV", "production"},
                   {"DATABASE_URL", "postgresql://postgres:postgres@db/app"},
                   {"REDIS_URL", "redis://:your_password_here@cache:6379"},
                   {"JWT_SECRET", "your-super-secret-jwt-key-change-this-in-production"},
                   {"MANAGER_PASSWORD", "password"}};
  auto c = load(o);
  check_policy(c);
  for (const char* key : {"auth.jwt_secret", "database.url", "redis.url", "server.cors_origins", "manager.password"}) {
    INFO(key);
    auto* d = find_problem(c, key);
    REQUIRE(d);
    CHECK(d->severity == diagnostic::level::error);
  }
  // The same in development: warnings, not errors.
  o.environment[0].second = "development";
  c = load(o);
  check_policy(c);
  CHECK(find_problem(c, "auth.jwt_secret")->severity == diagnostic::level::warning);
  CHECK(find_problem(c, "server.cors_origins") == nullptr);
}

TEST_CASE("values serve would accept and then fail on are refused up front") {
  load_options o;
  o.environment = {{"DATABASE_URL", "postgresql://app@db/app?connection_limit=5&pgbouncer=true"},
                   {"REDIS_URL", "REDISS://cache:6380/0"},
                   {"JWT_SECRET", good_secret},
                   {"ZUPERIOR_AUTH_COOKIE_NAME", "my token"},
                   {"ZUPERIOR_REALTIME_PATH", "socket.io"},
                   {"ZUPERIOR_MARKET_ACCOUNTS_TTL", "500ms"},
                   {"ZUPERIOR_REDIS_DB", "3"}};
  auto c = load(o);
  check_policy(c);
  // rediss:// made serve exit 2 at startup; a cookie name with a space made every login a 500; a
  // path without '/' matched no request; 500ms was truncated to a 0 s TTL, i.e. no cache;
  // pgbouncer=true (transaction pooling) broke the per-session prepared statements now and then.
  for (const char* key : {"database.url", "redis.url", "auth.cookie_name", "realtime.path", "market.accounts_ttl"}) {
    INFO(key);
    auto* d = find_problem(c, key);
    REQUIRE(d);
    CHECK(d->severity == diagnostic::level::error);
  }
  REQUIRE(find_problem(c, "redis.db"));  // ignored beside a URL: said, not an error
  CHECK(find_problem(c, "redis.db")->severity == diagnostic::level::warning);

  o.environment = {{"DATABASE_URL", "postgresql://app@db/app"},
                   {"REDIS_URL", "redis://cache:6379/0"},
                   {"JWT_SECRET", good_secret},
                   {"ZUPERIOR_AUTH_COOKIE_NAME", "__Host-zt"},
                   {"ZUPERIOR_MARKET_ACCOUNTS_TTL", "1s"}};
  c = load(o);
  check_policy(c);
  o.environment[0].second = "postgresql://app@db/app?pgbouncer=false";
  c = load(o);
  check_policy(c);
  for (const char* key :
       {"database.url", "redis.url", "redis.db", "auth.cookie_name", "realtime.path", "market.accounts_ttl"}) {
    INFO(key);
    CHECK(find_problem(c, key) == nullptr);
  }
}

TEST_CASE("weak secrets and default passwords are recognised") {
  CHECK(weak_secret("changeme-changeme-changeme-changeme"));
  CHECK(weak_secret("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
  CHECK_FALSE(weak_secret(good_secret));
  CHECK(default_password("Postgres"));
  CHECK_FALSE(default_password("Xk2-pq9-LL0"));
}

TEST_CASE("reports: every problem, secrets never printed, JSON shape stable") {
  temp_file env(".env-r",
                "JWT_SECRET=tooshortsecretvalue\nDATABASE_URL=postgresql://app:Sup3rS3cretPw@db/app\nbroken line\n");
  load_options o;
  o.env_file = env.path;
  auto c = load(o);
  check_policy(c);
  probe_result probe{"redis", false, false, 3.5, "", "connection refused"};
  auto text = render_report_text(c, {probe});
  auto json = render_report_json(c, {probe});
  auto config_text = render_config_text(c);
  auto config_json = render_config_json(c).dump();
  for (const auto* out : {&text, &config_text, &config_json}) {
    CHECK(out->find("tooshortsecretvalue") == std::string::npos);
    CHECK(out->find("Sup3rS3cretPw") == std::string::npos);
  }
  CHECK(json.dump().find("tooshortsecretvalue") == std::string::npos);
  CHECK(text.find("INVALID") != std::string::npos);
  CHECK(text.find(":3") != std::string::npos);  // the broken line's number
  CHECK(text.find("probe redis") != std::string::npos);
  CHECK(json["valid"] == false);
  CHECK(json["errors"].get<int>() >= 3);
  CHECK(json["problems"][0].contains("source"));
  CHECK(json["probes"][0]["error"] == "connection refused");
  CHECK(config_text.find("postgresql://app:***@db/app") != std::string::npos);
  CHECK(report_ok(load({}), {}));
}

TEST_CASE("MARKET_DATA_SYMBOLS_PATH: the file's symbols replace market.symbols; every bad line is reported") {
  temp_file good("symbols-good.txt", "# majors\nEURUSD\n\n  GBPUSD  \nXAUUSD\n");
  load_options o;
  o.environment = {{"MARKET_DATA_SYMBOLS_PATH", good.path}, {"ZUPERIOR_MARKET_SYMBOLS", "BTCUSD"}};
  auto c = load(o);
  CHECK(c.problems.empty());
  CHECK(c.values.market.symbols == std::vector<std::string>{"EURUSD", "GBPUSD", "XAUUSD"});
  CHECK(c.source_of("market.symbols").where == source::kind::file);
  CHECK(c.source_of("market.symbols").describe() == good.path);

  temp_file bad("symbols-bad.txt", "EURUSD\nEUR USD\nGBPUSD\nXAU$USD\n");
  o.environment = {{"MARKET_DATA_SYMBOLS_PATH", bad.path}};
  c = load(o);
  REQUIRE(c.problems.size() == 2);
  CHECK(c.problems[0].from.describe() == bad.path + ":2");
  CHECK(c.problems[1].from.describe() == bad.path + ":4");
  CHECK(c.problems[0].key == "market.symbols");
  CHECK(c.problems[0].from.kind_name() == "file");
  CHECK(c.problems[0].variable == "MARKET_DATA_SYMBOLS_PATH");
  CHECK(c.values.market.symbols == market_settings{}.symbols);  // a bad file changes nothing

  temp_file empty("symbols-empty.txt", "# nothing yet\n\n");
  o.environment = {{"MARKET_DATA_SYMBOLS_PATH", empty.path}};
  c = load(o);
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].message.find("lists no symbols") != std::string::npos);

  o.environment = {{"MARKET_DATA_SYMBOLS_PATH", "/nonexistent/symbols.txt"}};
  c = load(o);
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].key == "market.symbols_path");
  CHECK(c.problems[0].variable == "MARKET_DATA_SYMBOLS_PATH");
  CHECK(c.problems[0].message.find("/nonexistent/symbols.txt cannot be read") != std::string::npos);
}

TEST_CASE("MARKET_DATA_SYMBOLS_PATH: what is not a symbol list is refused without reading it all") {
  load_options o;
  // A device never ends: refused before reading.
  o.environment = {{"MARKET_DATA_SYMBOLS_PATH", "/dev/zero"}};
  auto c = load(o);
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].message == "/dev/zero is not a regular file");
  // Over 1 MiB: refused unread.
  temp_file big("symbols-big.txt", std::string((1 << 20) + 1, 'A'));
  o.environment = {{"MARKET_DATA_SYMBOLS_PATH", big.path}};
  c = load(o);
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].message.find("larger than 1 MiB") != std::string::npos);
  // Symbols longer than a subscription may name (32 characters) are errors, their text cut short.
  temp_file longer("symbols-long.txt", "EURUSD\n" + std::string(200, 'X') + "\n");
  o.environment = {{"MARKET_DATA_SYMBOLS_PATH", longer.path}};
  c = load(o);
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].message.find("longer than 32 characters") != std::string::npos);
  CHECK(c.problems[0].value.empty());
  // A file of garbage: twenty lines reported, then one line for the rest.
  std::string junk;
  for (int i = 0; i < 50; ++i) junk += "not a symbol " + std::to_string(i) + "\n";
  temp_file garbage("symbols-junk.txt", junk);
  o.environment = {{"MARKET_DATA_SYMBOLS_PATH", garbage.path}};
  c = load(o);
  REQUIRE(c.problems.size() == 21);
  CHECK(c.problems[19].from.line == 20);
  CHECK(c.problems[20].message.find("30 more bad lines") != std::string::npos);
}

TEST_CASE("MARKET_DATA_SYMBOLS_PATH naming a .env: each bad line by its number and reason, never its text") {
  temp_file wrong("symbols-wrong.env",
                  "NODE_ENV=production\n"
                  "JWT_SECRET=Zr8vq2LwP9sKd4mN7xTb6yHc3Jf5gUe1Zr8vq2Lw\n"
                  "REDIS_PASSWORD=hunter2hunter2\n"
                  "  DBPASSWORDONLY-but-it-is-far-too-long-to-be-a-symbol\n");
  load_options o;
  o.environment = {{"MARKET_DATA_SYMBOLS_PATH", wrong.path}};
  auto c = load(o);
  REQUIRE(c.problems.size() == 4);
  for (const auto& d : c.problems) {
    const std::string all = d.message + " " + d.hint + " " + d.value;
    INFO(all);
    CHECK(all.find("production") == std::string::npos);
    CHECK(all.find("Zr8vq2") == std::string::npos);
    CHECK(all.find("hunter2") == std::string::npos);
    CHECK(all.find("DBPASSWORD") == std::string::npos);
    CHECK(all.find("NODE_ENV") == std::string::npos);
  }
  CHECK(c.problems[0].from.describe() == wrong.path + ":1");
  CHECK(c.problems[0].message.find("character 9 is not a letter") != std::string::npos);
  CHECK(c.problems[1].message.find("longer than 32 characters") != std::string::npos);
  CHECK(c.problems[3].from.describe() == wrong.path + ":4");
}

TEST_CASE("numbers: nan and inf are refused, not let through every range check") {
  const key_spec& rate = *find_key("market.sim_rate");
  REQUIRE(rate.type == kind::number);
  for (const char* text : {"nan", "NaN", "inf", "-inf", "infinity"}) {
    INFO(text);
    auto r = parse_value(rate, text);
    CHECK_FALSE(r.parsed);
    CHECK(r.error.find("is not a finite number") != std::string::npos);
  }
  CHECK(parse_value(rate, "2.5").parsed);
  load_options o;
  o.environment = {{"ZUPERIOR_MARKET_SIM_RATE", "nan"}};
  auto c = load(o);
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].variable == "ZUPERIOR_MARKET_SIM_RATE");
}
