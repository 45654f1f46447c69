#include "validate/body.hpp"

namespace zuperior::validate {

using json = nlohmann::json;

json error_body(const std::vector<field_error>& errors) {
  json list = json::array();
  for (const auto& e : errors) list.push_back({{"field", e.field}, {"message", e.message}});
  return {{"success", false}, {"message", "Validation error"}, {"errors", std::move(list)}};
}

std::string error_body_text(const std::vector<field_error>& errors) {
  return error_body(errors).dump(-1, ' ', false, json::error_handler_t::replace);
}

parsed_body parse_body(std::string_view text) {
  parsed_body r;
  // A cheap scan first: deep nesting costs the parser memory and a later recursive walk stack.
  std::size_t depth = 0;
  bool in_string = false, escaped = false, any = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') any = true;
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_json_depth) {
        r.error = "JSON nested too deeply";
        return r;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  if (!any) {
    r.error = "Request body is empty";
    return r;
  }
  r.value = json::parse(text.begin(), text.end(), nullptr, false);
  if (r.value.is_discarded()) {
    r.value = nullptr;
    r.error = "Malformed JSON body";
  }
  return r;
}

bool is_json_content_type(std::string_view ct) {
  auto semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  std::string lower(media);
  for (auto& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (lower == "application/json") return true;
  return lower.rfind("application/", 0) == 0 && lower.size() > 17 && lower.compare(lower.size() - 5, 5, "+json") == 0;
}

}  // namespace zuperior::validate
