#include "api/blocking.hpp"

namespace zuperior::api {

blocking_pool::blocking_pool(std::size_t threads, std::chrono::milliseconds queue_timeout)
    : pool_(threads ? threads : 1), size_(threads ? threads : 1), queue_timeout_(queue_timeout) {}

blocking_pool::~blocking_pool() { stop(); }

void blocking_pool::stop() {
  {
    std::lock_guard lock(post_mu_);
    stopping_.store(true, std::memory_order_relaxed);
  }
  pool_.join();
}

bool blocking_pool::begin(std::chrono::steady_clock::time_point enqueued, http::errc& error, std::string& detail) {
  stats_.waiting.fetch_sub(1, std::memory_order_relaxed);
  stats_.jobs.fetch_add(1, std::memory_order_relaxed);
  if (stopping_.load(std::memory_order_relaxed)) {
    error = http::errc::unavailable;
    detail = "shutting down";
    return false;
  }
  if (std::chrono::steady_clock::now() - enqueued > queue_timeout_) {
    stats_.timeouts.fetch_add(1, std::memory_order_relaxed);
    error = http::errc::unavailable;
    detail = "waited longer than pool_timeout for a CPU pool thread";
    return false;
  }
  stats_.busy.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace zuperior::api
