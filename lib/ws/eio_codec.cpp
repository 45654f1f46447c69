#include "ws/eio_codec.hpp"

#include "ws/base64.hpp"

namespace zuperior::ws {

std::optional<eio_packet> eio_decode_text(std::string_view frame) {
  if (frame.empty()) return std::nullopt;
  const char t = frame[0];
  if (t < '0' || t > '6') return std::nullopt;
  return eio_packet{static_cast<eio_type>(t - '0'), std::string(frame.substr(1)), false};
}

eio_packet eio_decode_binary(std::string_view frame) { return eio_packet{eio_type::message, std::string(frame), true}; }

std::optional<std::vector<eio_packet>> eio_decode_payload(std::string_view body, std::size_t max_packets) {
  std::vector<eio_packet> out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t sep = body.find(record_separator, pos);
    const std::string_view element =
        body.substr(pos, sep == std::string_view::npos ? std::string_view::npos : sep - pos);
    if (out.size() >= max_packets) return std::nullopt;
    if (!element.empty() && element[0] == 'b') {
      auto bytes = base64_decode(element.substr(1));
      if (!bytes) return std::nullopt;
      out.push_back(eio_packet{eio_type::message, std::move(*bytes), true});
    } else {
      auto p = eio_decode_text(element);
      if (!p) return std::nullopt;
      out.push_back(std::move(*p));
    }
    if (sep == std::string_view::npos) break;
    pos = sep + 1;
  }
  return out;
}

std::string eio_encode_text(const eio_packet& p) {
  std::string out;
  out.reserve(p.data.size() + 1);
  out += static_cast<char>('0' + static_cast<int>(p.type));
  out += p.data;
  return out;
}

std::string eio_encode_payload_element(const eio_packet& p) {
  if (p.binary) return "b" + base64_encode(p.data);
  return eio_encode_text(p);
}

std::string eio_join_payload(const std::vector<std::string>& elements) {
  std::size_t n = 0;
  for (const auto& e : elements) n += e.size() + 1;
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += record_separator;
    out += elements[i];
  }
  return out;
}

std::string_view eio_error_message(eio_error e) {
  switch (e) {
    case eio_error::unknown_transport:
      return "Transport unknown";
    case eio_error::unknown_sid:
      return "Session ID unknown";
    case eio_error::bad_handshake_method:
      return "Bad handshake method";
    case eio_error::bad_request:
      return "Bad request";
    case eio_error::forbidden:
      return "Forbidden";
    case eio_error::unsupported_protocol_version:
      return "Unsupported protocol version";
  }
  return "Bad request";
}

std::string eio_error_body(eio_error e) {
  std::string out = "{\"code\":";
  out += std::to_string(static_cast<int>(e));
  out += ",\"message\":\"";
  out += eio_error_message(e);
  out += "\"}";
  return out;
}

}  // namespace zuperior::ws
