#include "validate/schema.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>

namespace zuperior::validate {

using json = nlohmann::json;

namespace {

// zod's number formatting in messages: integers without a fraction, others as JavaScript prints them.
std::string js_number(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  std::string s = std::to_string(v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// zod v3's email regex, written out:
// ^(?!\.)(?!.*\.\.)([A-Z0-9_'+\-\.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$/i
bool zod_email(std::string_view s) {
  // Not in zod's regex: RFC 5321 caps an address at 254 octets. Without the cap a 60 KB "address"
  // passed, was stored, and its token overflowed the Set-Cookie header (Beast's 64 KB field limit:
  // a 500 after the row was written).
  if (s.size() > max_email_length) return false;
  const auto at = s.find('@');
  if (at == std::string_view::npos || at == 0) return false;
  const std::string_view local = s.substr(0, at), domain = s.substr(at + 1);
  if (local.front() == '.' || s.find("..") != std::string_view::npos) return false;
  for (char c : local)
    if (!(alnum(c) || c == '_' || c == '\'' || c == '+' || c == '-' || c == '.')) return false;
  const char last = local.back();
  if (!(alnum(last) || last == '_' || last == '+' || last == '-')) return false;
  // domain: one or more labels "[A-Z0-9][A-Z0-9-]*." then a TLD of 2+ letters
  const auto dot = domain.rfind('.');
  if (dot == std::string_view::npos) return false;
  const std::string_view tld = domain.substr(dot + 1);
  if (tld.size() < 2) return false;
  for (char c : tld)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  std::string_view labels = domain.substr(0, dot + 1);
  while (!labels.empty()) {
    const auto d = labels.find('.');
    const std::string_view label = labels.substr(0, d);
    if (label.empty() || !alnum(label.front())) return false;
    for (char c : label)
      if (!(alnum(c) || c == '-')) return false;
    labels = labels.substr(d + 1);
  }
  return true;
}

}  // namespace

std::size_t utf16_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;  // a lead byte starts a code point
    if (c >= 0xF0) ++n;           // outside the BMP: a surrogate pair in UTF-16
  }
  return n;
}

std::string_view json_type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number";
    default:
      return "unknown";
  }
}

field field::string() { return field(field_type::string); }
field field::number() { return field(field_type::number); }
field field::integer() { return field(field_type::integer); }
field field::boolean() { return field(field_type::boolean); }

field field::email(std::string message) {
  field f(field_type::email);
  f.email_message_ = std::move(message);
  return f;
}

field field::enumeration(std::vector<std::string> values) {
  field f(field_type::enumeration);
  f.values_ = std::move(values);
  return f;
}

field& field::optional() {
  optional_ = true;
  return *this;
}

field& field::min_length(std::size_t n, std::string message) {
  if (message.empty()) message = "String must contain at least " + std::to_string(n) + " character(s)";
  string_checks_.push_back({[n](std::string_view s) { return utf16_length(s) >= n; }, std::move(message)});
  return *this;
}

field& field::max_length(std::size_t n, std::string message) {
  if (message.empty()) message = "String must contain at most " + std::to_string(n) + " character(s)";
  string_checks_.push_back({[n](std::string_view s) { return utf16_length(s) <= n; }, std::move(message)});
  return *this;
}

field& field::min(double v, std::string message) {
  if (message.empty()) message = "Number must be greater than or equal to " + js_number(v);
  number_checks_.push_back({number_check::ge, v, std::move(message)});
  return *this;
}

field& field::max(double v, std::string message) {
  if (message.empty()) message = "Number must be less than or equal to " + js_number(v);
  number_checks_.push_back({number_check::le, v, std::move(message)});
  return *this;
}

field& field::positive(std::string message) {
  if (message.empty()) message = "Number must be greater than 0";
  number_checks_.push_back({number_check::gt, 0, std::move(message)});
  return *this;
}

field& field::pattern(const std::string& ecmascript_regex, std::string message) {
  auto re = std::make_shared<const std::regex>(ecmascript_regex, std::regex::ECMAScript | std::regex::optimize);
  string_checks_.push_back({[re](std::string_view s) {
                              if (s.size() > max_pattern_input) return false;
                              return std::regex_search(s.begin(), s.end(), *re);
                            },
                            std::move(message)});
  return *this;
}

field& field::check(std::function<bool(std::string_view)> pred, std::string message) {
  string_checks_.push_back({std::move(pred), std::move(message)});
  return *this;
}

field& field::custom(std::function<std::optional<std::string>(const json&)> rule) {
  custom_.push_back(std::move(rule));
  return *this;
}

void field::validate(const std::string& name, const json* value, std::vector<field_error>& out) const {
  if (!value) {
    if (!optional_) out.push_back({name, "Required"});
    return;
  }
  const json& v = *value;
  auto expected = [&](std::string_view what) {
    out.push_back({name, "Expected " + std::string(what) + ", received " + std::string(json_type_name(v))});
  };
  switch (type_) {
    case field_type::string:
    case field_type::email:
      if (!v.is_string()) return expected("string");
      break;
    case field_type::number:
      if (!v.is_number()) return expected("number");
      break;
    case field_type::integer:
      if (!v.is_number()) return expected("number");
      if (v.is_number_float() && std::floor(v.get<double>()) != v.get<double>())
        return out.push_back({name, "Expected integer, received float"});
      break;
    case field_type::boolean:
      if (!v.is_boolean()) return expected("boolean");
      break;
    case field_type::enumeration: {
      std::string list;
      for (const auto& e : values_) list += (list.empty() ? "'" : " | '") + e + "'";
      if (!v.is_string())
        return out.push_back({name, "Expected " + list + ", received " + std::string(json_type_name(v))});
      const auto& s = v.get_ref<const std::string&>();
      if (std::find(values_.begin(), values_.end(), s) == values_.end())
        return out.push_back({name, "Invalid enum value. Expected " + list + ", received '" + s + "'"});
      break;
    }
  }
  // Like zod, every failing check of a field is reported, not only the first.
  if (v.is_string()) {
    const std::string_view s = v.get_ref<const std::string&>();
    if (type_ == field_type::email && !zod_email(s)) out.push_back({name, email_message_});
    for (const auto& c : string_checks_)
      if (!c.pred(s)) out.push_back({name, c.message});
  } else if (v.is_number()) {
    const double d = v.get<double>();
    for (const auto& c : number_checks_) {
      const bool ok = c.op == number_check::ge ? d >= c.bound : c.op == number_check::gt ? d > c.bound : d <= c.bound;
      if (!ok) out.push_back({name, c.message});
    }
  }
  for (const auto& rule : custom_)
    if (auto m = rule(v)) out.push_back({name, std::move(*m)});
}

schema& schema::add(std::string name, field f) {
  for (auto& [n, existing] : fields_) {
    if (n == name) {
      existing = std::move(f);
      return *this;
    }
  }
  fields_.emplace_back(std::move(name), std::move(f));
  return *this;
}

std::vector<field_error> schema::validate(const json& body) const {
  json ignored;
  return validate(body, ignored);
}

std::vector<field_error> schema::validate(const json& body, json& out) const {
  std::vector<field_error> errors;
  if (!body.is_object()) {
    errors.push_back({"", "Expected object, received " + std::string(json_type_name(body))});
    return errors;
  }
  json data = json::object();
  for (const auto& [name, f] : fields_) {
    auto it = body.find(name);
    const json* v = it == body.end() ? nullptr : &*it;
    f.validate(name, v, errors);
    if (v) data[name] = *v;
  }
  if (errors.empty()) out = std::move(data);
  return errors;
}

}  // namespace zuperior::validate
