#pragma once
// Message framing checks that Beast leaves to the server (RFC 9112 6), kept out of message.hpp so
// that most of the tree does not recompile for them.
#include <string_view>

namespace zuperior::http {

/// What a request's Transfer-Encoding says about its body (RFC 9112 6.1).
enum class transfer_coding {
  chunked,      // exactly "chunked", which Beast decodes
  bad,          // chunked is not the last coding, or is applied twice: the body's length is unknown (400, close)
  unsupported,  // a coding before chunked that we do not decode, such as gzip (501, close)
};

/// Classifies the comma-separated list of all Transfer-Encoding values of a request that has the
/// field, in order (an empty value is `bad`).
inline transfer_coding classify_transfer_encoding(std::string_view list) {
  const auto lower_equals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char c = a[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != b[i]) return false;
    }
    return true;
  };
  std::size_t codings = 0, chunked = 0;
  bool last_chunked = false;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.empty()) continue;  // "a, , b": empty list elements are allowed and ignored
    ++codings;
    last_chunked = lower_equals(item, "chunked");  // "chunked;x=1" is some other, unknown coding
    if (last_chunked) ++chunked;
  }
  if (!last_chunked || chunked > 1) return transfer_coding::bad;
  return codings == 1 ? transfer_coding::chunked : transfer_coding::unsupported;
}

}  // namespace zuperior::http
