#include <catch2/catch.hpp>

#include "loadtest/threshold.hpp"

using namespace zuperior::loadtest;

TEST_CASE("threshold expressions parse into base units") {
  auto t = parse_threshold("http.p99<100ms");
  CHECK(t.metric == "http.p99");
  CHECK(t.op == cmp_op::lt);
  CHECK(t.value == 100'000);
  CHECK(t.kind == metric_kind::latency);
  CHECK(t.step.empty());

  t = parse_threshold(" http.errors < 0.1% ");
  CHECK(t.metric == "http.errors");
  CHECK(t.value == Approx(0.001));
  CHECK(t.kind == metric_kind::ratio);

  t = parse_threshold("ws.connect_errors==0");
  CHECK(t.op == cmp_op::eq);
  CHECK(t.kind == metric_kind::count);

  t = parse_threshold("ws.delivery.p99 <= 1.5s");
  CHECK(t.metric == "ws.delivery.p99");
  CHECK(t.op == cmp_op::le);
  CHECK(t.value == 1'500'000);

  t = parse_threshold("ws.lost==0");
  CHECK(t.metric == "ws.lost");

  t = parse_threshold("http{step:login}.p95>=250us");
  CHECK(t.step == "login");
  CHECK(t.metric == "http.p95");
  CHECK(t.op == cmp_op::ge);
  CHECK(t.value == 250);

  t = parse_threshold("http.rps>1000");
  CHECK(t.kind == metric_kind::rate);
  t = parse_threshold("generator.lag.p99<5ms");
  CHECK(t.kind == metric_kind::latency);
  t = parse_threshold("http.p99.9 != 0");
  CHECK(t.op == cmp_op::ne);
}

TEST_CASE("bad threshold expressions are rejected with a reason") {
  auto fails_with = [](const char* text, const char* part) {
    try {
      parse_threshold(text);
      FAIL("accepted " << text);
    } catch (const threshold_error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(part) != std::string::npos);
    }
  };
  fails_with("http.p99 100ms", "no comparison");
  fails_with("http.p42<1ms", "unknown metric");
  fails_with("foo<1", "unknown metric");
  fails_with("http.p99<100", "needs a unit");
  fails_with("http.p99<fast", "not a number");
  fails_with("http.errors<5ms", "ratio");
  fails_with("http.errors<150%", "out of range");
  fails_with("ws.lost==0ms", "no unit");
  fails_with("http{region:eu}.p99<1ms", "step:");
  fails_with("ws{step:x}.lost==0", "http metrics only");
  fails_with("", "empty");
  fails_with("<1ms", "no metric");
  fails_with("http.p99<", "no value");
  fails_with("http.p99<-5ms", "negative");
  fails_with("http.rps>-1", "negative");
  fails_with("ws.lost<0.5", "whole number");
  fails_with("http.requests>=99.9", "whole number");
  fails_with("{step:x}http.p99<1s", "right after http");
  fails_with("http.p99{step:x}<1s", "right after http");
  fails_with("http.p{step:x}99<1s", "right after http");
}

TEST_CASE("comparison and formatting") {
  CHECK(compare(99, cmp_op::lt, 100));
  CHECK_FALSE(compare(100, cmp_op::lt, 100));
  CHECK(compare(100, cmp_op::le, 100));
  CHECK(compare(0, cmp_op::eq, 0));
  CHECK_FALSE(compare(1, cmp_op::eq, 0));
  CHECK(compare(2, cmp_op::gt, 1));
  CHECK(compare(2, cmp_op::ne, 1));
  CHECK(format_metric_value(metric_kind::latency, 1500) == "1.50ms");
  CHECK(format_metric_value(metric_kind::ratio, 0.001) == "0.100%");
  CHECK(op_text(cmp_op::ge) == ">=");
}
