#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "metrics/process.hpp"
#include "metrics/registry.hpp"

using namespace zuperior::metrics;

TEST_CASE("counter renders HELP, TYPE and labelled samples sorted by labels") {
  registry r;
  auto& f = r.add_counter("http_requests_total", "Requests served.", {"method", "status"});
  f.labels({"GET", "2xx"}).inc();
  f.labels({"GET", "2xx"}).inc(4);
  f.labels({"POST", "4xx"}).inc();
  const std::string out = r.render();
  CHECK(out ==
        "# HELP http_requests_total Requests served.\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{method=\"GET\",status=\"2xx\"} 5\n"
        "http_requests_total{method=\"POST\",status=\"4xx\"} 1\n");
}

TEST_CASE("label values and help text are escaped") {
  registry r;
  auto& f = r.add_gauge("weird", "line one\nback\\slash \"quoted\"", {"v"});
  f.labels({"a\"b\\c\nd"}).set(1.5);
  const std::string out = r.render();
  CHECK(out ==
        "# HELP weird line one\\nback\\\\slash \"quoted\"\n"
        "# TYPE weird gauge\n"
        "weird{v=\"a\\\"b\\\\c\\nd\"} 1.5\n");
}

TEST_CASE("label values that differ only in where a separator would fall stay distinct") {
  registry r;
  auto& f = r.add_counter("c_total", "c", {"a", "b"});
  f.labels({"x,y", "z"}).inc();
  f.labels({"x", "y,z"}).inc(2);
  CHECK(&f.labels({"x,y", "z"}) != &f.labels({"x", "y,z"}));
  CHECK(f.labels({"x", "y,z"}).value() == 2);
}

TEST_CASE("families render sorted by name; numbers use Prometheus forms") {
  registry r;
  r.add_gauge("b_gauge", "b").get().set(std::numeric_limits<double>::infinity());
  r.add_gauge("a_gauge", "a").get().set(-0.25);
  r.add_gauge("c_gauge", "c").get().set(std::nan(""));
  const std::string out = r.render();
  CHECK(out.find("a_gauge -0.25\n") < out.find("b_gauge +Inf\n"));
  CHECK(out.find("c_gauge NaN\n") != std::string::npos);
  std::string n;
  append_number(n, 1e-4);
  CHECK(n == "0.0001");
  n.clear();
  append_number(n, 1e20);
  CHECK(n == "1e+20");
  n.clear();
  append_number(n, 123456789.0);
  CHECK(n == "123456789");
}

TEST_CASE("histogram renders cumulative buckets, sum and count") {
  registry r;
  auto& h = r.add_histogram("lat_seconds", "Latency.", {"route"}, {0.1, 0.5, 1});
  auto& c = h.labels({"/x"});
  c.observe(0.05);
  c.observe(0.1);  // "le": equal to a bound counts in that bucket
  c.observe(0.7);
  c.observe(3.0);
  CHECK(r.render() ==
        "# HELP lat_seconds Latency.\n"
        "# TYPE lat_seconds histogram\n"
        "lat_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"
        "lat_seconds_bucket{route=\"/x\",le=\"0.5\"} 2\n"
        "lat_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
        "lat_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
        "lat_seconds_sum{route=\"/x\"} 3.85\n"
        "lat_seconds_count{route=\"/x\"} 4\n");
}

TEST_CASE("histogram quantiles interpolate inside buckets") {
  histogram h({1, 2, 3, 4});
  CHECK(h.snapshot().quantile(0.5) == 0);        // empty
  for (int i = 0; i < 100; ++i) h.observe(1.5);  // all in (1,2]
  auto s = h.snapshot();
  CHECK(s.quantile(0.5) == Approx(1.5));
  CHECK(s.quantile(0.99) == Approx(1.99));
  CHECK(s.mean() == Approx(1.5));
  for (int i = 0; i < 100; ++i) h.observe(3.5);  // (3,4]
  s = h.snapshot();
  CHECK(s.quantile(0.25) == Approx(1.5));
  CHECK(s.quantile(0.75) == Approx(3.5));
  h.observe(100);  // +Inf bucket: the estimate is the last finite bound
  for (int i = 0; i < 1000; ++i) h.observe(100);
  CHECK(h.snapshot().quantile(0.99) == 4);
}

TEST_CASE("duration observation converts to seconds") {
  histogram h(latency_buckets());
  h.observe(std::chrono::milliseconds(3));
  const auto s = h.snapshot();
  CHECK(s.count == 1);
  CHECK(s.sum == Approx(0.003));
  CHECK(s.quantile(0.5) > 0.002);
  CHECK(s.quantile(0.5) <= 0.003);
}

