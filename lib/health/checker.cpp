#include "health/checker.hpp"

#include <pthread.h>
#include <condition_variable>
#include <mutex>
#include <thread>
#include "core/error.hpp"

namespace zuperior::health {

std::string_view to_string(state s) noexcept {
  switch (s) {
    case state::healthy:
      return "healthy";
    case state::unhealthy:
      return "unhealthy";
    default:
      return "unknown";
  }
}

namespace {
using clock = std::chrono::steady_clock;

struct check {
  std::string name;
  checker::probe p;
  std::chrono::milliseconds timeout;
  // guarded by impl::mu
  state status = state::unknown;
  clock::time_point obtained{};
  clock::time_point running_since{};
  bool running = false;
  std::chrono::microseconds latency{0};
  std::string error;
  std::thread thread;
};
}  // namespace

struct checker::impl {
  std::chrono::milliseconds interval;
  mutable std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::uint64_t poke_seq = 0;
  std::vector<std::unique_ptr<check>> checks;

  void loop(check& c) {
    pthread_setname_np(pthread_self(), ("health-" + c.name).substr(0, 15).c_str());
    std::unique_lock lock(mu);
    while (!stopping) {
      c.running = true;
      c.running_since = clock::now();
      lock.unlock();
      std::string err;
      bool ok = true;
      auto t0 = clock::now();
      try {
        c.p();
      } catch (const std::exception& e) {
        ok = false;
        err = core::error_text(e);
      } catch (...) {
        ok = false;
        err = "unknown failure";
      }
      auto took = clock::now() - t0;
      lock.lock();
      c.running = false;
      c.latency = std::chrono::duration_cast<std::chrono::microseconds>(took);
      if (ok && took > c.timeout) {
        ok = false;
        err = "answered too slowly";
      }
      c.status = ok ? state::healthy : state::unhealthy;
      c.error = std::move(err);
      c.obtained = clock::now();
      auto seq = poke_seq;
      cv.wait_for(lock, interval, [&] { return stopping || poke_seq != seq; });
    }
  }
};

checker::checker(std::chrono::milliseconds interval) : impl_(std::make_unique<impl>()) { impl_->interval = interval; }

checker::~checker() { stop(); }

void checker::add(std::string name, probe p, std::chrono::milliseconds timeout) {
  auto c = std::make_unique<check>();
  c->name = std::move(name);
  c->p = std::move(p);
  c->timeout = timeout;
  impl_->checks.push_back(std::move(c));
}

void checker::start() {
  for (auto& c : impl_->checks) {
    check* cp = c.get();
    c->thread = std::thread([this, cp] { impl_->loop(*cp); });
  }
}

void checker::stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (auto& c : impl_->checks)
    if (c->thread.joinable()) c->thread.join();
}

std::vector<check_result> checker::snapshot() const {
  std::vector<check_result> out;
  std::lock_guard lock(impl_->mu);
  auto now = clock::now();
  for (const auto& c : impl_->checks) {
    check_result r;
    r.name = c->name;
    r.status = c->status;
    r.latency = c->latency;
    r.error = c->error;
    if (c->obtained != clock::time_point{})
      r.age = std::chrono::duration_cast<std::chrono::milliseconds>(now - c->obtained);
    if (c->running && now - c->running_since > c->timeout) {
      // A probe hanging past its deadline (black-holed network) must not keep an old "healthy".
      r.status = state::unhealthy;
      r.error = "timed out";
      r.age = std::chrono::duration_cast<std::chrono::milliseconds>(now - c->running_since);
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool checker::healthy() const {
  for (const auto& r : snapshot())
    if (r.status != state::healthy) return false;
  return true;
}

void checker::poke() {
  {
    std::lock_guard lock(impl_->mu);
    ++impl_->poke_seq;
  }
  impl_->cv.notify_all();
}

}  // namespace zuperior::health
