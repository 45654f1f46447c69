#include "http/message.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

#include <stdexcept>

#include "core/strings.hpp"

namespace zuperior::http {

response text_response(const request& req, status code, std::string body, std::string_view content_type) {
  response res{code, req.version()};
  res.set(boost::beast::http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  return res;
}

response json_response(const request& req, status code, std::string body) {
  return text_response(req, code, std::move(body), "application/json; charset=utf-8");
}

namespace {
void append(std::string& out, boost::beast::string_view s) { out.append(s.data(), s.size()); }

}  // namespace

void serialize_response(std::string& out, response& res, std::string_view request_id, bool keep_alive, bool head_only) {
  namespace bh = boost::beast::http;
  auto code = res.result();
  const auto& body = res.body();
  if (!body.empty() && (bh::to_status_class(code) == bh::status_class::informational || code == status::no_content ||
                        code == status::not_modified))
    throw std::invalid_argument("invalid response body");
  // Handlers never set these; if one did, Beast's own rules merge them exactly as before.
  bool general = res.find(bh::field::connection) != res.end() || res.find(bh::field::transfer_encoding) != res.end();
  if (general) {
    res.keep_alive(keep_alive);
    res.prepare_payload();
  }
  unsigned version = res.version();
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
  out += ' ';
  core::append_number(out, res.result_int());
  out += ' ';
  auto reason = res.reason();
  append(out, reason.empty() ? bh::obsolete_reason(code) : reason);
  out += "\r\n";
  for (const auto& f : res) {
    auto name = f.name();
    if (!general && name == bh::field::content_length) continue;
    if (name == bh::field::unknown && boost::beast::iequals(f.name_string(), "X-Request-Id")) continue;
    append(out, f.name_string());
    out += ": ";
    append(out, f.value());
    out += "\r\n";
  }
  out += "X-Request-Id: ";
  out += request_id;
  out += "\r\n";
  if (!general) {
    if (version >= 11 && !keep_alive)
      out += "Connection: close\r\n";
    else if (version < 11 && keep_alive)
      out += "Connection: keep-alive\r\n";
    out += "Content-Length: ";
    core::append_number(out, static_cast<std::int64_t>(body.size()));
    out += "\r\n";
  }
  out += "\r\n";
  if (!head_only) out += body;
}

}  // namespace zuperior::http