TEST_CASE("registration rejects bad names and conflicts, returns identical families") {
  registry r;
  CHECK_THROWS_AS(r.add_counter("1bad", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("has-dash", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("ok_total", "x", {"__reserved"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h", "x", {"le"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h", "x", {}, {2, 1}), std::invalid_argument);
  CHECK(r.find("h") == nullptr);
  CHECK_THROWS_AS(r.add_histogram("h2", "x").set_callback({}, [] { return 1.0; }), std::logic_error);
  auto& a = r.add_counter("ok_total", "x", {"a"});
  CHECK(&r.add_counter("ok_total", "x", {"a"}) == &a);
  CHECK_THROWS_AS(r.add_counter("ok_total", "x", {"b"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_gauge("ok_total", "x", {"a"}), std::invalid_argument);
  CHECK_THROWS_AS(a.labels({"1", "2"}), std::invalid_argument);
  CHECK_THROWS_AS(a.get(), std::invalid_argument);
  CHECK(valid_metric_name("ns:sub_name_total"));
  // The suffix is the counters': a gauge or histogram so named is a registration error.
  CHECK_THROWS_AS(r.add_gauge("sent_total", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.add_callback_gauge("jobs_total", "x", [] { return 1.0; }), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("lag_total", "x"), std::invalid_argument);
  CHECK(r.find("sent_total") == nullptr);
  CHECK_NOTHROW(r.add_gauge("total", "x"));
}

TEST_CASE("callback counters are read at scrape time and typed counter") {
  registry r;
  double sent = 5;
  r.add_callback_counter("messages_sent_total", "Messages sent.", [&] { return sent; });
  const auto out = r.render();
  CHECK(out.find("# TYPE messages_sent_total counter\n") != std::string::npos);
  CHECK(out.find("messages_sent_total 5\n") != std::string::npos);
  sent = 9;
  CHECK(r.render().find("messages_sent_total 9\n") != std::string::npos);
}

TEST_CASE("callback gauges are read at scrape time and can be removed") {
  registry r;
  int in_use = 3;
  r.add_callback_gauge("pool_in_use", "Connections in use.", [&] { return double(in_use); });
  CHECK(r.render().find("pool_in_use 3\n") != std::string::npos);
  in_use = 7;
  CHECK(r.render().find("pool_in_use 7\n") != std::string::npos);
  auto& f = r.add_gauge("pool_state", "by state", {"state"});
  f.set_callback({"idle"}, [] { return 2.0; });
  CHECK(r.render().find("pool_state{state=\"idle\"} 2\n") != std::string::npos);
  CHECK(f.remove({"idle"}));
  CHECK_FALSE(f.remove({"idle"}));
  CHECK(r.render().find("pool_state{") == std::string::npos);
}

TEST_CASE("concurrent increments from many threads are all counted") {
  registry r;
  auto& c = r.add_counter("n_total", "n", {"k"});
  auto& g = r.add_gauge("g", "g");
  auto& h = r.add_histogram("h_seconds", "h");
  constexpr int threads = 8, per = 20000;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per; ++i) {
        c.labels({t % 2 ? "odd" : "even"}).inc();
        g.get().inc();
        h.get().observe(0.001);
        if (i % 1000 == 0) (void)r.render();  // scrapes racing updates must be safe
      }
    });
  }
  for (auto& t : ts) t.join();
  CHECK(c.labels({"odd"}).value() + c.labels({"even"}).value() == threads * per);
  CHECK(g.get().value() == threads * per);
  const auto s = h.get().snapshot();
  CHECK(s.count == threads * per);
  CHECK(s.sum == Approx(threads * per * 0.001));
  CHECK(r.render().find("h_seconds_count 160000\n") != std::string::npos);
}

TEST_CASE("process metrics read /proc") {
  registry r;
  register_process_metrics(r);
  const std::string out = r.render();
  CHECK(out.find("# TYPE process_cpu_seconds_total counter\n") != std::string::npos);
  auto* f = r.find("process_resident_memory_bytes");
  REQUIRE(f);
  CHECK(static_cast<const gauge_family*>(f)->label_names().empty());
  CHECK(out.find("process_resident_memory_bytes 0\n") == std::string::npos);
  CHECK(out.find("process_open_fds ") != std::string::npos);
}

TEST_CASE("default registry is one per process") { CHECK(&default_registry() == &default_registry()); }
