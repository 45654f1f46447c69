// Throughput of the data-access layers on one io_context (one worker's share):
//   redis: commands/s with N coroutines in flight (pipelined) and with 1 (one round trip at a time)
//   pool:  queries/s through the PostgreSQL pool with N coroutines awaiting it
// Prints figures; asserts nothing.  Usage: data_bench REDIS_URL DATABASE_URL [seconds] [pool_size]
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "cache/async_client.hpp"
#include "db/pool.hpp"

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

struct counters {
  std::uint64_t ok = 0, failed = 0;
  clock_type::time_point until;
  int running = 0;
  std::function<void()> on_last;  // called when the last loop ends
  void loop_done() {
    if (--running == 0 && on_last) on_last();
  }
};

asio::awaitable<void> redis_loop(std::shared_ptr<zuperior::cache::async_client> c, counters* n, int id) {
  std::string key = "bench:" + std::to_string(id);
  while (clock_type::now() < n->until) {
    std::vector<std::string> set{"SET", key, "12345.67"};
    auto r = co_await c->command(std::move(set));
    (r ? n->ok : n->failed)++;
    std::vector<std::string> get{"GET", key};
    r = co_await c->command(std::move(get));
    (r ? n->ok : n->failed)++;
  }
  n->loop_done();
}

asio::awaitable<void> pool_loop(std::shared_ptr<zuperior::db::pool> p, counters* n, int id, bool prepared) {
  while (clock_type::now() < n->until) {
    std::vector<zuperior::db::param> params{std::to_string(id)};
    zuperior::db::query_result r;  // GCC 12 miscompiles co_await inside ?:, so two statements
    if (prepared)
      r = co_await p->exec_prepared("bench_select", std::move(params));
    else
      r = co_await p->query("SELECT $1::int + 1", std::move(params));
    (r ? n->ok : n->failed)++;
  }
  n->loop_done();
}

double run_redis(const std::string& url, int concurrency, double seconds) {
  asio::io_context io;
  zuperior::cache::client_options o;
  o.url = url;
  o.register_metrics = false;
  auto c = zuperior::cache::async_client::create(io.get_executor(), o);
  c->start();
  auto deadline = clock_type::now() + std::chrono::seconds(5);
  while (!c->connected() && clock_type::now() < deadline) io.run_one_for(std::chrono::milliseconds(10));
  if (!c->connected()) {
    std::printf("redis: cannot connect\n");
    return 0;
  }
  counters n;
  auto start = clock_type::now();
  n.until = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
  n.running = concurrency;
  n.on_last = [c] { c->stop(); };  // ends the client's loop, so run() returns
  for (int i = 0; i < concurrency; ++i) asio::co_spawn(io, redis_loop(c, &n, i), asio::detached);
  io.restart();
  io.run();
  double took = std::chrono::duration<double>(clock_type::now() - start).count();
  double rate = n.ok / took;
  std::printf("redis  %4d in flight: %10.0f commands/s  (%llu ok, %llu failed)\n", concurrency, rate,
              static_cast<unsigned long long>(n.ok), static_cast<unsigned long long>(n.failed));
  return rate;
}

double run_pool(const std::string& url, unsigned size, int concurrency, bool prepared, double seconds) {
  asio::io_context io;
  zuperior::db::pool_options o;
  o.url = url;
  o.size = size;
  o.register_metrics = false;
  auto p = zuperior::db::pool::create(o);
  p->prepare("bench_select", "SELECT $1::int + 1");
  counters n;
  auto start = clock_type::now();
  n.until = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
  n.running = concurrency;
  for (int i = 0; i < concurrency; ++i) asio::co_spawn(io, pool_loop(p, &n, i, prepared), asio::detached);
  io.run();
  double took = std::chrono::duration<double>(clock_type::now() - start).count();
  double rate = n.ok / took;
  auto st = p->stats();
  std::printf(
      "pool   size %2u, %3d awaiting, %-8s: %8.0f queries/s  (%llu failed; mean wait %.3f ms, mean hold %.3f ms)\n",
      size, concurrency, prepared ? "prepared" : "text", rate, static_cast<unsigned long long>(n.failed),
      st.queries ? st.wait_seconds * 1e3 / st.queries : 0.0, st.queries ? st.query_seconds * 1e3 / st.queries : 0.0);
  p->stop();
  return rate;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: data_bench REDIS_URL DATABASE_URL [seconds] [pool_size]\n");
    return 2;
  }
  double seconds = argc > 3 ? std::stod(argv[3]) : 2.0;
  std::string only = argc > 5 ? argv[5] : "";
  unsigned size = argc > 4 ? static_cast<unsigned>(std::stoul(argv[4])) : 8;
  run_redis(argv[1], 1, seconds);
  run_redis(argv[1], 16, seconds);
  run_redis(argv[1], 256, seconds);
  if (only == "redis") return 0;
  run_pool(argv[2], size, 1, true, seconds);
  run_pool(argv[2], size, 64, true, seconds);
  run_pool(argv[2], size, 64, false, seconds);
  return 0;
}
