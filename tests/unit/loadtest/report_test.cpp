#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "loadtest/report.hpp"

using namespace zuperior::loadtest;

namespace {

run_result ws_run() {
  run_result r;
  r.ws_enabled = true;
  r.elapsed_s = 2;
  r.published = 100;
  r.ws.connected = 3;
  r.ws.received = 300;
  r.ws.delivered = 300;
  for (int i = 0; i < 300; ++i) r.ws.delivery.record(1000);
  return r;
}

std::optional<double> actual(const run_result& r, const char* expression) {
  return evaluate({parse_threshold(expression)}, r).front().actual;
}

}  // namespace

TEST_CASE("loss and ordering are not measured when no delivered tick carried a seq") {
  auto r = ws_run();
  for (const char* e : {"ws.lost==0", "ws.out_of_order==0", "ws.delivery.lost_ratio<1%"}) {
    auto th = evaluate({parse_threshold(e)}, r);
    INFO(e);
    CHECK_FALSE(th.front().actual);
    CHECK_FALSE(th.front().pass);
  }
  CHECK(actual(r, "ws.delivery.p99<1s"));  // latency came from ts, which the ticks had
  scenario s;
  auto th = evaluate({parse_threshold("ws.lost==0")}, r);
  CHECK(verdict(r, th, false) == 1);
  CHECK_THAT(summary_text(s, r, th, false),
             Catch::Contains("actual not measured") && Catch::Contains("loss and ordering not measured"));
  auto j = nlohmann::json::parse(report_json(s, r, th, false));
  CHECK(j["ws"]["delivery"]["lost"].is_null());
  CHECK(j["ws"]["delivery"]["out_of_order"].is_null());
  CHECK(j["ws"]["delivery"]["duplicates"].is_null());
  CHECK(j["thresholds"][0]["actual"].is_null());
}

TEST_CASE("loss and ordering are measured once a tick carried a seq") {
  auto r = ws_run();
  r.ws.sequenced = 300;
  CHECK(actual(r, "ws.lost==0") == 0.0);
  CHECK(actual(r, "ws.out_of_order==0") == 0.0);
  CHECK(actual(r, "ws.delivery.lost_ratio<1%") == 0.0);
  r.ws.lost = 100;
  r.ws.out_of_order = 2;
  CHECK(actual(r, "ws.lost==0") == 100.0);
  CHECK(actual(r, "ws.out_of_order==0") == 2.0);
  CHECK(actual(r, "ws.delivery.lost_ratio<1%") == Approx(0.25));
  scenario s;
  auto j = nlohmann::json::parse(report_json(s, r, {}, false));
  CHECK(j["ws"]["delivery"]["lost"] == 100);
  CHECK(j["ws"]["delivery"]["out_of_order"] == 2);
  CHECK(j["ws"]["delivery"]["duplicates"] == 0);
}

TEST_CASE("a run that could not do what the scenario asks fails even with --allow-lag, and says so") {
  auto r = ws_run();
  scenario s;
  auto th = evaluate({parse_threshold("ws.delivery.p99<1s")}, r);
  REQUIRE(verdict(r, th, true) == 0);
  r.failures.push_back("the tick publisher failed (1 error(s), see the notes): it sent 0 ticks");
  CHECK(verdict(r, th, true) == 1);
  CHECK(verdict(r, th, false) == 1);
  auto text = summary_text(s, r, th, true);
  CHECK_THAT(text, Catch::Contains("RUN FAILED: the tick publisher failed") && !Catch::Contains("GENERATOR LAGGED"));
  CHECK(nlohmann::json::parse(report_json(s, r, th, true))["failures"].size() == 1);
}
