#include "ws/sio_codec.hpp"

#include <charconv>
#include <cstdint>

namespace zuperior::ws {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_placeholder(const json& j) {
  if (!j.is_object() || j.size() != 2) return false;
  auto p = j.find("_placeholder");
  auto n = j.find("num");
  return p != j.end() && p->is_boolean() && p->get<bool>() && n != j.end() && n->is_number_unsigned();
}

// Replaces placeholders with the attachments; false on an out-of-range or duplicate reference.
bool reconstruct(json& j, std::vector<std::string>& attachments, std::vector<bool>& used) {
  if (is_placeholder(j)) {
    const auto num = j["num"].get<std::uint64_t>();
    if (num >= attachments.size() || used[num]) return false;
    used[num] = true;
    const auto& a = attachments[num];
    j = json::binary(json::binary_t::container_type(a.begin(), a.end()));
    return true;
  }
  if (j.is_array() || j.is_object()) {
    for (auto& child : j) {
      if (!reconstruct(child, attachments, used)) return false;
    }
  }
  return true;
}

bool contains_binary(const json& j) {
  if (j.is_binary()) return true;
  if (j.is_array() || j.is_object()) {
    for (const auto& child : j) {
      if (contains_binary(child)) return true;
    }
  }
  return false;
}

json deconstruct(const json& j, std::vector<std::string>& attachments) {
  if (j.is_binary()) {
    const auto& b = j.get_binary();
    json placeholder = json::object();
    placeholder["_placeholder"] = true;
    placeholder["num"] = attachments.size();
    attachments.emplace_back(b.begin(), b.end());
    return placeholder;
  }
  if (j.is_array()) {
    json out = json::array();
    for (const auto& child : j) out.push_back(deconstruct(child, attachments));
    return out;
  }
  if (j.is_object()) {
    json out = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) out[it.key()] = deconstruct(it.value(), attachments);
    return out;
  }
  return j;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void append_header(std::string& out, sio_type type, std::size_t attachments, const sio_packet& p) {
  out += static_cast<char>('0' + static_cast<int>(type));
  if (type == sio_type::binary_event || type == sio_type::binary_ack) {
    out += std::to_string(attachments);
    out += '-';
  }
  if (!p.nsp.empty() && p.nsp != "/") {
    out += p.nsp;
    out += ',';
  }
  if (p.id) out += std::to_string(*p.id);
}

}  // namespace

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code unit of the \uXXXX escape at s[i] ('\\' at i), or -1.
int escape_unit(std::string_view s, std::size_t i) {
  if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return -1;
  int v = 0;
  for (std::size_t k = i + 2; k < i + 6; ++k) {
    const int h = hex_value(s[k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

bool high_surrogate(int v) { return v >= 0xD800 && v <= 0xDBFF; }
bool low_surrogate(int v) { return v >= 0xDC00 && v <= 0xDFFF; }

// Calls lone(i) for each unpaired surrogate escape at s[i] inside the string that starts after the
// quote at s[start]; returns the index of the closing quote (or s.size()).
template <typename F>
std::size_t scan_string(std::string_view s, std::size_t start, F&& lone) {
  std::size_t i = start + 1;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') return i;
    if (c != '\\') {
      ++i;
      continue;
    }
    const int v = escape_unit(s, i);
    if (v < 0) {
      i += 2;  // any other escape (a bad one is the parser's to refuse)
    } else if (high_surrogate(v) && low_surrogate(escape_unit(s, i + 6))) {
      i += 12;
    } else {
      if (high_surrogate(v) || low_surrogate(v)) lone(i);
      i += 6;
    }
  }
  return s.size();
}

bool reserved_event(std::string_view name) {
  for (std::string_view r :
       {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"})
    if (name == r) return true;
  return false;
}

}  // namespace

json_shape measure_json(std::string_view s) {
  // Members are counted per open object on a small stack; levels past its end go uncounted, and
  // their depth alone already fails any sane limit.
  constexpr std::size_t tracked = 128;
  constexpr std::uint32_t array_level = UINT32_MAX;
  std::uint32_t counts[tracked];
  json_shape out;
  std::size_t depth = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') {
      i = scan_string(s, i, [&](std::size_t) { out.lone_surrogates = true; });
    } else if (c == '[' || c == '{') {
      if (depth < tracked) counts[depth] = c == '[' ? array_level : 0;
      ++depth;
      if (depth > out.depth) out.depth = depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == ':' && depth > 0 && depth <= tracked && counts[depth - 1] != array_level) {
      // Each member of an object has exactly one ':' outside strings at the object's own level.
      // The k-th key of an object is compared with the k-1 before it.
      out.member_cost += counts[depth - 1];
      if (++counts[depth - 1] > out.members) out.members = counts[depth - 1];
    }
  }
  return out;
}

std::string replace_lone_surrogates(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t copied = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '"') continue;
    i = scan_string(s, i, [&](std::size_t at) {
      out.append(s.substr(copied, at - copied));
      out += "\\uFFFD";
      copied = at + 6;
    });
  }
  out.append(s.substr(copied));
  return out;
}

