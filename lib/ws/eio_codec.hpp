#pragma once
// Engine.IO v4 packets: the one-character type prefix of text frames, raw binary frames over
// WebSocket, and the HTTP long-polling payload (packets joined with the record separator \x1e,
// binary packets as "b" + base64). Pure code: no I/O.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::ws {

/// Engine.IO packet types (the digit that starts a text packet).
enum class eio_type : std::uint8_t { open = 0, close = 1, ping = 2, pong = 3, message = 4, upgrade = 5, noop = 6 };

/// One Engine.IO packet; `binary` only for message packets carrying bytes.
struct eio_packet {
  eio_type type = eio_type::message;
  std::string data;
  bool binary = false;
  friend bool operator==(const eio_packet&, const eio_packet&) = default;
};

/// The record separator between packets of a polling payload.
inline constexpr char record_separator = '\x1e';

/// Decodes a WebSocket text frame (or one payload element): type digit then data; nullopt if malformed.
std::optional<eio_packet> eio_decode_text(std::string_view frame);
/// A WebSocket binary frame is always a binary message packet.
eio_packet eio_decode_binary(std::string_view frame);
/// Decodes a polling payload; nullopt when any element is malformed or there are more than `max_packets`.
std::optional<std::vector<eio_packet>> eio_decode_payload(std::string_view body, std::size_t max_packets = 10'000);

/// The text form of a non-binary packet: type digit followed by data.
std::string eio_encode_text(const eio_packet& p);
/// The element of a polling payload: text form, or "b" + base64 for binary packets.
std::string eio_encode_payload_element(const eio_packet& p);
/// Joins already-encoded payload elements with the record separator.
std::string eio_join_payload(const std::vector<std::string>& elements);

/// The Engine.IO HTTP error codes, answered as 400 {"code":…,"message":…}.
enum class eio_error : int {
  unknown_transport = 0,
  unknown_sid = 1,
  bad_handshake_method = 2,
  bad_request = 3,
  forbidden = 4,
  unsupported_protocol_version = 5,
};
/// The message Engine.IO uses for each error code.
std::string_view eio_error_message(eio_error e);
/// The JSON body of an Engine.IO error response.
std::string eio_error_body(eio_error e);

}  // namespace zuperior::ws
