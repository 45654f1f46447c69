#include "core/redact.hpp"

#include <regex>

namespace zuperior::core {

std::string redact_url(std::string_view text) {
  // scheme://user:password@ — the password runs to the last '@' before the host part.
  static const std::regex userinfo(R"(([A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):([^\s]*)@)");
  std::string out;
  std::string s(text);
  std::smatch m;
  auto begin = s.cbegin();
  while (std::regex_search(begin, s.cend(), m, userinfo)) {
    out.append(begin, m[0].first);
    out += m[1].str();
    out += ":***@";
    begin = m[0].second;
  }
  out.append(begin, s.cend());
  // Passwords given as query parameters or key=value conninfo.
  static const std::regex param(R"(((?:^|[?&\s])(?:password|pass|pwd)=)([^&\s]*))", std::regex::icase);
  return std::regex_replace(out, param, "$1***");
}

std::string redact_text(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out(text);
  for (const auto& secret : secrets) {
    if (secret.size() < 4) continue;  // too short to replace without mangling ordinary text
    for (size_t pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos)) {
      out.replace(pos, secret.size(), redacted);
      pos += redacted.size();
    }
  }
  out = redact_url(out);
  static const std::regex bearer(R"((Bearer\s+)[A-Za-z0-9\-._~+/]+=*)", std::regex::icase);
  out = std::regex_replace(out, bearer, "$1***");
  static const std::regex jwt(R"(eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*)");
  return std::regex_replace(out, jwt, "<jwt>");
}

}  // namespace zuperior::core
