#include "validate/seed_schemas.hpp"

#include <string_view>

namespace zuperior::validate {

namespace {

bool has_any(std::string_view s, bool (*pred)(char)) {
  for (char c : s)
    if (pred(c)) return true;
  return false;
}

// /^\+?[1-9]\d{1,14}$/ without a regex engine.
bool phone(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.size() < 2 || s.size() > 15 || s.front() < '1' || s.front() > '9') return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

const schema& login_schema() {
  static const schema s = schema()
                              .add("email", field::email("Invalid email address"))
                              .add("password", field::string().min_length(8, "Password must be at least 8 characters"));
  return s;
}

const schema& register_schema() {
  // The seed's regexes are single character classes; predicates give the same answers without std::regex.
  static const schema s =
      schema()
          .add("email", field::email("Invalid email address"))
          .add("password",
               field::string()
                   .min_length(8, "Password must be at least 8 characters")
                   .max_length(15, "Password must be at most 15 characters")
                   .check([](std::string_view v) { return has_any(v, [](char c) { return c >= 'A' && c <= 'Z'; }); },
                          "Password must contain at least one uppercase letter")
                   .check([](std::string_view v) { return has_any(v, [](char c) { return c >= 'a' && c <= 'z'; }); },
                          "Password must contain at least one lowercase letter")
                   .check([](std::string_view v) { return has_any(v, [](char c) { return c >= '0' && c <= '9'; }); },
                          "Password must contain at least one number")
                   .check(
                       [](std::string_view v) {
                         return v.find_first_of(R"(!@#$%^&*(),.?":{}|<>)") != std::string_view::npos;
                       },
                       "Password must contain at least one special character"))
          .add("name", field::string().min_length(1).max_length(100).optional())
          .add("phone", field::string().check(phone, "Invalid").optional());
  return s;
}

const schema& order_schema() {
  static const schema s = schema()
                              .add("symbol", field::string().min_length(1, "Symbol is required"))
                              .add("side", field::enumeration({"buy", "sell"}))
                              .add("volume", field::number().positive("Volume must be positive"))
                              .add("orderType", field::enumeration({"market", "limit", "stop"}))
                              .add("price", field::number().positive().optional())
                              .add("stopLoss", field::number().positive().optional())
                              .add("takeProfit", field::number().positive().optional())
                              .add("accountId", field::string().min_length(1, "Account ID is required"));
  return s;
}

}  // namespace zuperior::validate
