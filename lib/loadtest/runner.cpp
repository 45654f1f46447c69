#include "loadtest/runner.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <thread>

#include "auth/jwt.hpp"
#include "core/error.hpp"
#include "core/url.hpp"
#include "loadtest/worker.hpp"
#include "net/resolve_within.hpp"
#include "net/run_step.hpp"

namespace zuperior::loadtest {
namespace {

namespace asio = boost::asio;
using detail::clock;
using detail::thread_context;

struct target_info {
  std::string host, port, host_header;
};

target_info parse_target(const scenario& s) {
  auto u = core::parse_url(s.target);
  if (!u || u->scheme != "http")
    throw core::command_error(fmt::format("target \"{}\" is not an http:// URL", s.target), core::exit_usage);
  target_info t;
  t.host = u->host;
  t.port = std::to_string(u->port.value_or(80));
  t.host_header = u->port ? fmt::format("{}:{}", u->host, *u->port) : u->host;
  if (t.host.find(':') != std::string::npos) t.host_header = fmt::format("[{}]:{}", u->host, t.port);
  return t;
}

// Under a deadline: getaddrinfo cannot be cancelled and resolv.conf's retries add up to tens of
// seconds, longer than any timeout a CI step gives the run.
asio::ip::tcp::resolver::results_type resolve(const target_info& t, std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  auto res = net::resolve_within(t.host, t.port, timeout, ec);
  if (ec)
    throw core::command_error(fmt::format("cannot resolve target host {}: {}", t.host, net::failure_text(ec, timeout)));
  return res;
}

std::string random_run_id() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}

asio::awaitable<void> ticker(thread_context& t) {
  auto& sh = *t.shared;
  asio::steady_timer timer(t.io);
  t.wake_on_idle.push_back(&timer);
  for (unsigned sec = 0;; ++sec) {
    timer.expires_at(sh.start + std::chrono::seconds(sec + 1));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    sh.timeline->report(sec, t.interval_http, t.interval_requests, t.interval_errors, t.interval_delivery,
                        t.interval_ws_received, t.ws_open);
    t.interval_http.reset();
    t.interval_delivery.reset();
    t.interval_requests = t.interval_errors = t.interval_ws_received = 0;
    if (ec || t.active_tasks == 0 || clock::now() >= sh.deadline) break;
  }
  std::erase(t.wake_on_idle, &timer);
}

// How late this thread's event loop runs a timer due every 5 ms, through the load: a saturated
// generator (every connection busy, responses read late) shows here even when no request ever
// waited for its slot, where the start lag alone saw nothing and the target took the blame.
asio::awaitable<void> loop_probe(thread_context& t) {
  auto& sh = *t.shared;
  asio::steady_timer timer(t.io);
  t.wake_on_idle.push_back(&timer);
  constexpr auto period = std::chrono::milliseconds(5);
  auto due = std::max(clock::now(), sh.start);
  while (t.active_tasks > 0 && !sh.stop) {
    due += period;
    timer.expires_at(due);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    const auto now = clock::now();
    if (ec || now >= sh.end) break;
    t.gen.loop_delay.record(detail::micros(now - due));
    if (now - due > period) due = now;  // one stall is one late sample, not a burst of catch-up ones
  }
  std::erase(t.wake_on_idle, &timer);
}

std::string si(double v) {
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e4) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

// One HS256 token per virtual user, signed with the secret named by jwt.secret_env. The secret
// only lives in this process's memory; an error names the variable, never its value.
void mint_tokens(const scenario& s, detail::shared_state& sh) {
  const char* secret = std::getenv(s.jwt.secret_env.c_str());
  if (!secret || !*secret)
    throw core::command_error(
        fmt::format("jwt: the environment variable {} (jwt.secret_env) is not set", s.jwt.secret_env));
  std::optional<auth::jwt_codec> codec;
  try {
    codec.emplace(secret, s.jwt.ttl, std::chrono::seconds(0));
  } catch (const std::invalid_argument& e) {
    throw core::command_error(fmt::format("jwt: the secret in {} is unusable: {}", s.jwt.secret_env, e.what()));
  }
  std::string sub;
  for (std::size_t vu = 0; vu < sh.vus.size(); ++vu) {
    template_context ctx;
    ctx.vu = vu;
    ctx.run = sh.run_id;
    sub.clear();
    s.jwt.subject.render(ctx, sub);
    sh.vus[vu].vars.emplace_back("token", codec->issue(sub));
  }
}

}  // namespace

