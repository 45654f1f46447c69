#include "db/session.hpp"

#include <pqxx/pqxx>

#include <mutex>

#include "core/redact.hpp"
#include "core/strings.hpp"
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

error translate(const std::exception& e, std::string_view sql) {
  std::string msg = e.what();
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  // pqxx appends the query text; the statement is reported separately.
  if (auto pos = msg.find("\nQuery was:"); pos != std::string::npos) msg.resize(pos);
  if (auto* s = dynamic_cast<const pqxx::sql_error*>(&e)) return error(msg, s->sqlstate(), std::string(sql));
  return error(core::redact_url(msg), "", std::string(sql));
}

}  // namespace

struct session::impl {
  std::unique_ptr<pqxx::connection> conn;
  std::vector<std::string> notices;
  std::unique_ptr<notice_collector> collector;
};

session::session(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
session::~session() {
  if (impl_) impl_->collector.reset();
}

std::unique_ptr<session> session::connect(const std::string& database_url, std::chrono::milliseconds connect_timeout) {
  auto p = std::make_unique<impl>();
  try {
    p->conn =
        std::make_unique<pqxx::connection>(resolve_host(libpq_url(database_url, connect_timeout), connect_timeout));
  } catch (const std::exception& e) {
    throw error(core::redact_url(core::one_line(e.what())));  // libpq's "\n\tIs the server running": one line
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
    throw translate(e, sql);
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
