#pragma once
#include <cstddef>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zuperior::validate {

/// One problem with one field; `field` is the JSON key ("" for the body itself).
struct field_error {
  std::string field;
  std::string message;
  bool operator==(const field_error&) const = default;
};

/// The declared type of a field.
enum class field_type { string, number, integer, boolean, email, enumeration };

/// One field's rules, built fluently: `field::string().min_length(8, "…").max_length(15, "…")`.
/// Default messages are zod's (v3), so clients of the seed application see the same texts.
class field {
 public:
  /// A JSON string.
  static field string();
  /// A JSON number (integer or not).
  static field number();
  /// A JSON number with no fractional part.
  static field integer();
  /// true or false.
  static field boolean();
  /// A string that is an e-mail address (zod's rules: local@domain.tld, no "..", no leading dot).
  static field email(std::string message = "Invalid email");
  /// A string equal to one of `values`.
  static field enumeration(std::vector<std::string> values);

  /// The field may be absent (but not null, as in zod).
  field& optional();
  /// Minimum length in UTF-16 code units (as JavaScript counts).
  field& min_length(std::size_t n, std::string message = {});
  /// Maximum length in UTF-16 code units.
  field& max_length(std::size_t n, std::string message = {});
  /// Inclusive lower bound for numbers.
  field& min(double v, std::string message = {});
  /// Inclusive upper bound for numbers.
  field& max(double v, std::string message = {});
  /// Strictly greater than zero.
  field& positive(std::string message = {});
  /// The string must contain a match of `ecmascript_regex` (checked only up to max_pattern_input bytes;
  /// longer input fails the check rather than risk the regex engine's recursion).
  field& pattern(const std::string& ecmascript_regex, std::string message = "Invalid");
  /// The string must satisfy `pred` (cheaper and safer than a regex for character-class tests).
  field& check(std::function<bool(std::string_view)> pred, std::string message);
  /// Any extra rule on the JSON value (run only when the type is right); returns an error message or nothing.
  field& custom(std::function<std::optional<std::string>(const nlohmann::json&)> rule);

  /// Whether the field may be absent.
  bool is_optional() const { return optional_; }
  /// The declared type.
  field_type type() const { return type_; }
  /// Appends every problem `value` has (nullptr = absent) under the name `name`.
  void validate(const std::string& name, const nlohmann::json* value, std::vector<field_error>& out) const;

 private:
  struct string_check {
    std::function<bool(std::string_view)> pred;
    std::string message;
  };
  struct number_check {
    enum { ge, gt, le } op;
    double bound;
    std::string message;
  };
  explicit field(field_type t) : type_(t) {}

  field_type type_;
  bool optional_ = false;
  std::string email_message_;
  std::vector<std::string> values_;
  std::vector<string_check> string_checks_;
  std::vector<number_check> number_checks_;
  std::vector<std::function<std::optional<std::string>(const nlohmann::json&)>> custom_;
};

/// Inputs longer than this never reach a regex (fail the pattern check instead).
inline constexpr std::size_t max_pattern_input = 4096;

/// An object schema: named fields in declaration order; unknown keys are ignored (zod's default strip).
class schema {
 public:
  /// Adds a field (later additions with the same name replace earlier ones).
  schema& add(std::string name, field f);
  /// Checks `body` and returns every error at once, fields in declaration order and each field's
  /// checks in the order they were declared.
  std::vector<field_error> validate(const nlohmann::json& body) const;
  /// Like validate(), and on success stores in `out` an object with only the declared fields present in `body`.
  std::vector<field_error> validate(const nlohmann::json& body, nlohmann::json& out) const;
  /// The declared fields.
  const std::vector<std::pair<std::string, field>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, field>> fields_;
};

/// zod's name for a JSON value's type in "Expected string, received number".
std::string_view json_type_name(const nlohmann::json& v);

/// The longest e-mail address field::email accepts (RFC 5321's 254 octets; zod itself has no cap).
inline constexpr std::size_t max_email_length = 254;

/// Length in UTF-16 code units of UTF-8 text (what JavaScript's String.length reports).
std::size_t utf16_length(std::string_view utf8);

}  // namespace zuperior::validate
