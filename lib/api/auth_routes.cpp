// /apis/auth/register, login, logout, me and /apis/accounts. SQL runs as prepared statements on the
// PostgreSQL pool (lib/db/pool), bcrypt on the small CPU pool, the accounts cache on the worker's
// own Redis connection; the network thread only parses, validates, awaits and answers.
// GCC 12 coroutine rules followed here: arguments of a co_await'ed call are named locals (no
// temporaries of class type, no lambdas inside co_await), no co_return co_await, no co_await in ?:.
#include <fmt/format.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

#include "api/accounts_cache.hpp"
#include "api/blocking.hpp"
#include "api/limits.hpp"
#include "api/revocations.hpp"
#include "api/routes.hpp"
#include "auth/cookie.hpp"
#include "auth/jwt.hpp"
#include "auth/password.hpp"
#include "cache/cache.hpp"
#include "core/strings.hpp"
#include "db/pool.hpp"
#include "http/error.hpp"
#include "validate/body.hpp"
#include "validate/seed_schemas.hpp"

namespace zuperior::api {
namespace {

using boost::asio::awaitable;
using http::errc;
using http::request_context;
using http::response;
using json = nlohmann::json;
namespace field = boost::beast::http;

// RFC 4122 version 4, as Prisma's uuid() makes them.
std::string new_uuid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  std::string h;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) h += '-';
    h += fmt::format("{:02x}", b[i]);
  }
  return h;
}

// A cuid-like id ("c" + base36 time + random), as Prisma's cuid() looks.
std::string new_cuid() {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
  std::string t;
  while (ms > 0) {
    t.insert(t.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[ms % 36]);
    ms /= 36;
  }
  unsigned char r[12];
  RAND_bytes(r, sizeof r);
  std::string rnd;
  for (auto c : r) rnd += "0123456789abcdefghijklmnopqrstuvwxyz"[c % 36];
  return "c" + t + rnd;
}

