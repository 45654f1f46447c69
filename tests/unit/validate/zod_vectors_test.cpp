#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "validate/body.hpp"
#include "validate/seed_schemas.hpp"

using namespace zuperior::validate;
using json = nlohmann::json;

namespace {

// Produced by zod 3 (npm) running the seed's exact schemas: [schema, body, errors].
const char* zod_vectors = R"ZOD(
["login",{},[{"field":"email","message":"Required"},{"field":"password","message":"Required"}]]
["login",{"email":"x","password":"short"},[{"field":"email","message":"Invalid email address"},{"field":"password","message":"Password must be at least 8 characters"}]]
["login",{"email":5,"password":null},[{"field":"email","message":"Expected string, received number"},{"field":"password","message":"Expected string, received null"}]]
["login",[],[{"field":"","message":"Expected object, received array"}]]
["login",{"email":"a@b.co","password":"longenough"},[]]
["register",{"email":"a@b.co","password":"abc"},[{"field":"password","message":"Password must be at least 8 characters"},{"field":"password","message":"Password must contain at least one uppercase letter"},{"field":"password","message":"Password must contain at least one number"},{"field":"password","message":"Password must contain at least one special character"}]]
["register",{"email":"a@b.co","password":"abcdefghijklmnopq"},[{"field":"password","message":"Password must be at most 15 characters"},{"field":"password","message":"Password must contain at least one uppercase letter"},{"field":"password","message":"Password must contain at least one number"},{"field":"password","message":"Password must contain at least one special character"}]]
["register",{"email":"a@b.co","password":"Abcdef1!","name":"","phone":"0123"},[{"field":"name","message":"String must contain at least 1 character(s)"},{"field":"phone","message":"Invalid"}]]
["register",{"email":"a@b.co","password":"Abcdef1!","name":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","phone":"+441234567890"},[{"field":"name","message":"String must contain at most 100 character(s)"}]]
["register",{"email":"a..b@c.com","password":"Abcdef1!"},[{"field":"email","message":"Invalid email address"}]]
["register",{"email":".a@c.com","password":"Abcdef1!"},[{"field":"email","message":"Invalid email address"}]]
["register",{"email":"a.@c.com","password":"Abcdef1!"},[{"field":"email","message":"Invalid email address"}]]
["register",{"email":"a@c","password":"Abcdef1!"},[{"field":"email","message":"Invalid email address"}]]
["register",{"email":"a@-c.com","password":"Abcdef1!"},[{"field":"email","message":"Invalid email address"}]]
["register",{"email":"o'k+tag@sub.example.org","password":"Abcdef1!"},[]]
["register",{"email":"a@c.c0m","password":"Abcdef1!"},[{"field":"email","message":"Invalid email address"}]]
["register",{"email":"Ab1!😀😀😀😀😀😀","password":"Ab1!😀😀😀😀😀😀"},[{"field":"email","message":"Invalid email address"},{"field":"password","message":"Password must be at most 15 characters"}]]
["order",{},[{"field":"symbol","message":"Required"},{"field":"side","message":"Required"},{"field":"volume","message":"Required"},{"field":"orderType","message":"Required"},{"field":"accountId","message":"Required"}]]
["order",{"symbol":"","side":"hold","volume":0,"orderType":5,"price":-1,"stopLoss":0,"takeProfit":"1","accountId":""},[{"field":"symbol","message":"Symbol is required"},{"field":"side","message":"Invalid enum value. Expected 'buy' | 'sell', received 'hold'"},{"field":"volume","message":"Volume must be positive"},{"field":"orderType","message":"Expected 'market' | 'limit' | 'stop', received number"},{"field":"price","message":"Number must be greater than 0"},{"field":"stopLoss","message":"Number must be greater than 0"},{"field":"takeProfit","message":"Expected number, received string"},{"field":"accountId","message":"Account ID is required"}]]
["order",{"symbol":"EURUSD","side":"buy","volume":0.5,"orderType":"limit","price":1.1,"accountId":"acc1","extra":1},[]]
["order",{"symbol":"EURUSD","side":null,"volume":"1","orderType":"market","accountId":7},[{"field":"side","message":"Expected 'buy' | 'sell', received null"},{"field":"volume","message":"Expected number, received string"},{"field":"accountId","message":"Expected string, received number"}]]
)ZOD";

const schema& by_name(const std::string& n) {
  if (n == "login") return login_schema();
  if (n == "register") return register_schema();
  return order_schema();
}

}  // namespace

TEST_CASE("the seed schemas give zod's errors, every one at once, in zod's order") {
  std::istringstream in(zod_vectors);
  int cases = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const json v = json::parse(line);
    INFO(line);
    std::vector<field_error> expected;
    for (const auto& e : v[2]) expected.push_back({e["field"], e["message"]});
    CHECK(by_name(v[0]).validate(v[1]) == expected);
    ++cases;
  }
  CHECK(cases == 21);
}
