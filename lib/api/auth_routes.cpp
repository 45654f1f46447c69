// /apis/auth/register, login, logout, me and /apis/accounts. Every database statement and bcrypt
// call runs on the blocking pool; the network thread only parses, validates and answers.
#include <fmt/format.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

#include "api/blocking.hpp"
#include "api/limits.hpp"
#include "api/routes.hpp"
#include "auth/cookie.hpp"
#include "auth/jwt.hpp"
#include "auth/password.hpp"
#include "core/strings.hpp"
#include "db/session.hpp"
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

std::string random_hex(std::size_t bytes) {
  unsigned char buf[32];
  RAND_bytes(buf, static_cast<int>(bytes));
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) out += fmt::format("{:02x}", buf[i]);
  return out;
}

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

json opt(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

json user_json(const db::row& r) {
  return json{{"id", opt(r[0])},          {"clientId", opt(r[1])},  {"email", opt(r[2])},
              {"name", opt(r[3])},        {"phone", opt(r[4])},     {"country", opt(r[5])},
              {"role", opt(r[6])},        {"status", opt(r[7])},    {"emailVerified", r[8] && *r[8] == "t"},
              {"lastLoginAt", opt(r[9])}, {"createdAt", opt(r[10])}};
}

void activity(db::session& db, const std::string& user_id, std::string_view action, const std::string& ip,
              const std::string& user_agent, const std::string& details = {}) {
  db.query(
      "INSERT INTO \"ActivityLog\" (\"id\", \"userId\", \"adminId\", \"action\", \"entity\", \"entityId\", "
      "\"ipAddress\", \"userAgent\", \"newValues\") VALUES ($1, $2, $2, $3, 'User', $2, $4, $5, $6)",
      {new_uuid(), user_id, std::string(action), ip, user_agent.substr(0, 512),
       details.empty() ? db::param{} : db::param{details}});
}

response fail(const request_context& ctx, errc e, std::string_view message = {}) {
  return http::error_response(ctx.req, e, message);
}

// Logs the internal reason next to the request id and answers with the mapped status.
template <class T>
response fail(const request_context& ctx, const outcome<T>& o, std::string_view message = {}) {
  if (o.error == errc::unavailable || o.error == errc::internal)
    spdlog::warn("[{}] {}: {}", ctx.request_id, ctx.route, o.detail);
  if (o.error == errc::unavailable) return fail(ctx, errc::unavailable, "Database unavailable");
  return fail(ctx, o.error, message);
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

std::string user_agent(const request_context& ctx) { return std::string(ctx.req[field::field::user_agent]); }

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
  ctx.user_id = v.value.sub;
  ctx.identity = "user:" + ctx.user_id;
  return std::nullopt;
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
  std::string ip = ctx.client_ip, ua = user_agent(ctx);
  // A named closure, not a temporary: GCC 12 corrupts closure temporaries inside co_await.
  auto job = [=](db_access& a) {
    auto hash = auth::hash_password(password, cost);
    auto& db = a.session();
    auto res = db.query(fmt::format("INSERT INTO \"User\" (\"id\", \"clientId\", \"email\", \"password\", \"name\", "
                                    "\"phone\") VALUES ($1, $2, $3, $4, $5, $6) RETURNING {}",
                                    user_columns),
                        {new_uuid(), new_cuid(), email, hash, name, phone});
    activity(db, *res.rows.at(0)[0], "register", ip, ua);
    return res.rows.at(0);
  };
  auto o = co_await s.pool->run<db::row>(std::move(job));
  response res;
  if (!o) {
    res = fail(ctx, o, o.error == errc::conflict ? "User already exists" : "");
  } else {
    auto user = user_json(*o.value);
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

struct login_result {
  enum { ok, bad_credentials, inactive } kind = bad_credentials;
  db::row user;
};

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
  std::string ip = ctx.client_ip, ua = user_agent(ctx);
  // A named closure, not a temporary: GCC 12 corrupts closure temporaries inside co_await.
  auto job = [=](db_access& a) {
    // A fixed hash to verify against when the e-mail is unknown, so both failures cost the same.
    static const std::string dummy = auth::hash_password("not-a-real-password-0", 10);
    auto& db = a.session();
    auto res =
        db.query(fmt::format("SELECT {}, \"password\" FROM \"User\" WHERE \"email\" = $1", user_columns), {email});
    login_result out;
    if (res.rows.empty()) {
      auth::verify_password(password, dummy);
      return out;
    }
    auto row = res.rows[0];
    std::string id = *row[0];
    if (!row[11] || !auth::verify_password(password, *row[11])) {
      activity(db, id, "login_failed", ip, ua);
      return out;
    }
    if (!row[7] || *row[7] != "active") {
      activity(db, id, "login_refused_inactive", ip, ua);
      out.kind = login_result::inactive;
      return out;
    }
    auto upd = db.query(fmt::format("UPDATE \"User\" SET \"lastLoginAt\" = CURRENT_TIMESTAMP, \"updatedAt\" = "
                                    "CURRENT_TIMESTAMP WHERE \"id\" = $1 RETURNING {}",
                                    user_columns),
                        {id});
    activity(db, id, "login", ip, ua);
    out.kind = login_result::ok;
    out.user = upd.rows.at(0);
    return out;
  };
  auto o = co_await s.pool->run<login_result>(std::move(job));
  response res;
  if (!o) {
    res = fail(ctx, o);
  } else if (o.value->kind == login_result::bad_credentials) {
    res = fail(ctx, errc::unauthorized, "Invalid email or password");
  } else if (o.value->kind == login_result::inactive) {
    res = fail(ctx, errc::forbidden, "Account is not active");
  } else {
    auto user = user_json(o.value->user);
    ctx.user_id = user["id"].get<std::string>();
    ctx.identity = "user:" + ctx.user_id;
    auto token = s.jwt->issue(ctx.user_id, email);
    res = with_cookie(
        http::json_response(
            ctx.req, http::status::ok,
            json{{"success", true}, {"message", "Login successful"}, {"user", user}, {"token", token}}.dump()),
        s, token);
  }
  add_rate_headers(res, rl, tier::strict);
  co_return res;
}

awaitable<response> logout_route(services& s, request_context& ctx) {
  decision rl;
  if (auto r = co_await limit(s, ctx, tier::standard, ctx.identity, rl)) co_return std::move(*r);
  // Logging out always succeeds and clears the cookie; a valid token also leaves an audit row.
  auto token = auth::request_token(ctx.req[field::field::authorization], ctx.req[field::field::cookie], s.cookie->name);
  if (token) {
    if (auto v = s.jwt->verify(*token)) {
      ctx.user_id = v.value.sub;
      ctx.identity = "user:" + ctx.user_id;
      std::string id = ctx.user_id, ip = ctx.client_ip, ua = user_agent(ctx);
      // A named closure, not a temporary: GCC 12 corrupts closure temporaries inside co_await.
      auto job = [=](db_access& a) {
        activity(a.session(), id, "logout", ip, ua);
        return true;
      };
      auto o = co_await s.pool->run<bool>(std::move(job));
      if (!o) spdlog::warn("[{}] logout audit row not written: {}", ctx.request_id, o.detail);
    }
  }
  auto res = http::json_response(ctx.req, http::status::ok, "{\"success\":true,\"message\":\"Logged out\"}");
  res.set(field::field::set_cookie, auth::clear_cookie_header(*s.cookie));
  add_rate_headers(res, rl, tier::standard);
  co_return res;
}

awaitable<response> me_route(services& s, request_context& ctx) {
  if (auto r = authenticate(s, ctx)) co_return std::move(*r);
  decision rl;
  if (auto r = co_await limit(s, ctx, tier::standard, ctx.identity, rl)) co_return std::move(*r);
  std::string id = ctx.user_id;
  // A named closure, not a temporary: GCC 12 corrupts closure temporaries inside co_await.
  auto job = [=](db_access& a) -> std::optional<db::row> {
    auto res = a.session().query(fmt::format("SELECT {} FROM \"User\" WHERE \"id\" = $1", user_columns), {id});
    if (res.rows.empty()) return std::nullopt;
    return res.rows[0];
  };
  auto o = co_await s.pool->run<std::optional<db::row>>(std::move(job));
  response res;
  if (!o)
    res = fail(ctx, o);
  else if (!*o.value)
    res = fail(ctx, errc::unauthorized, "Invalid or expired token");
  else
    res =
        http::json_response(ctx.req, http::status::ok, json{{"success", true}, {"user", user_json(**o.value)}}.dump());
  add_rate_headers(res, rl, tier::standard);
  co_return res;
}

awaitable<response> accounts_route(services& s, request_context& ctx) {
  if (auto r = authenticate(s, ctx)) co_return std::move(*r);
  decision rl;
  if (auto r = co_await limit(s, ctx, tier::standard, ctx.identity, rl)) co_return std::move(*r);
  std::string id = ctx.user_id;
  // A named closure, not a temporary: GCC 12 corrupts closure temporaries inside co_await.
  auto job = [=](db_access& a) {
    return a.session().query(
        "SELECT \"id\", \"accountId\", \"accountType\", \"group\", \"leverage\", \"currency\", \"balance\", "
        "\"equity\", \"margin\", \"freeMargin\", \"marginLevel\", \"status\", "
        "to_char(\"createdAt\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
        "FROM \"MT5Account\" WHERE \"userId\" = $1 ORDER BY \"createdAt\"",
        {id});
  };
  auto o = co_await s.pool->run<db::result>(std::move(job));
  response res;
  if (!o) {
    res = fail(ctx, o);
  } else {
    json list = json::array();
    auto num = [](const std::optional<std::string>& v) { return v ? json(std::stod(*v)) : json(nullptr); };
    for (const auto& r : o.value->rows)
      list.push_back({{"id", opt(r[0])},
                      {"accountId", opt(r[1])},
                      {"accountType", opt(r[2])},
                      {"group", opt(r[3])},
                      {"leverage", r[4] ? json(std::stoll(*r[4])) : json(nullptr)},
                      {"currency", opt(r[5])},
                      {"balance", num(r[6])},
                      {"equity", num(r[7])},
                      {"margin", num(r[8])},
                      {"freeMargin", num(r[9])},
                      {"marginLevel", num(r[10])},
                      {"status", opt(r[11])},
                      {"createdAt", opt(r[12])}});
    res = http::json_response(ctx.req, http::status::ok, json{{"success", true}, {"accounts", list}}.dump());
  }
  add_rate_headers(res, rl, tier::standard);
  co_return res;
}

}  // namespace

void add_auth_routes(http::router& r, services& s) {
  using http::verb;
  r.add(verb::post, "/apis/auth/register", [&s](request_context& c) { return register_route(s, c); });
  r.add(verb::post, "/apis/auth/login", [&s](request_context& c) { return login_route(s, c); });
  r.add(verb::post, "/apis/auth/logout", [&s](request_context& c) { return logout_route(s, c); });
  r.add(verb::get, "/apis/auth/me", [&s](request_context& c) { return me_route(s, c); });
  r.add(verb::get, "/apis/accounts", [&s](request_context& c) { return accounts_route(s, c); });
}

}  // namespace zuperior::api