constexpr const char* user_columns =
    "\"id\", \"clientId\", \"email\", \"name\", \"phone\", \"country\", \"role\", \"status\", \"emailVerified\", "
    "to_char(\"lastLoginAt\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "to_char(\"createdAt\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

constexpr const char* activity_columns =
    "\"id\", \"userId\", \"adminId\", \"action\", \"entity\", \"entityId\", \"ipAddress\", \"userAgent\", "
    "\"newValues\"";

// Prepared statement names (registered by prepare_statements()).
constexpr const char* st_register = "api_register";
constexpr const char* st_login_user = "api_login_user";
constexpr const char* st_login_ok = "api_login_ok";
constexpr const char* st_activity = "api_activity";
constexpr const char* st_user_by_id = "api_user_by_id";
constexpr const char* st_accounts = "api_accounts";
constexpr const char* st_owns_account = "api_owns_account";
constexpr const char* st_active_owners = "api_active_owners";

json opt(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

json user_json(const db::row& r) {
  return json{{"id", opt(r[0])},          {"clientId", opt(r[1])},  {"email", opt(r[2])},
              {"name", opt(r[3])},        {"phone", opt(r[4])},     {"country", opt(r[5])},
              {"role", opt(r[6])},        {"status", opt(r[7])},    {"emailVerified", r[8] && *r[8] == "t"},
              {"lastLoginAt", opt(r[9])}, {"createdAt", opt(r[10])}};
}

response fail(const request_context& ctx, errc e, std::string_view message = {}) {
  return http::error_response(ctx.req, e, message);
}

// A failed pooled statement: 503 when the database is unavailable (pool timeout, cannot connect,
// statement timeout), 409 for a unique violation, else 500; the reason goes to the log only.
response db_fail(const request_context& ctx, const db::query_result& q, std::string_view conflict_message = {}) {
  if (q.sqlstate == "23505") return fail(ctx, errc::conflict, conflict_message);
  if (db::is_unavailable(q.ec)) {
    spdlog::warn("[{}] {}: database unavailable: {}{}", ctx.request_id, ctx.route, q.ec.message(),
                 q.message.empty() ? std::string() : " (" + q.message + ")");
    return fail(ctx, errc::unavailable, "Database unavailable");
  }
  spdlog::error("[{}] {}: {} (SQLSTATE {}: {})", ctx.request_id, ctx.route, q.ec.message(),
                q.sqlstate.empty() ? "-" : q.sqlstate, q.message);
  return fail(ctx, errc::internal);
}

// A failed CPU-pool job (bcrypt): busy → 503, anything else 500.
template <class T>
response cpu_fail(const request_context& ctx, const outcome<T>& o) {
  spdlog::warn("[{}] {}: {}", ctx.request_id, ctx.route, o.detail);
  if (o.error == errc::unavailable) return fail(ctx, errc::unavailable, "Server busy, try again");
  return fail(ctx, errc::internal);
}

// Content type, JSON syntax and the schema, every field error at once.
std::optional<response> parse_and_validate(const request_context& ctx, const validate::schema& schema, json& out) {
  if (!validate::is_json_content_type(ctx.req[field::field::content_type]))
    return fail(ctx, errc::unsupported_media_type, "Content-Type must be application/json");
  auto parsed = validate::parse_body(ctx.req.body());
  if (!parsed) return fail(ctx, errc::bad_request, "Malformed JSON body");
  auto errors = schema.validate(parsed.value, out);
  if (!errors.empty()) {
    std::vector<http::field_error> fe;
    for (auto& e : errors) fe.push_back({e.field, e.message});
    return http::error_response(ctx.req, errc::validation, "Validation error", fe);
  }
  return std::nullopt;
}

std::string user_agent(const request_context& ctx) {
  return std::string(ctx.req[field::field::user_agent].substr(0, 512));
}

// Runs a registered statement. A plain coroutine taking values, so callers co_await it with named
// arguments only.
awaitable<db::query_result> exec(db::pool* pool, std::string name, std::vector<db::param> params) {
  auto r = co_await pool->exec_prepared(std::move(name), std::move(params));
  co_return r;
}

// Writes one ActivityLog row; a failure is logged, never fails the request.
awaitable<void> activity(services& s, const request_context& ctx, std::string user_id, std::string action) {
  std::vector<db::param> params{new_uuid(),    std::move(user_id), std::move(action),
                                ctx.client_ip, user_agent(ctx),    db::param{}};
  auto q = co_await exec(s.db, st_activity, std::move(params));
  if (!q) spdlog::warn("[{}] ActivityLog row not written: {} ({})", ctx.request_id, q.ec.message(), q.message);
}

// The limit of `t` for `identifier`; nullopt when allowed (headers go into `last`).
awaitable<std::optional<response>> limit(services& s, const request_context& ctx, tier t, std::string identifier,
                                         decision& last) {
  if (!s.limits) co_return std::nullopt;
  auto d = co_await s.limits->check(ctx.worker, t, std::move(identifier));
  if (!d.allowed) co_return too_many(ctx.req, d, t);
  if (!last.applied || d.remaining < last.remaining) last = d;
  co_return std::nullopt;
}

response with_cookie(response res, services& s, const std::string& token) {
  res.set(field::field::set_cookie, auth::set_cookie_header(*s.cookie, token));
  return res;
}

// Authentication: Bearer header or cookie; sets ctx.user_id and ctx.identity.
std::optional<response> authenticate(services& s, request_context& ctx) {
  auto token = auth::request_token(ctx.req[field::field::authorization], ctx.req[field::field::cookie], s.cookie->name);
  if (!token) return fail(ctx, errc::unauthorized, "Authentication required");
  auto v = s.jwt->verify(*token);
  if (!v) {
    spdlog::debug("[{}] token refused: {}", ctx.request_id, auth::to_string(v.error));
    return fail(ctx, errc::unauthorized, "Invalid or expired token");
  }
  if (s.revoked && s.revoked->revoked(v.value.jti)) {
    spdlog::debug("[{}] token refused: logged out", ctx.request_id);
    return fail(ctx, errc::unauthorized, "Invalid or expired token");
  }
  ctx.user_id = v.value.sub;
  ctx.identity = "user:" + ctx.user_id;
  return std::nullopt;
}

// A request refused for its token still counts against the standard tier, by its address (the
// identifier of an unauthenticated request), so guessing tokens is limited like any other request.
awaitable<response> counted_refusal(services& s, request_context& ctx, response refusal) {
  decision rl;
  if (auto r = co_await limit(s, ctx, tier::standard, ctx.identity, rl)) co_return std::move(*r);
  add_rate_headers(refusal, rl, tier::standard);
  co_return refusal;
}

awaitable<response> register_route(services& s, request_context& ctx) {
  decision rl;
  if (auto r = co_await limit(s, ctx, tier::strict, "ip:" + ctx.client_ip, rl)) co_return std::move(*r);
  json body;
  if (auto r = parse_and_validate(ctx, validate::register_schema(), body)) {
    add_rate_headers(*r, rl, tier::strict);
    co_return std::move(*r);
  }
  std::string email = core::to_lower(body["email"].get<std::string>());
  std::string password = body["password"].get<std::string>();
  db::param name = body.contains("name") ? db::param{body["name"].get<std::string>()} : db::param{};
  db::param phone = body.contains("phone") ? db::param{body["phone"].get<std::string>()} : db::param{};
  unsigned cost = s.settings->auth.bcrypt_cost;
  // A named closure, not a temporary: GCC 12 corrupts closure temporaries inside co_await.
  auto job = [password, cost] { return auth::hash_password(password, cost); };
  auto hashed = co_await s.cpu->run<std::string>(std::move(job));
  response res;
  if (!hashed) {
    res = cpu_fail(ctx, hashed);
    add_rate_headers(res, rl, tier::strict);
    co_return res;
  }
  std::vector<db::param> params{new_uuid(), new_cuid(), email,         *hashed.value,  name,
                                phone,      new_uuid(), ctx.client_ip, user_agent(ctx)};
  auto q = co_await exec(s.db, st_register, std::move(params));
  if (!q || q.value.rows.empty()) {
    res = db_fail(ctx, q, "User already exists");
  } else {
    auto user = user_json(q.value.rows[0]);
    auto token = s.jwt->issue(user["id"].get<std::string>(), email);
    ctx.user_id = user["id"].get<std::string>();
    ctx.identity = "user:" + ctx.user_id;
    spdlog::info("[{}] registered user {}", ctx.request_id, ctx.user_id);
    res = with_cookie(
        http::json_response(
            ctx.req, http::status::created,
            json{{"success", true}, {"message", "User registered successfully"}, {"user", user}, {"token", token}}
                .dump()),
        s, token);
  }
  add_rate_headers(res, rl, tier::strict);
  co_return res;
}

// The database has just said this user is not active (or is gone): their cached GET /apis/accounts
// answer, served without asking the database, goes now instead of at the end of its TTL.
// Nobody announces a suspension; this is where one shows.
awaitable<void> forget_cached_accounts(services& s, const request_context& ctx, std::string user_id) {
  if (s.accounts_ttl.count() <= 0 || s.caches.empty()) co_return;
  auto client = s.caches[ctx.worker % s.caches.size()]->client();
  if (!co_await invalidate_user_accounts(client, user_id, fence_for(s.settings->database.statement_timeout)))
    spdlog::warn("[{}] cached accounts of inactive user {} not dropped (Redis unavailable)", ctx.request_id, user_id);
}

// bcrypt verification on the CPU pool (`hash` empty: unknown user, always false); nullopt when the
// pool could not run it (res is set).
awaitable<std::optional<bool>> verify_on_cpu(services& s, const request_context& ctx, std::string password,
                                             std::string hash, response& res) {
  // A named closure, not a temporary: GCC 12 corrupts closure temporaries inside co_await.
  auto job = [password = std::move(password), hash = std::move(hash), cost = s.settings->auth.bcrypt_cost] {
    // An unknown e-mail (empty hash) verifies against a fixed hash of the configured cost, so both
    // failures cost the same (a fixed cost 10 answered unknown e-mails 4x sooner than cost-12
    // hashes); made on the CPU pool, never on a network thread.
    bool ok = auth::verify_password(password, hash.empty() ? auth::stand_in_hash(cost) : hash);
    return ok && !hash.empty();
  };
  auto o = co_await s.cpu->run<bool>(std::move(job));
  if (!o) {
    res = cpu_fail(ctx, o);
    co_return std::nullopt;
  }
  co_return *o.value;
}

awaitable<response> login_route(services& s, request_context& ctx) {
  decision rl;
  if (auto r = co_await limit(s, ctx, tier::strict, "ip:" + ctx.client_ip, rl)) co_return std::move(*r);
  json body;
  if (auto r = parse_and_validate(ctx, validate::login_schema(), body)) {
    add_rate_headers(*r, rl, tier::strict);
    co_return std::move(*r);
  }
  std::string email = core::to_lower(body["email"].get<std::string>());
  // Per e-mail as well: spreading guesses for one account over many addresses does not help.
  if (auto r = co_await limit(s, ctx, tier::strict, "email:" + email, rl)) co_return std::move(*r);
  std::string password = body["password"].get<std::string>();
  response res;
  std::vector<db::param> by_email{email};
  auto q = co_await exec(s.db, st_login_user, std::move(by_email));
  if (!q) {
    res = db_fail(ctx, q);
    add_rate_headers(res, rl, tier::strict);
    co_return res;
  }
  bool known = !q.value.rows.empty();
  db::row row = known ? q.value.rows[0] : db::row{};
  std::string hash = known && row.size() > 11 && row[11] ? *row[11] : std::string();
  auto verified = co_await verify_on_cpu(s, ctx, password, hash, res);
  if (!verified) {
    add_rate_headers(res, rl, tier::strict);
    co_return res;
  }
  if (!known || !*verified || !row[11]) {
    if (known) co_await activity(s, ctx, *row[0], "login_failed");
    res = fail(ctx, errc::unauthorized, "Invalid email or password");
  } else if (!row[7] || *row[7] != "active") {
    co_await activity(s, ctx, *row[0], "login_refused_inactive");
    co_await forget_cached_accounts(s, ctx, *row[0]);
    res = fail(ctx, errc::forbidden, "Account is not active");
  } else {
    std::vector<db::param> params{*row[0], new_uuid(), ctx.client_ip, user_agent(ctx)};
    auto upd = co_await exec(s.db, st_login_ok, std::move(params));
    if (!upd || upd.value.rows.empty()) {
      res = db_fail(ctx, upd);
    } else {
      auto user = user_json(upd.value.rows[0]);
      ctx.user_id = user["id"].get<std::string>();
      ctx.identity = "user:" + ctx.user_id;
      auto token = s.jwt->issue(ctx.user_id, email);
      res = with_cookie(
          http::json_response(
              ctx.req, http::status::ok,
              json{{"success", true}, {"message", "Login successful"}, {"user", user}, {"token", token}}.dump()),
          s, token);
    }
  }
  add_rate_headers(res, rl, tier::strict);
  co_return res;
}

awaitable<response> logout_route(services& s, request_context& ctx) {
  // Logging out always succeeds and clears the cookie; a valid token is also revoked (refused by
  // every instance until it expires), leaves an audit row and makes the user (not the address) the
  // rate-limit identifier.
  auto token = auth::request_token(ctx.req[field::field::authorization], ctx.req[field::field::cookie], s.cookie->name);
  auth::claims claims;
  if (token) {
    if (auto v = s.jwt->verify(*token); v && !(s.revoked && s.revoked->revoked(v.value.jti))) {
      claims = std::move(v.value);
      ctx.user_id = claims.sub;
      ctx.identity = "user:" + ctx.user_id;
    }
  }
  decision rl;
  if (auto r = co_await limit(s, ctx, tier::standard, ctx.identity, rl)) co_return std::move(*r);
  if (s.revoked && !claims.jti.empty()) {
    auto client = ctx.worker < s.redis.size() ? s.redis[ctx.worker] : nullptr;
    const std::int64_t until = claims.exp + s.jwt->leeway().count();
    std::string jti = claims.jti;
    co_await s.revoked->revoke(std::move(client), std::move(jti), until, ctx.request_id);
  }
  if (!ctx.user_id.empty()) co_await activity(s, ctx, ctx.user_id, "logout");
  auto res = http::json_response(ctx.req, http::status::ok, "{\"success\":true,\"message\":\"Logged out\"}");
  res.set(field::field::set_cookie, auth::clear_cookie_header(*s.cookie));
  add_rate_headers(res, rl, tier::standard);
  co_return res;
}

awaitable<response> me_route(services& s, request_context& ctx) {
  if (auto r = authenticate(s, ctx)) {
    response refused = co_await counted_refusal(s, ctx, std::move(*r));  // no `co_return co_await` (GCC 12)
    co_return refused;
  }
  decision rl;
  if (auto r = co_await limit(s, ctx, tier::standard, ctx.identity, rl)) co_return std::move(*r);
  std::vector<db::param> params{ctx.user_id};
  auto q = co_await exec(s.db, st_user_by_id, std::move(params));
  response res;
  if (!q)
    res = db_fail(ctx, q);
  else if (q.value.rows.empty())
    res = fail(ctx, errc::unauthorized, "Invalid or expired token");
  else if (!q.value.rows[0][7] || *q.value.rows[0][7] != "active")  // suspended since the token was issued
    res = fail(ctx, errc::forbidden, "Account is not active");
  else
    res = http::json_response(ctx.req, http::status::ok,
                              json{{"success", true}, {"user", user_json(q.value.rows[0])}}.dump());
  if (q && res.result() != http::status::ok) co_await forget_cached_accounts(s, ctx, ctx.user_id);
  add_rate_headers(res, rl, tier::standard);
  co_return res;
}

// The accounts of st_accounts' rows (column 0 is the user's status; a row without an account id is
// the user without accounts).
json accounts_json(const db::result& r) {
  json list = json::array();
  auto num = [](const std::optional<std::string>& v) { return v ? json(std::stod(*v)) : json(nullptr); };
  for (const auto& row : r.rows) {
    if (!row[1]) continue;
    list.push_back({{"id", opt(row[1])},
                    {"accountId", opt(row[2])},
                    {"accountType", opt(row[3])},
                    {"group", opt(row[4])},
                    {"leverage", row[5] ? json(std::stoll(*row[5])) : json(nullptr)},
                    {"currency", opt(row[6])},
                    {"balance", num(row[7])},
                    {"equity", num(row[8])},
                    {"margin", num(row[9])},
                    {"freeMargin", num(row[10])},
                    {"marginLevel", num(row[11])},
                    {"status", opt(row[12])},
                    {"createdAt", opt(row[13])}});
  }
  return list;
}

// The answer from PostgreSQL (cache miss, or no cache), stored in Redis when there is one. Its own
// coroutine: the hit path's frame stays under Asio's 1 KB recycling limit (no malloc per request).
awaitable<response> accounts_from_db(services& s, request_context& ctx, cache::cache* c, decision rl) {
  response res;
  std::vector<db::param> params{ctx.user_id};
  auto q = co_await exec(s.db, st_accounts, std::move(params));
  if (!q) {
    res = db_fail(ctx, q);
  } else if (q.value.rows.empty()) {
    res = fail(ctx, errc::unauthorized, "Invalid or expired token");  // the user is gone
  } else if (!q.value.rows[0][0] || *q.value.rows[0][0] != "active") {
    res = fail(ctx, errc::forbidden, "Account is not active");
  } else {
    std::string body = json{{"success", true}, {"accounts", accounts_json(q.value)}}.dump();
    if (c) {
      std::vector<std::string> ids;
      for (const auto& row : q.value.rows)
        if (row[2]) ids.push_back(*row[2]);
      auto client = c->client();
      auto stored = co_await store_accounts(client, ctx.user_id, body, std::move(ids), s.accounts_ttl);
      if (!stored) spdlog::debug("[{}] accounts answer not cached (Redis unavailable)", ctx.request_id);
    }
    res = http::json_response(ctx.req, http::status::ok, std::move(body));
  }
  add_rate_headers(res, rl, tier::standard);
  co_return res;
}

// The cached answer (nullopt on a miss) with the rate-limit decision in `rl`; a refusal is the
// answer. The rate-limit decision reads the cached answer in its own MGET: one round trip for both. When the limiter
// did not ask Redis (limits off, Redis down) the cache is read on its own. The limiter is awaited directly (not through
// limit()): one coroutine frame less per request.
awaitable<std::optional<response>> accounts_cached(services& s, request_context& ctx, cache::cache* c, decision& rl) {
  std::string key = accounts_cache_key(ctx.user_id);
  std::optional<std::string> hit;
  bool read = false;
  if (s.limits) {
    auto r = co_await s.limits->check_and_get(ctx.worker, tier::standard, ctx.identity, c->client()->key(key));
    if (!r.d.allowed) co_return too_many(ctx.req, r.d, tier::standard);
    rl = std::move(r.d);
    if (r.read) {
      read = true;
      c->count_lookup(r.value.has_value());
      hit = std::move(r.value);
    }
  }
  if (!read) hit = co_await c->get(key);
  if (!hit) co_return std::nullopt;
  auto res = http::json_response(ctx.req, http::status::ok, std::move(*hit));
  add_rate_headers(res, rl, tier::standard);
  co_return res;
}

awaitable<response> accounts_route(services& s, request_context& ctx) {
  if (auto r = authenticate(s, ctx)) {
    response refused = co_await counted_refusal(s, ctx, std::move(*r));  // no `co_return co_await` (GCC 12)
    co_return refused;
  }
  decision rl;
  // Read-through: the worker's own Redis connection; a miss or Redis being down reads PostgreSQL.
  cache::cache* c = nullptr;
  if (s.accounts_ttl.count() > 0 && !s.caches.empty()) c = s.caches[ctx.worker % s.caches.size()].get();
  if (c) {
    auto cached = co_await accounts_cached(s, ctx, c, rl);
    if (cached) co_return std::move(*cached);
  } else if (auto r = co_await limit(s, ctx, tier::standard, ctx.identity, rl)) {
    co_return std::move(*r);
  }
  auto res = co_await accounts_from_db(s, ctx, c, rl);
  co_return res;
}

}  // namespace

void prepare_statements(db::pool& pool) {
  pool.prepare(st_register,
               fmt::format("WITH u AS (INSERT INTO \"User\" (\"id\", \"clientId\", \"email\", \"password\", \"name\", "
                           "\"phone\") VALUES ($1, $2, $3, $4, $5, $6) RETURNING *), "
                           "a AS (INSERT INTO \"ActivityLog\" ({}) SELECT $7, u.\"id\", u.\"id\", 'register', 'User', "
                           "u.\"id\", $8, $9, NULL FROM u) SELECT {} FROM u",
                           activity_columns, user_columns));
  pool.prepare(st_login_user, fmt::format("SELECT {}, \"password\" FROM \"User\" WHERE \"email\" = $1", user_columns));
  pool.prepare(st_login_ok,
               fmt::format("WITH u AS (UPDATE \"User\" SET \"lastLoginAt\" = CURRENT_TIMESTAMP, \"updatedAt\" = "
                           "CURRENT_TIMESTAMP WHERE \"id\" = $1 RETURNING *), "
                           "a AS (INSERT INTO \"ActivityLog\" ({}) SELECT $2, u.\"id\", u.\"id\", 'login', 'User', "
                           "u.\"id\", $3, $4, NULL FROM u) SELECT {} FROM u",
                           activity_columns, user_columns));
  pool.prepare(st_activity,
               fmt::format("INSERT INTO \"ActivityLog\" ({}) VALUES ($1, $2, $2, $3, 'User', $2, $4, $5, $6)",
                           activity_columns));
  pool.prepare(st_user_by_id, fmt::format("SELECT {} FROM \"User\" WHERE \"id\" = $1", user_columns));
  // The user's status first (no row: no such user; an account-less user gives one row of NULLs):
  // a suspended user's token must not read the accounts.
  pool.prepare(st_accounts,
               "SELECT u.\"status\", m.\"id\", m.\"accountId\", m.\"accountType\", m.\"group\", m.\"leverage\", "
               "m.\"currency\", m.\"balance\", m.\"equity\", m.\"margin\", m.\"freeMargin\", m.\"marginLevel\", "
               "m.\"status\", to_char(m.\"createdAt\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
               "FROM \"User\" u LEFT JOIN \"MT5Account\" m ON m.\"userId\" = u.\"id\" WHERE u.\"id\" = $1 "
               "ORDER BY m.\"createdAt\", m.\"accountId\"");
  pool.prepare(st_owns_account,
               "SELECT 1 FROM \"MT5Account\" m JOIN \"User\" u ON u.\"id\" = m.\"userId\" WHERE m.\"accountId\" = $1 "
               "AND m.\"userId\" = $2 AND u.\"status\" = 'active'");
  // $1: a JSON array of account ids (one parameter however many).
  pool.prepare(st_active_owners,
               "SELECT m.\"accountId\", m.\"userId\" FROM \"MT5Account\" m JOIN \"User\" u ON u.\"id\" = m.\"userId\" "
               "WHERE u.\"status\" = 'active' AND m.\"accountId\" IN (SELECT jsonb_array_elements_text($1::jsonb))");
}

awaitable<std::optional<std::unordered_map<std::string, std::string>>> active_owners(
    db::pool& pool, std::vector<std::string> account_ids) {
  std::vector<db::param> params{json(account_ids).dump(-1, ' ', false, json::error_handler_t::replace)};
  auto q = co_await exec(&pool, st_active_owners, std::move(params));
  std::optional<std::unordered_map<std::string, std::string>> owners;
  if (!q) {
    spdlog::warn("account subscription re-check failed: {} ({})", q.ec.message(), q.message);
    co_return owners;
  }
  owners.emplace();
  for (const auto& row : q.value.rows)
    if (row[0] && row[1]) owners->emplace(*row[0], *row[1]);
  co_return owners;
}

awaitable<std::optional<bool>> owns_account(db::pool& pool, std::string user_id, std::string account_id) {
  std::vector<db::param> params{std::move(account_id), std::move(user_id)};
  auto q = co_await exec(&pool, st_owns_account, std::move(params));
  std::optional<bool> owner;
  if (!q)
    spdlog::warn("account ownership check failed: {} ({})", q.ec.message(), q.message);
  else
    owner = !q.value.rows.empty();
  co_return owner;
}

void add_auth_routes(http::router& r, services& s) {
  using http::verb;
  r.add(verb::post, "/apis/auth/register", [&s](request_context& c) { return register_route(s, c); });
  r.add(verb::post, "/apis/auth/login", [&s](request_context& c) { return login_route(s, c); });
  r.add(verb::post, "/apis/auth/logout", [&s](request_context& c) { return logout_route(s, c); });
  r.add(verb::get, "/apis/auth/me", [&s](request_context& c) { return me_route(s, c); });
  r.add(verb::get, "/apis/accounts", [&s](request_context& c) { return accounts_route(s, c); });
}

}  // namespace zuperior::api
