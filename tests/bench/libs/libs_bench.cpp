// Micro-benchmarks of the pure libraries: prints ops/s, asserts nothing (timings belong here, not in tests).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "auth/jwt.hpp"
#include "auth/password.hpp"
#include "auth/revocation_list.hpp"
#include "metrics/registry.hpp"
#include "ratelimit/local_limiter.hpp"
#include "validate/seed_schemas.hpp"

using namespace zuperior;
using clk = std::chrono::steady_clock;

namespace {

std::atomic<std::uint64_t> sink{0};

// Resident memory of this process, KiB.
long rss_kib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * 4;
}  // keeps results alive so the optimiser cannot drop the work

// Runs `op(thread, i)` for about `seconds` on `threads` threads; prints total ops/s.
void bench(const char* name, int threads, double seconds, const std::function<void(int, std::uint64_t)>& op) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> total{0};
  std::vector<std::thread> ts;
  const auto start = clk::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int k = 0; k < 64; ++k) op(t, n++);
      }
      total += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  const double secs = std::chrono::duration<double>(clk::now() - start).count();
  const double rate = static_cast<double>(total) / secs;
  std::printf("%-48s %2d thread(s) %14.0f ops/s %10.1f ns/op/thread\n", name, threads, rate, 1e9 * threads / rate);
}

// For slow operations: a fixed count, timed.
void bench_count(const char* name, int count, const std::function<void(int)>& op) {
  const auto start = clk::now();
  for (int i = 0; i < count; ++i) op(i);
  const double secs = std::chrono::duration<double>(clk::now() - start).count();
  std::printf("%-48s %2d thread(s) %14.1f ops/s %10.2f ms/op\n", name, 1, count / secs, 1e3 * secs / count);
}

}  // namespace

int main(int argc, char** argv) {
  const double secs = argc > 1 ? std::atof(argv[1]) : 1.0;
  std::printf("# zuperior library benchmarks (%.1f s per figure, %u hardware threads)\n", secs,
              std::thread::hardware_concurrency());

  // --- JWT
  auth::jwt_codec jwt("bench-secret-0123456789abcdefghijklmnop", std::chrono::hours(1), std::chrono::seconds(30));
  const std::string token = jwt.issue("clx0user000000000000000001", "trader@example.com");
  bench("jwt verify (same valid token: cache hit)", 1, secs,
        [&](int, std::uint64_t) { sink += jwt.verify(token).value.exp; });
  bench("jwt verify (same valid token: cache hit)", 2, secs,
        [&](int, std::uint64_t) { sink += jwt.verify(token).value.exp; });
  std::vector<std::string> many;
  for (int i = 0; i < 4096; ++i) many.push_back(jwt.issue("user" + std::to_string(i), "trader@example.com"));
  bench("jwt verify (4096 distinct tokens: cache misses)", 1, secs,
        [&](int, std::uint64_t i) { sink += jwt.verify(many[(i * 2654435761u) % many.size()]).value.exp; });
  std::string bad = token;
  bad.back() = bad.back() == 'A' ? 'B' : 'A';
  bench("jwt verify (bad signature)", 1, secs,
        [&](int, std::uint64_t) { sink += jwt.verify(bad).error != auth::jwt_error::none; });
  bench("jwt issue", 1, secs, [&](int, std::uint64_t) { sink += jwt.issue("clx0user000000000000000001").size(); });

  // --- revoked tokens (checked on every authenticated request and Socket.IO CONNECT)
  {
    auth::revocation_list none;
    bench("revocation check, empty list", 2, secs, [&](int, std::uint64_t) { sink += none.contains(token); });
    auth::revocation_list full;
    const long rss_before = rss_kib();
    for (int i = 0; i < 1'000'000; ++i) full.add("jti-" + std::to_string(i) + "-0123456789abcdef", 2'000'000'000, 0);
    const long rss_after = rss_kib();
    std::printf("%-52s %12.0f bytes per revoked id (1,000,000 held)\n", "revocation list memory",
                (rss_after - rss_before) * 1024.0 / 1'000'000);
    bench("revocation check, 1M revoked, a valid token", 1, secs,
          [&](int, std::uint64_t) { sink += full.contains(token); });
    bench("revocation check, 1M revoked, a valid token", 2, secs,
          [&](int, std::uint64_t) { sink += full.contains(token); });
  }

  // --- bcrypt (slow by design)
  const std::string h10 = auth::hash_password("Passw0rd!", 10);
  bench_count("bcrypt verify cost 10", 10, [&](int) { sink += auth::verify_password("Passw0rd!", h10); });
  bench_count("bcrypt hash cost 10", 5, [&](int) { sink += auth::hash_password("Passw0rd!", 10).size(); });
  const std::string h12 = auth::hash_password("Passw0rd!", 12);
  bench_count("bcrypt verify cost 12", 3, [&](int) { sink += auth::verify_password("Passw0rd!", h12); });

  // --- local limiter
  ratelimit::local_limiter local;
  bench("local limiter, one hot identifier", 1, secs,
        [&](int, std::uint64_t) { sink += local.decide("standard:user:1", 1'000'000'000, 60'000).allowed; });
  bench("local limiter, one hot identifier", 2, secs,
        [&](int, std::uint64_t) { sink += local.decide("standard:user:1", 1'000'000'000, 60'000).allowed; });
  std::vector<std::string> ids;
  for (int i = 0; i < 50'000; ++i)
    ids.push_back("standard:ip:10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  bench("local limiter, 50k identifiers", 2, secs, [&](int t, std::uint64_t i) {
    sink += local.decide(ids[(i * 7919 + t * 31) % ids.size()], 100, 60'000).allowed;
  });

  // --- metrics
  metrics::registry reg;
  auto& c = reg.add_counter("bench_total", "b").get();
  bench("metrics counter inc", 1, secs, [&](int, std::uint64_t) { c.inc(); });
  bench("metrics counter inc (same counter)", 2, secs, [&](int, std::uint64_t) { c.inc(); });
  auto& h = reg.add_histogram("bench_seconds", "b", {"route"}).labels({"/apis/health"});
  bench("metrics histogram observe", 2, secs,
        [&](int, std::uint64_t i) { h.observe(0.0001 * static_cast<double>(i % 100)); });
  auto& fam = reg.add_counter("bench_requests_total", "b", {"method", "route", "status"});
  bench("metrics labels({...}) lookup + inc", 2, secs, [&](int, std::uint64_t i) {
    fam.labels({"GET", "/apis/accounts", i % 2 ? "2xx" : "4xx"}).inc();
  });
  for (int i = 0; i < 200; ++i) fam.labels({"GET", "/r" + std::to_string(i), "2xx"}).inc();
  bench("metrics render (~200 series + histogram)", 1, secs, [&](int, std::uint64_t) { sink += reg.render().size(); });

  // --- validation
  const auto body = nlohmann::json::parse(R"({"email":"trader@example.com","password":"Abcdef1!x"})");
  bench("validate registerSchema (valid body)", 1, secs,
        [&](int, std::uint64_t) { sink += validate::register_schema().validate(body).size(); });

  std::printf("# (sink %llu)\n", static_cast<unsigned long long>(sink.load() & 1));
}