nlohmann::ordered_json parse_bounded(std::string_view text, const json_bounds& b, json_refusal& why) {
  const json_shape shape = measure_json(text);
  why = shape.depth > b.max_depth                                                ? json_refusal::too_deep
        : shape.members > b.max_members || shape.member_cost > b.max_member_cost ? json_refusal::too_many_members
                                                                                 : json_refusal::none;
  if (why != json_refusal::none) return nlohmann::ordered_json(nlohmann::ordered_json::value_t::discarded);
  auto j = shape.lone_surrogates ? nlohmann::ordered_json::parse(replace_lone_surrogates(text), nullptr, false)
                                 : nlohmann::ordered_json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) why = json_refusal::bad_json;
  return j;
}

std::string_view sio_error_message(sio_error e) {
  switch (e) {
    case sio_error::empty:
      return "empty packet";
    case sio_error::bad_type:
      return "unknown packet type";
    case sio_error::bad_attachments:
      return "invalid attachment count";
    case sio_error::bad_namespace:
      return "invalid namespace";
    case sio_error::bad_id:
      return "invalid ack id";
    case sio_error::bad_json:
      return "invalid JSON payload";
    case sio_error::too_many_members:
      return "a JSON object with too many members";
    case sio_error::too_deep:
      return "payload nested too deeply";
    case sio_error::bad_payload:
      return "payload invalid for the packet type";
    case sio_error::bad_placeholder:
      return "invalid binary placeholder";
    case sio_error::unexpected_binary:
      return "binary frame without a binary packet";
    case sio_error::attachments_too_large:
      return "binary attachments larger than allowed";
  }
  return "invalid packet";
}

std::optional<sio_header> sio_parse_text(std::string_view s, const sio_limits& limits, sio_error* why) {
  auto fail = [&](sio_error e) -> std::optional<sio_header> {
    if (why) *why = e;
    return std::nullopt;
  };
  if (s.empty()) return fail(sio_error::empty);
  if (s[0] < '0' || s[0] > '6') return fail(sio_error::bad_type);
  sio_header h;
  h.packet.type = static_cast<sio_type>(s[0] - '0');
  std::size_t i = 1;
  if (h.packet.type == sio_type::binary_event || h.packet.type == sio_type::binary_ack) {
    const std::size_t start = i;
    while (i < s.size() && is_digit(s[i]) && i - start < 6) ++i;
    if (i == start || i >= s.size() || s[i] != '-') return fail(sio_error::bad_attachments);
    std::from_chars(s.data() + start, s.data() + i, h.attachments);
    if (h.attachments > limits.max_attachments) return fail(sio_error::bad_attachments);
    ++i;
  }
  if (i < s.size() && s[i] == '/') {
    const std::size_t comma = s.find(',', i);
    const std::size_t end = comma == std::string_view::npos ? s.size() : comma;
    if (end - i > limits.max_namespace) return fail(sio_error::bad_namespace);
    // A query string after the namespace ("/admin?x=1") is not part of its name.
    const std::string_view nsp = s.substr(i, end - i);
    h.packet.nsp = std::string(nsp.substr(0, nsp.find('?')));
    i = comma == std::string_view::npos ? s.size() : comma + 1;
  }
  if (i < s.size() && is_digit(s[i])) {
    const std::size_t start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i - start > 15) return fail(sio_error::bad_id);
    std::uint64_t id = 0;
    std::from_chars(s.data() + start, s.data() + i, id);
    h.packet.id = id;
  }
  if (i < s.size()) {
    const std::string_view payload = s.substr(i);
    json_refusal why;
    json j = parse_bounded(payload, limits.json, why);
    if (why == json_refusal::too_deep) return fail(sio_error::too_deep);
    if (why == json_refusal::too_many_members) return fail(sio_error::too_many_members);
    if (why != json_refusal::none) return fail(sio_error::bad_json);
    h.packet.data = std::move(j);
  }
  // The payload's shape is checked at once, binary packets included (their placeholders stand in
  // for the attachments): a header that cannot become a valid packet fails before any attachment.
  if (!sio_payload_valid(h.packet)) return fail(sio_error::bad_payload);
  return h;
}