void preflight(const scenario& s, std::chrono::milliseconds timeout) {
  auto t = parse_target(s);
  const auto started = std::chrono::steady_clock::now();
  auto eps = resolve(t, timeout);
  timeout -= std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  asio::io_context io;
  asio::ip::tcp::socket sock(io);
  boost::system::error_code result = asio::error::timed_out;
  asio::async_connect(sock, eps, [&](boost::system::error_code ec, const auto&) { result = ec; });
  io.run_for(timeout);
  if (result)
    throw core::command_error(fmt::format("cannot connect to target {}: {}", s.target,
                                          result == asio::error::timed_out ? "timed out" : result.message()));
}

run_result run(const scenario& s, const run_options& opt) {
  validate(s);
  auto target = parse_target(s);
  // Thousands of sockets need more descriptors than the usual soft limit of 1024.
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  detail::shared_state sh;
  sh.sc = &s;
  sh.run_id = opt.run_id.empty() ? random_run_id() : opt.run_id;
  sh.host_header = target.host_header;
  sh.endpoints = resolve(target, std::chrono::duration_cast<std::chrono::milliseconds>(
                                     s.socketio.enabled ? s.socketio.connect_timeout : s.http.timeout));
  if (s.publisher.enabled) {
    if (auto u = core::parse_url(s.publisher.redis_url)) {
      constexpr std::chrono::milliseconds publisher_resolve_timeout{3000};
      boost::system::error_code ec;
      sh.publisher_endpoints =
          net::resolve_within(u->host, std::to_string(u->port.value_or(6379)), publisher_resolve_timeout, ec);
      if (ec) sh.publisher_resolve_error = net::failure_text(ec, publisher_resolve_timeout);
    }
  }
  sh.threads = std::max(1U, s.threads);
  sh.timeline = std::make_unique<timeline_collector>(sh.threads);
  unsigned vus = s.http.enabled ? s.http.vus : 1;
  if (s.socketio.enabled && s.socketio.auth && !s.http.enabled)
    vus = s.jwt.enabled ? std::max(1U, s.socketio.connections) : 1;
  sh.vus.resize(vus);
  if (s.jwt.enabled) mint_tokens(s, sh);

  std::vector<std::unique_ptr<thread_context>> threads;
  for (unsigned i = 0; i < sh.threads; ++i) {
    auto t = std::make_unique<thread_context>();
    t->index = i;
    t->shared = &sh;
    t->rng.seed(0x5eed + i);
    threads.push_back(std::move(t));
  }
  auto run_threads = [&](auto&& body) {
    std::vector<std::thread> ts;
    for (auto& t : threads)
      ts.emplace_back([body, tp = t.get()] { body(*tp); });  // by value: the closure passed in is a temporary
    return ts;
  };

  run_result r;
  r.run_id = sh.run_id;
  r.ws_enabled = s.socketio.enabled;

  // Setup: per-virtual-user steps (register, login …) before any load, bounded.
  if (s.http.enabled && !s.http.setup.empty()) {
    auto begin = clock::now();
    if (opt.progress) std::fprintf(stderr, "setup: %u virtual users, %zu steps each\n", vus, s.http.setup.size());
    auto limit = std::chrono::duration_cast<clock::duration>(s.http.timeout * 4 + std::chrono::seconds(30));
    // Every setup request ends by the deadline, so no setup step is left to run into the load (where
    // it would write a user's variables while other threads read them).
    sh.setup_deadline = begin + limit;
    for (auto& t : threads) detail::spawn_http_setup(*t);
    auto ts = run_threads([&](thread_context& t) { t.io.run_for(limit + std::chrono::seconds(2)); });
    for (auto& th : ts) th.join();
    r.setup_s = std::chrono::duration<double>(clock::now() - begin).count();
    for (auto& t : threads) t->io.restart();
  }

  // Load.
  const auto duration = std::chrono::duration_cast<clock::duration>(s.duration());
  const auto grace = std::chrono::duration_cast<clock::duration>(s.grace);
  sh.start = clock::now() + std::chrono::milliseconds(20);
  sh.end = sh.start + duration;
  sh.deadline = sh.end + grace;
  r.started_at = std::chrono::system_clock::now();

  std::vector<std::unique_ptr<asio::steady_timer>> deadline_timers;
  for (auto& tp : threads) {
    auto& t = *tp;
    if (s.http.enabled) detail::spawn_http_load(t);
    if (s.socketio.enabled) detail::spawn_socketio(t);
    if (s.publisher.enabled && t.index == 0) detail::spawn_publisher(t);
    auto timer = std::make_unique<asio::steady_timer>(t.io, sh.deadline);
    t.wake_on_idle.push_back(timer.get());
    timer->async_wait([&t, &sh](boost::system::error_code ec) {
      if (ec) return;  // everything finished before the deadline
      sh.stop = true;
      t.io.stop();
    });
    if (t.active_tasks == 0) timer->cancel();  // nothing for this thread to do
    deadline_timers.push_back(std::move(timer));
    if (t.active_tasks > 0) {
      asio::co_spawn(t.io, ticker(t), asio::detached);
      asio::co_spawn(t.io, loop_probe(t), asio::detached);
    }
  }
  std::atomic<unsigned> finished{0};
  auto ts = run_threads([&](thread_context& t) {
    t.io.run();
    finished.fetch_add(1);
  });

  // Progress on the calling thread.
  auto last_print = clock::now();
  std::uint64_t last_requests = 0, last_received = 0;
  auto last_sample = clock::now();
  while (finished.load() < threads.size()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto now = clock::now();
    bool due = opt.tty ? now - last_print >= std::chrono::milliseconds(500) : now - last_print >= opt.progress_interval;
    if (!opt.progress || !due) continue;
    double dt = std::chrono::duration<double>(now - last_sample).count();
    auto req = sh.live.requests.load(), rec = sh.live.ws_received.load();
    double elapsed = std::chrono::duration<double>(now - sh.start).count();
    std::string line = fmt::format("[{:5.1f}s/{:.0f}s]", elapsed, std::chrono::duration<double>(duration).count());
    if (s.http.enabled)
      line += fmt::format(" http {} req ({}/s) {} errors", si(static_cast<double>(req)),
                          si(static_cast<double>(req - last_requests) / dt), sh.live.errors.load());
    if (s.socketio.enabled)
      line += fmt::format(" | ws {} connected, {} msgs ({}/s)", sh.live.ws_connected.load(),
                          si(static_cast<double>(rec)), si(static_cast<double>(rec - last_received) / dt));
    if (s.publisher.enabled) line += fmt::format(" | published {}", sh.live.published.load());
    if (opt.tty)
      std::fprintf(stderr, "\r%-100s", line.c_str());
    else
      std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    last_print = last_sample = now;
    last_requests = req;
    last_received = rec;
  }
  for (auto& th : ts) th.join();
  if (opt.progress && opt.tty) std::fputs("\n", stderr);
  r.elapsed_s = std::chrono::duration<double>(clock::now() - sh.start).count();

  // Merge.
  if (s.http.enabled) {
    for (const auto& st : s.http.setup) r.setup_steps.emplace_back(st.name, step_stats{});
    for (const auto& st : s.http.steps) r.steps.emplace_back(st.name, step_stats{});
  }
  for (auto& tp : threads) {
    auto& t = *tp;
    for (std::size_t i = 0; i < t.setup_stats.size(); ++i) r.setup_steps[i].second.merge(t.setup_stats[i]);
    for (std::size_t i = 0; i < t.step_stats_.size(); ++i) {
      // Requests cut off by the hard deadline count as timeouts.
      if (i < t.inflight.size() && t.inflight[i]) {
        t.step_stats_[i].requests += t.inflight[i];
        t.step_stats_[i].errors[static_cast<int>(error_kind::timeout)] += t.inflight[i];
      }
      r.steps[i].second.merge(t.step_stats_[i]);
    }
    r.ws.merge(t.ws);
    r.generator.merge(t.gen);
    r.published += t.published;
    r.publish_errors += t.publish_errors;
    for (auto& n : t.notes)
      if (std::find(r.notes.begin(), r.notes.end(), n) == r.notes.end()) r.notes.push_back(n);
  }
  if (s.http.enabled && s.http.model == load_model::open) {
    r.generator.not_started =
        r.generator.scheduled > r.generator.started ? r.generator.scheduled - r.generator.started : 0;
    // Requests the schedule called for that never went out count as timeouts, in their step's
    // figures and so in the overall ones: with every connection waiting on a stalled target they
    // are the outage itself. Left out, the error rate looked healthy through one (and
    // `http.errors<1%` passed under --allow-lag; a step's threshold still did). They have no
    // latency, so the percentiles are of the requests that ran, and http.rps counts what was sent.
    // A slot's step is picked when a connection takes it up, so those never taken up are shared
    // out by the steps' weights.
    std::vector<unsigned> weights;
    for (const auto& st : s.http.steps) weights.push_back(st.weight);
    auto shares = split_by_weight(r.generator.not_started, weights);
    for (std::size_t i = 0; i < r.steps.size(); ++i) r.steps[i].second.add_not_sent(shares[i]);
  }
  for (const auto& [_, st] : r.steps) r.overall.merge(st);
  r.timeline = sh.timeline->finish();

  // The generator's self-check.
  auto lag_p99 = r.generator.lag.percentile(0.99);
  if (lag_p99 > static_cast<std::uint64_t>(opt.max_lag.count())) {
    r.lagging = true;
    r.lag_reasons.push_back(fmt::format("generator started requests late: lag p99 {:.1f}ms > {:.1f}ms", lag_p99 / 1e3,
                                        opt.max_lag.count() / 1e3));
  }
  auto loop_p99 = r.generator.loop_delay.percentile(0.99);
  if (loop_p99 > static_cast<std::uint64_t>(opt.max_lag.count())) {
    r.lagging = true;
    r.lag_reasons.push_back(
        fmt::format("the generator's event loops ran late: delay p99 {:.1f}ms > {:.1f}ms (its "
                    "CPU is saturated: latencies include its own queueing)",
                    loop_p99 / 1e3, opt.max_lag.count() / 1e3));
  }
  if (r.generator.not_started > 0) {
    r.lagging = true;
    r.lag_reasons.push_back(
        fmt::format("{} of {} scheduled requests were never started before the deadline "
                    "(counted as timeouts: every connection was busy, or the generator fell "
                    "behind)",
                    r.generator.not_started, r.generator.scheduled));
  }
  if (s.publisher.enabled && r.publish_errors > 0)
    r.failures.push_back(fmt::format("the tick publisher failed ({} error(s), see the notes): it sent {} ticks",
                                     r.publish_errors, r.published));
  if (s.publisher.enabled && s.publisher.rate > 0 && r.publish_errors == 0) {  // else not the generator's lag
    double publish_s = std::chrono::duration<double>(s.duration() - s.publisher.delay).count();
    double want = publish_s * s.publisher.rate;
    if (want > 10 && static_cast<double>(r.published) < want * 0.9) {
      r.lagging = true;
      r.lag_reasons.push_back(
          fmt::format("publisher sent {} ticks, {:.0f} were scheduled (below 90%)", r.published, want));
    }
  }
  return r;
}

}  // namespace zuperior::loadtest
