#pragma once
// Request/response types shared by the router, the handlers and the server.
#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "http/takeover.hpp"

namespace zuperior::http {

using response = boost::beast::http::response<boost::beast::http::string_body>;
using status = boost::beast::http::status;
using verb = boost::beast::http::verb;

/// Everything a route handler gets besides the request: who asks, on which worker, and what the
/// middleware learnt (the authenticated user). Lives for the duration of one request.
struct request_context {
  const request& req;
  std::string_view path;   // target without the query string
  std::string_view query;  // after '?', may be empty
  std::string client_ip;
  std::string request_id;
  std::size_t worker = 0;
  boost::asio::any_io_executor executor;  // the connection's worker executor
  std::chrono::steady_clock::time_point started;
  std::string_view route;  // the matched route pattern (metrics label); set by the server
  std::string user_id;     // set by authentication middleware; empty when anonymous
  std::string identity;    // "user:<id>" or "ip:<addr>" for the access log and rate limits
  // False when the request carried X-Forwarded-For or Forwarded that did not give its address:
  // from a peer that is not a trusted proxy, or ending on a hop that does not parse (client_ip is
  // then the peer's, a proxy's or a NAT's, not the client's). Access decisions by address need it.
  bool address_known = true;
};

/// A JSON response with `body` (already serialized) and the given status.
response json_response(const request& req, status code, std::string body);
/// Appends the HTTP/1.x wire form of `res` to `out`: status line, the response's fields,
/// X-Request-Id (`request_id`, replacing any the handler set), Connection as `keep_alive` and the
/// version imply, Content-Length of the body, then the body unless `head_only` (HEAD keeps the GET's
/// Content-Length). Same headers as Beast's keep_alive() + prepare_payload() + serializer; throws
/// std::invalid_argument for a body on a 1xx/204/304 answer, as prepare_payload() does.
void serialize_response(std::string& out, response& res, std::string_view request_id, bool keep_alive, bool head_only);
/// A plain text response.
response text_response(const request& req, status code, std::string body,
                       std::string_view content_type = "text/plain; charset=utf-8");

}  // namespace zuperior::http