bool sio_payload_valid(const sio_packet& p) {
  switch (p.type) {
    case sio_type::connect:
      return !p.has_data() || p.data.is_object();
    case sio_type::disconnect:
      return !p.has_data();
    case sio_type::event:
    case sio_type::binary_event:
      // The reference parser refuses the names its own sockets emit locally (and closes).
      return p.has_data() && p.data.is_array() && !p.data.empty() &&
             ((p.data[0].is_string() && !reserved_event(p.data[0].get_ref<const std::string&>())) ||
              p.data[0].is_number_integer());
    case sio_type::ack:
    case sio_type::binary_ack:
      return p.has_data() && p.data.is_array() && p.id.has_value();
    case sio_type::connect_error:
      return p.has_data() && (p.data.is_object() || p.data.is_string());
  }
  return false;
}

sio_decoder::status sio_decoder::feed_text(std::string_view text) {
  if (pending_) {
    // A text frame while attachments are awaited breaks the sequence.
    pending_.reset();
    attachments_.clear();
    attachment_bytes_ = 0;
    error_ = sio_error::bad_attachments;
    return status::error;
  }
  sio_error why = sio_error::empty;
  auto h = sio_parse_text(text, limits_, &why);
  if (!h) {
    error_ = why;
    return status::error;
  }
  if (h->attachments > 0) {
    pending_ = std::move(*h);
    attachments_.clear();
    attachment_bytes_ = 0;
    return status::need_more;
  }
  return finish(std::move(*h), {});
}

sio_decoder::status sio_decoder::feed_binary(std::string_view bytes) {
  if (!pending_) {
    error_ = sio_error::unexpected_binary;
    return status::error;
  }
  if (limits_.max_attachment_bytes && bytes.size() > limits_.max_attachment_bytes - attachment_bytes_) {
    pending_.reset();
    attachments_.clear();
    attachment_bytes_ = 0;
    error_ = sio_error::attachments_too_large;
    return status::error;
  }
  attachment_bytes_ += bytes.size();
  attachments_.emplace_back(bytes);
  if (attachments_.size() < pending_->attachments) return status::need_more;
  sio_header h = std::move(*pending_);
  pending_.reset();
  return finish(std::move(h), std::move(attachments_));
}

sio_decoder::status sio_decoder::finish(sio_header h, std::vector<std::string> attachments) {
  attachments_.clear();
  attachment_bytes_ = 0;
  if (h.packet.type == sio_type::binary_event || h.packet.type == sio_type::binary_ack) {
    if (!h.packet.has_data()) {
      error_ = sio_error::bad_payload;
      return status::error;
    }
    std::vector<bool> used(attachments.size(), false);
    if (!reconstruct(h.packet.data, attachments, used)) {
      error_ = sio_error::bad_placeholder;
      return status::error;
    }
    for (bool u : used) {
      if (!u) {
        error_ = sio_error::bad_placeholder;
        return status::error;
      }
    }
    // Applications see plain EVENT/ACK; binary is a wire detail.
    h.packet.type = h.packet.type == sio_type::binary_event ? sio_type::event : sio_type::ack;
  }
  if (!sio_payload_valid(h.packet)) {
    error_ = sio_error::bad_payload;
    return status::error;
  }
  done_ = std::move(h.packet);
  return status::packet;
}

sio_frames sio_encode(const sio_packet& p) {
  sio_frames out;
  if (p.has_data() && contains_binary(p.data)) {
    json stripped = deconstruct(p.data, out.attachments);
    sio_type type = p.type;
    if (type == sio_type::event) type = sio_type::binary_event;
    if (type == sio_type::ack) type = sio_type::binary_ack;
    append_header(out.text, type, out.attachments.size(), p);
    out.text += dump(stripped);
    return out;
  }
  out.text = sio_encode_text(p);
  return out;
}

std::string sio_encode_text(const sio_packet& p) {
  std::string out;
  append_header(out, p.type, 0, p);
  if (p.has_data()) out += dump(p.data);
  return out;
}

std::string sio_to_namespace(std::string_view frame, std::string_view nsp) {
  // "4" (Engine.IO message), the packet type, then for binary packets "<n>-": the namespace follows.
  std::size_t at = 2;
  if (frame.size() < 2 || frame[0] != '4' || frame[1] < '0' || frame[1] > '6' || nsp.empty() || nsp == "/")
    return std::string(frame);
  if (frame[1] == '5' || frame[1] == '6') {
    while (at < frame.size() && frame[at] >= '0' && frame[at] <= '9') ++at;
    if (at == 2 || at >= frame.size() || frame[at] != '-') return std::string(frame);
    ++at;
  }
  if (at < frame.size() && frame[at] == '/') return std::string(frame);
  std::string out;
  out.reserve(frame.size() + nsp.size() + 1);
  out.append(frame.substr(0, at));
  out.append(nsp);
  // A packet with nothing after the namespace (a bare CONNECT or DISCONNECT) needs no comma.
  if (at < frame.size()) out += ',';
  out.append(frame.substr(at));
  return out;
}

}  // namespace zuperior::ws
