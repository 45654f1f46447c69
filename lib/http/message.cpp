#include "http/message.hpp"

#include <boost/beast/http/field.hpp>

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

}  // namespace zuperior::http
