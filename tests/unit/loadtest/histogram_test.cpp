#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "loadtest/histogram.hpp"

using zuperior::loadtest::histogram;

namespace {
// The exact value at quantile q as histogram::percentile defines it (ceil rank).
std::uint64_t exact(std::vector<std::uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  if (rank == 0) rank = 1;
  return v[rank - 1];
}
void check_within(std::uint64_t got, std::uint64_t want) {
  // Log-linear buckets: the reported value is the top of the bucket, within 1/128 above the truth.
  INFO("got " << got << " want " << want);
  CHECK(got >= want);
  CHECK(static_cast<double>(got) <= static_cast<double>(want) * (1.0 + 1.0 / 128) + 1);
}
}  // namespace

TEST_CASE("histogram buckets are contiguous and cover their values") {
  for (std::size_t i = 1; i < histogram::bucket_count(); ++i) {
    REQUIRE(histogram::lowest_of(i) == histogram::highest_of(i - 1) + 1);
  }
  for (std::uint64_t v : {0ULL, 1ULL, 255ULL, 256ULL, 257ULL, 511ULL, 512ULL, 1000ULL, 123456789ULL, 1ULL << 39}) {
    auto i = histogram::index_of(v);
    CHECK(histogram::lowest_of(i) <= v);
    CHECK(histogram::highest_of(i) >= v);
  }
  CHECK(histogram::index_of(1ULL << 50) == histogram::bucket_count() - 1);
}

TEST_CASE("values below 256 are exact") {
  histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  CHECK(h.count() == 100);
  CHECK(h.percentile(0.5) == 50);
  CHECK(h.percentile(0.99) == 99);
  CHECK(h.percentile(1.0) == 100);
  CHECK(h.min() == 1);
  CHECK(h.max() == 100);
  CHECK(h.mean() == Approx(50.5));
}

TEST_CASE("percentiles match exact ones on known distributions within the bucket error") {
  std::mt19937_64 rng(42);
  SECTION("uniform 0..1s") {
    std::uniform_int_distribution<std::uint64_t> d(0, 1'000'000);
    std::vector<std::uint64_t> v(200'000);
    histogram h;
    for (auto& x : v) h.record(x = d(rng));
    for (double q : {0.5, 0.9, 0.95, 0.99, 0.999}) check_within(h.percentile(q), exact(v, q));
    CHECK(h.max() == *std::max_element(v.begin(), v.end()));
    CHECK(h.percentile(1.0) == h.max());
  }
  SECTION("log-normal latencies with a long tail") {
    std::lognormal_distribution<double> d(7.0, 1.2);  // median ~1.1ms
    std::vector<std::uint64_t> v(200'000);
    histogram h;
    for (auto& x : v) h.record(x = static_cast<std::uint64_t>(d(rng)));
    for (double q : {0.5, 0.9, 0.95, 0.99, 0.999}) check_within(h.percentile(q), exact(v, q));
  }
}

TEST_CASE("empty histogram reports zeros") {
  histogram h;
  CHECK(h.count() == 0);
  CHECK(h.percentile(0.99) == 0);
  CHECK(h.min() == 0);
  CHECK(h.max() == 0);
  CHECK(h.mean() == 0);
}

TEST_CASE("merge equals recording everything in one") {
  histogram a, b, all;
  for (std::uint64_t v = 0; v < 5000; v += 7) a.record(v), all.record(v);
  for (std::uint64_t v = 3; v < 90000; v += 13) b.record(v), all.record(v);
  a.merge(b);
  CHECK(a.count() == all.count());
  CHECK(a.min() == all.min());
  CHECK(a.max() == all.max());
  for (double q : {0.1, 0.5, 0.99}) CHECK(a.percentile(q) == all.percentile(q));
  a.reset();
  CHECK(a.count() == 0);
}

TEST_CASE("coordinated-omission correction adds the requests a stalled sender missed") {
  // A closed loop expecting one request per 1ms stalls for 100ms: the one sample of 100ms hides
  // 99 requests that would have waited 99ms, 98ms … 1ms.
  histogram naive, corrected;
  for (int i = 0; i < 1000; ++i) naive.record(1000), corrected.record_corrected(1000, 1000);
  naive.record(100'000);
  corrected.record_corrected(100'000, 1000);
  CHECK(naive.count() == 1001);
  CHECK(corrected.count() == 1001 + 99);
  CHECK(naive.percentile(0.99) <= 1008);  // the top of 1000's bucket
  // With the correction about 9% of samples are above 1ms, so the p99 is far above it.
  CHECK(corrected.percentile(0.99) > 80'000);
  CHECK(corrected.max() == 100'000);
}

TEST_CASE("values beyond the trackable range are clamped, not lost") {
  histogram h;
  h.record(histogram::max_trackable * 4);
  CHECK(h.count() == 1);
  CHECK(h.max() == histogram::max_trackable);
}
