// The CPU pool (bcrypt off the network threads): results, exceptions, and what happens to a job
// that arrives once the pool has stopped.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>

#include "api/blocking.hpp"

namespace asio = boost::asio;
using zuperior::api::blocking_pool;
using zuperior::api::outcome;
using namespace std::chrono_literals;

namespace {

asio::awaitable<outcome<int>> job(blocking_pool& pool, int v, bool fail) {
  co_return co_await pool.run<int>([v, fail] {
    if (fail) throw std::runtime_error("job failed");
    return v * 2;
  });
}

// Runs one job to completion on a fresh event loop; nullopt when it never completes.
std::optional<outcome<int>> run_job(blocking_pool& pool, int v, bool fail = false) {
  asio::io_context io;
  std::optional<outcome<int>> out;
  asio::co_spawn(io, job(pool, v, fail), [&](std::exception_ptr, outcome<int> o) { out = std::move(o); });
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!out && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(50ms);
  }
  return out;
}

}  // namespace

TEST_CASE("blocking pool: a job's value, and an exception as 500") {
  blocking_pool pool(2, 1s);
  auto ok = run_job(pool, 21);
  REQUIRE(ok);
  REQUIRE(*ok);
  CHECK(*ok->value == 42);
  auto bad = run_job(pool, 1, true);
  REQUIRE(bad);
  CHECK_FALSE(*bad);
  CHECK(bad->error == zuperior::http::errc::internal);
  CHECK(bad->detail == "job failed");
  CHECK(pool.stats().waiting.load() == 0);
  CHECK(pool.stats().busy.load() == 0);
}

TEST_CASE("blocking pool: a job after stop() is refused at once (503), never left waiting") {
  // During a drain that ran out with requests still in flight, a login could reach bcrypt after
  // the pool stopped: the job went to the joined pool and never ran, its caller waited until the
  // pool's destructor, after the caller's event loop was gone.
  blocking_pool pool(1, 1s);
  pool.stop();
  auto late = run_job(pool, 1);
  REQUIRE(late);
  CHECK_FALSE(*late);
  CHECK(late->error == zuperior::http::errc::unavailable);
  CHECK(late->detail == "shutting down");
  CHECK(pool.stats().waiting.load() == 0);
  pool.stop();  // idempotent
}
