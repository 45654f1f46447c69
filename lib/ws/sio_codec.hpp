#pragma once
// Socket.IO v5 packets carried in Engine.IO message packets: type digit, attachment count for
// binary packets ("<n>-"), namespace ("/nsp,"), ack id (digits) and a JSON payload, with binary
// attachments replaced by {"_placeholder":true,"num":i} placeholders and sent as separate binary
// Engine.IO messages. Binary values are nlohmann::ordered_json binary values. Pure code: no I/O.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::ws {

using json = nlohmann::ordered_json;

/// Socket.IO packet types.
enum class sio_type : std::uint8_t {
  connect = 0,
  disconnect = 1,
  event = 2,
  ack = 3,
  connect_error = 4,
  binary_event = 5,
  binary_ack = 6,
};

/// One Socket.IO packet; `data` is discarded (is_discarded()) when the packet has no payload.
struct sio_packet {
  sio_type type = sio_type::event;
  std::string nsp = "/";
  std::optional<std::uint64_t> id;
  json data = json(json::value_t::discarded);
  /// True when the packet carries a payload.
  bool has_data() const { return !data.is_discarded(); }
};

/// Why a Socket.IO packet was refused.
enum class sio_error {
  empty,
  bad_type,
  bad_attachments,
  bad_namespace,
  bad_id,
  bad_json,
  too_deep,
  too_many_members,
  bad_payload,
  bad_placeholder,
  unexpected_binary,
  attachments_too_large,
};
/// A short description of the error (for logs).
std::string_view sio_error_message(sio_error e);

/// What a JSON text would cost to parse, read without parsing it (one linear pass, outside
/// strings): checked before a parser, or a dump of what it parsed, meets untrusted input.
struct json_shape {
  std::size_t depth = 0;         // deepest nesting of arrays and objects
  std::size_t members = 0;       // most members of any one object: an ordered_json object inserts a
                                 // key by comparing it with every key before it (n²/2 for n keys)
  bool lone_surrogates = false;  // a \uD800-\uDFFF escape without its pair (see below)
  std::size_t member_cost = 0;   // key comparisons of all objects together: the sum of n²/2
};
json_shape measure_json(std::string_view s);
/// The text with every unpaired surrogate escape (a "\uD83D" without its low half, as JavaScript's
/// JSON.stringify writes half an emoji) replaced by \uFFFD: JSON.parse accepts such a string and
/// nlohmann's parser refuses the whole text.
std::string replace_lone_surrogates(std::string_view s);

/// What an untrusted JSON text may cost to parse.
struct json_bounds {
  std::size_t max_depth = 64;
  std::size_t max_members = 1000;           // members of one object
  std::size_t max_member_cost = 4'000'000;  // all objects' key comparisons (a few ms at most)
};
/// Why parse_bounded refused a text.
enum class json_refusal { none, too_deep, too_many_members, bad_json };
/// Parses `text` after measure_json() found it within `b` (unpaired surrogates read as U+FFFD);
/// a discarded value and `why` set when it is not.
nlohmann::ordered_json parse_bounded(std::string_view text, const json_bounds& b, json_refusal& why);

/// Limits applied while decoding untrusted input.
struct sio_limits {
  std::size_t max_attachments = 64;
  json_bounds json;  // of each payload
  std::size_t max_namespace = 256;
  // Bytes of all the attachments of one packet together (0 = no cap). Without it a client could
  // park max_attachments frames of max_payload each (64 MB) in a session by never sending the last.
  std::size_t max_attachment_bytes = 1'000'000;
};

/// The header and payload of a text packet, before binary attachments are put back.
struct sio_header {
  sio_packet packet;
  std::size_t attachments = 0;
};

/// Parses a text packet; attachments still appear as placeholders.
std::optional<sio_header> sio_parse_text(std::string_view text, const sio_limits& limits, sio_error* why = nullptr);

/// Assembles packets from a text frame followed by its binary attachments, one frame at a time.
class sio_decoder {
 public:
  explicit sio_decoder(sio_limits limits = {}) : limits_(limits) {}
  /// Result of feeding one frame.
  enum class status { need_more, packet, error };
  /// Feeds a text frame (Engine.IO message without its "4").
  status feed_text(std::string_view text);
  /// Feeds a binary frame (an attachment).
  status feed_binary(std::string_view bytes);
  /// The packet completed by the last feed_* that returned status::packet.
  sio_packet take() { return std::move(done_); }
  /// The reason of the last status::error.
  sio_error error() const { return error_; }
  /// True while attachments of a binary packet are awaited.
  bool awaiting_attachments() const { return pending_.has_value(); }

 private:
  status finish(sio_header h, std::vector<std::string> attachments);
  sio_limits limits_;
  std::optional<sio_header> pending_;
  std::vector<std::string> attachments_;
  std::size_t attachment_bytes_ = 0;  // in attachments_
  sio_packet done_;
  sio_error error_ = sio_error::empty;
};

/// A packet encoded for the wire: the text frame and then the binary attachments in order.
struct sio_frames {
  std::string text;
  std::vector<std::string> attachments;
};

/// Encodes a packet; binary values inside `data` become placeholders and attachments, and the type
/// switches to binary_event/binary_ack accordingly.
sio_frames sio_encode(const sio_packet& p);
/// Encodes a packet known to hold no binary values into its text form (fast path for broadcasts).
std::string sio_encode_text(const sio_packet& p);

/// An Engine.IO message frame holding a Socket.IO text packet of the default namespace ("42[...]",
/// as broadcasts are encoded) addressed to namespace `nsp` instead ("42/admin,[...]"). A frame that
/// already names a namespace, or that is not a Socket.IO packet, comes back unchanged.
std::string sio_to_namespace(std::string_view frame, std::string_view nsp);

/// True when `data` (a whole decoded packet's payload) is valid for the packet type.
bool sio_payload_valid(const sio_packet& p);

}  // namespace zuperior::ws
