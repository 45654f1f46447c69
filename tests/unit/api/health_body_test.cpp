// /apis/health's body: valid JSON whatever bytes a dependency's error message holds.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "api/routes.hpp"
#include "health/checker.hpp"

using namespace std::chrono_literals;

TEST_CASE("health body: an error message that is not UTF-8 (a Latin-1 PostgreSQL) still makes JSON") {
  zuperior::health::checker h(1h);
  h.add(
      "database",
      [] {
        throw std::runtime_error(
            "FATAL:  la base de donn\xe9"
            "es \"x\" n'existe pas\n\t\xff");
      },
      5s);
  h.start();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (h.snapshot()[0].status != zuperior::health::state::unhealthy && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  auto [body, ok] = zuperior::api::health_body(h, 0);
  h.stop();
  CHECK_FALSE(ok);
  nlohmann::json j;
  REQUIRE_NOTHROW(j = nlohmann::json::parse(body));
  CHECK(j["details"]["database"]["status"] == "unhealthy");
  CHECK(j["details"]["database"]["error"] ==
        "FATAL:  la base de donn\xEF\xBF\xBD"
        "es \"x\" n'existe pas\n\t\xEF\xBF\xBD");
  // Without the error texts (a client outside server.internal_networks), nothing to go wrong.
  CHECK_FALSE(
      nlohmann::json::parse(zuperior::api::health_body(h, 0, false).first)["details"]["database"].contains("error"));
}
