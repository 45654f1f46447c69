#include "db/session.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "core/redact.hpp"
#include "core/strings.hpp"
#include "core/url.hpp"
#include "db/conninfo.hpp"

namespace zuperior::db {

namespace {

class notice_collector final : public pqxx::errorhandler {
 public:
  notice_collector(pqxx::connection_base& c, std::vector<std::string>& sink) : pqxx::errorhandler(c), sink_(sink) {}
  bool operator()(const char msg[]) noexcept override {
    try {
      std::string m(msg);
      while (!m.empty() && m.back() == '\n') m.pop_back();
      sink_.push_back(std::move(m));
    } catch (...) {
    }
    return false;  // keep the message from reaching stderr
  }

 private:
  std::vector<std::string>& sink_;
};

error translate(const std::exception& e, std::string_view sql, const std::vector<std::string>& secrets) {
  std::string msg = e.what();
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  // pqxx appends the query text; the statement is reported separately.
  if (auto pos = msg.find("\nQuery was:"); pos != std::string::npos) msg.resize(pos);
  if (auto* s = dynamic_cast<const pqxx::sql_error*>(&e))
    return error(redact_secrets(msg, secrets), s->sqlstate(), std::string(sql));
  return error(redact_secrets(msg, secrets), "", std::string(sql));
}

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

}  // namespace

std::vector<std::string> password_forms(std::string_view url) {
  std::vector<std::string> raw;
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) {
    auto rest = url.substr(scheme + 3);
    auto query = rest.find('?');
    auto authority = rest.substr(0, query);
    auto password_of = [&raw](std::string_view info) {
      if (auto colon = info.find(':'); colon != std::string_view::npos) raw.emplace_back(info.substr(colon + 1));
    };
    // libpq ends the user info at the first '@' or '/'. A password holding a raw '@' or '/' is cut
    // there, and libpq quotes the rest of it as a host, a port or a database name: the whole
    // password up to the last '@' counts too, and its pieces.
    auto libpq_end = authority.find_first_of("@/");
    if (libpq_end != std::string_view::npos && authority[libpq_end] == '@') password_of(authority.substr(0, libpq_end));
    if (auto last = authority.rfind('@'); last != std::string_view::npos && last != libpq_end) {
      password_of(authority.substr(0, last));
      if (auto colon = authority.find(':'); colon < last)
        for (auto& piece : core::split(authority.substr(colon + 1, last - colon - 1), '@'))
          for (auto& part : core::split(piece, '/')) raw.push_back(part);
    }
    if (query != std::string_view::npos)
      for (const auto& pair : core::split(rest.substr(query + 1), '&', true))
        if (auto eq = pair.find('='); eq != std::string::npos && core::percent_decode(pair.substr(0, eq)) == "password")
          raw.push_back(pair.substr(eq + 1));
  }
  std::vector<std::string> out;
  for (const auto& r : raw) {
    if (r.empty()) continue;
    out.push_back(r);
    out.push_back(core::percent_decode(r));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string redact_secrets(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out(text);
  // Longest first: a decoded form inside a raw one (or a piece inside the whole) would leave the rest.
  std::vector<std::string> by_length = secrets;
  std::sort(by_length.begin(), by_length.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& secret : by_length) {
    if (secret.empty()) continue;
    for (auto pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos)) {
      const auto end = pos + secret.size();
      const bool alone = (pos == 0 || !is_alnum(out[pos - 1])) && (end == out.size() || !is_alnum(out[end]));
      if (secret.size() < 4 && !alone) {
        ++pos;
        continue;
      }
      out.replace(pos, secret.size(), core::redacted);
      pos += core::redacted.size();
    }
  }
  return core::redact_url(out);
}

struct session::impl {
  std::unique_ptr<pqxx::connection> conn;
  std::vector<std::string> notices;
  std::unique_ptr<notice_collector> collector;
  // libpq and the server quote what they cannot parse ("invalid percent-encoded token: "S3cret%PW""),
  // whatever its shape: the URL's password is taken out of every message by its text.
  std::vector<std::string> secrets;
};

session::session(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
session::~session() {
  if (impl_) impl_->collector.reset();
}

std::unique_ptr<session> session::connect(const std::string& database_url, std::chrono::milliseconds connect_timeout) {
  auto p = std::make_unique<impl>();
  p->secrets = password_forms(database_url);
  try {
    p->conn =
        std::make_unique<pqxx::connection>(resolve_host(libpq_url(database_url, connect_timeout), connect_timeout));
  } catch (const std::exception& e) {
    // libpq's "\n\tIs the server running": one line
    throw error(redact_secrets(core::one_line(e.what()), p->secrets));
  }
  p->collector = std::make_unique<notice_collector>(*p->conn, p->notices);
  return std::unique_ptr<session>(new session(std::move(p)));
}

result session::query(std::string_view sql, const std::vector<param>& params) {
  result out;
  try {
    pqxx::nontransaction tx(*impl_->conn);
    pqxx::result r;
    if (params.empty()) {
      r = tx.exec(std::string(sql));
    } else {
      std::vector<const char*> raw;
      raw.reserve(params.size());
      for (const auto& p : params) raw.push_back(p ? p->c_str() : nullptr);
      r = tx.exec_params(std::string(sql), pqxx::prepare::make_dynamic_params(raw));
    }
    out.affected = r.affected_rows();
    for (pqxx::row::size_type c = 0; c < r.columns(); ++c) out.columns.emplace_back(r.column_name(c));
    out.rows.reserve(r.size());
    for (const auto& row : r) {
      db::row values;
      values.reserve(row.size());
      for (const auto& f : row) values.push_back(f.is_null() ? std::nullopt : std::optional<std::string>(f.c_str()));
      out.rows.push_back(std::move(values));
    }
  } catch (const std::exception& e) {
    throw translate(e, sql, impl_->secrets);
  }
  return out;
}

std::optional<std::string> session::scalar(std::string_view sql, const std::vector<param>& params) {
  auto r = query(sql, params);
  if (r.rows.empty() || r.rows.front().empty()) return std::nullopt;
  return r.rows.front().front();
}

std::string session::server_version() { return scalar("SHOW server_version").value_or(""); }

std::optional<std::string> session::read_only_reason() {
  auto r = query("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')");
  if (r.rows.empty() || r.rows[0].size() < 2) return std::nullopt;
  if (r.rows[0][0] == "t") return "read-only: a standby (in recovery); logins and registrations write";
  if (r.rows[0][1] == "on") return "read-only: default_transaction_read_only is on; logins and registrations write";
  return std::nullopt;
}
int session::backend_pid() { return impl_->conn->backendpid(); }
bool session::is_open() const { return impl_->conn && impl_->conn->is_open(); }

std::vector<std::string> session::take_notices() {
  std::vector<std::string> out;
  out.swap(impl_->notices);
  return out;
}

}  // namespace zuperior::db
