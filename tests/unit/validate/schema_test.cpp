#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "validate/body.hpp"
#include "validate/schema.hpp"
#include "validate/seed_schemas.hpp"

using namespace zuperior::validate;
using json = nlohmann::json;

TEST_CASE("valid bodies pass and keep only declared fields") {
  json out;
  auto errors = order_schema().validate(json{{"symbol", "EURUSD"},
                                             {"side", "sell"},
                                             {"volume", 2},
                                             {"orderType", "market"},
                                             {"accountId", "a"},
                                             {"isAdmin", true}},
                                        out);
  CHECK(errors.empty());
  CHECK(out.size() == 5);
  CHECK_FALSE(out.contains("isAdmin"));
  CHECK(out["volume"] == 2);
}

TEST_CASE("integer, boolean, min/max, pattern and custom rules") {
  schema s;
  s.add("n", field::integer().min(1).max(10))
      .add("b", field::boolean().optional())
      .add("code", field::string().pattern("^[A-Z]{3}$", "Three capitals").optional())
      .add("even", field::integer().custom([](const json& v) -> std::optional<std::string> {
        if (v.get<long long>() % 2) return "Must be even";
        return std::nullopt;
      }));
  CHECK(s.validate(json{{"n", 5}, {"even", 4}}).empty());
  CHECK(s.validate(json{{"n", 5.5}, {"even", 4}}) ==
        std::vector<field_error>{{"n", "Expected integer, received float"}});
  CHECK(s.validate(json{{"n", 5.0}, {"even", 4}}).empty());
  CHECK(s.validate(json{{"n", 0}, {"even", 3}}) ==
        std::vector<field_error>{{"n", "Number must be greater than or equal to 1"}, {"even", "Must be even"}});
  CHECK(s.validate(json{{"n", 11}, {"even", 2}, {"b", "yes"}, {"code", "abc"}}) ==
        std::vector<field_error>{{"n", "Number must be less than or equal to 10"},
                                 {"b", "Expected boolean, received string"},
                                 {"code", "Three capitals"}});
  CHECK(s.validate(json{{"n", 1}, {"even", 2}, {"code", "ABC"}}).empty());
  CHECK(s.validate(json{{"n", 1}, {"even", 2}, {"code", std::string(max_pattern_input + 1, 'A')}}) ==
        std::vector<field_error>{{"code", "Three capitals"}});
}

TEST_CASE("e-mail addresses longer than 254 octets are invalid (a 60 KB one once became a 500)") {
  const std::string domain = "@example.com";
  const std::string fits = std::string(max_email_length - domain.size(), 'a') + domain;
  CHECK(login_schema().validate(json{{"email", fits}, {"password", "longenough"}}).empty());
  CHECK(login_schema().validate(json{{"email", "a" + fits}, {"password", "longenough"}}) ==
        std::vector<field_error>{{"email", "Invalid email address"}});
  CHECK(register_schema().validate(json{{"email", std::string(60000, 'a') + domain}, {"password", "Abcdef1!"}}) ==
        std::vector<field_error>{{"email", "Invalid email address"}});
}

TEST_CASE("optional means absent, not null") {
  CHECK(register_schema().validate(json{{"email", "a@b.co"}, {"password", "Abcdef1!"}, {"name", nullptr}}) ==
        std::vector<field_error>{{"name", "Expected string, received null"}});
}

TEST_CASE("bodies that are not objects get one error for the body") {
  for (const json& body : {json(nullptr), json(1), json("x"), json::array(), json(true)}) {
    auto e = login_schema().validate(body);
    REQUIRE(e.size() == 1);
    CHECK(e[0].field.empty());
    CHECK(e[0].message.rfind("Expected object, received ", 0) == 0);
  }
}

TEST_CASE("string lengths count as JavaScript does") {
  CHECK(utf16_length("abc") == 3);
  CHECK(utf16_length("\xc3\xa9") == 1);          // é
  CHECK(utf16_length("\xe2\x82\xac") == 1);      // €
  CHECK(utf16_length("\xf0\x9f\x98\x80") == 2);  // 😀 is a surrogate pair
}

TEST_CASE("the error body has the seed's shape") {
  const auto b = error_body({{"email", "Invalid email address"}, {"password", "Required"}});
  CHECK(b == json::parse(R"({"success":false,"message":"Validation error","errors":[
        {"field":"email","message":"Invalid email address"},{"field":"password","message":"Required"}]})"));
  CHECK(json::parse(error_body_text({{"f", "m\xff"}}))["errors"][0]["field"] == "f");
}

TEST_CASE("parse_body refuses malformed, empty and deeply nested JSON") {
  CHECK(parse_body(R"({"a":1})"));
  CHECK(parse_body(R"({"a":"[[[[{{{{"})"));  // brackets inside strings do not count
  CHECK(parse_body("[1,2]").value.is_array());
  CHECK(parse_body("{").error == "Malformed JSON body");
  CHECK(parse_body("{'a':1}").error == "Malformed JSON body");
  CHECK(parse_body(R"({"a":1} trailing)").error == "Malformed JSON body");
  CHECK(parse_body("\"\xff\"").error == "Malformed JSON body");  // invalid UTF-8
  CHECK(parse_body("").error == "Request body is empty");
  CHECK(parse_body(" \n").error == "Request body is empty");
  CHECK(parse_body(std::string(max_json_depth, '[') + std::string(max_json_depth, ']')));
  CHECK(parse_body(std::string(max_json_depth + 1, '[') + std::string(max_json_depth + 1, ']')).error ==
        "JSON nested too deeply");
  CHECK_FALSE(parse_body(std::string(1'000'000, '[')));
}

TEST_CASE("JSON content types") {
  CHECK(is_json_content_type("application/json"));
  CHECK(is_json_content_type("Application/JSON; charset=utf-8"));
  CHECK(is_json_content_type(" application/json ;charset=UTF-8"));
  CHECK(is_json_content_type("application/merge-patch+json"));
  CHECK_FALSE(is_json_content_type("text/plain"));
  CHECK_FALSE(is_json_content_type("application/x-www-form-urlencoded"));
  CHECK_FALSE(is_json_content_type(""));
  CHECK_FALSE(is_json_content_type("application/+json"));
  CHECK_FALSE(is_json_content_type("application/jsonx"));
}
