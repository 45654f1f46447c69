#pragma once
// CPU work kept off the network threads: a fixed set of threads that runs bcrypt (hashing and
// verifying) for the routes. A job that waited longer than its queue timeout for a thread is
// refused (503) instead of adding to the pile. Database work goes to lib/db's pool, not here.
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "http/error.hpp"

namespace zuperior::api {

/// The result of a job: a value, or the HTTP-level error it maps to.
template <class T>
struct outcome {
  std::optional<T> value;
  http::errc error = http::errc::internal;
  std::string detail;  // for logs; never sent to clients
  /// True when the job produced a value.
  explicit operator bool() const { return value.has_value(); }
};

/// Pool figures for /metrics.
struct pool_stats {
  std::atomic<std::int64_t> busy{0};
  std::atomic<std::int64_t> waiting{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> jobs{0};
};

/// Runs CPU-bound work off the network threads.
class blocking_pool {
 public:
  /// `threads` workers; a job not started within `queue_timeout` is refused.
  blocking_pool(std::size_t threads, std::chrono::milliseconds queue_timeout);
  ~blocking_pool();
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  /// Runs `f() -> T` on a pool thread and resumes the caller on its own executor. An exception
  /// becomes 500; a job that waited too long, 503.
  template <class T, class F>
  boost::asio::awaitable<outcome<T>> run(F f) {
    // Deliberately not a coroutine: GCC 12 corrupts closure-typed parameters copied into a coroutine
    // frame (the captured strings were freed twice). The job moves straight to the heap instead, and
    // only a shared_ptr travels between threads; the caller's executor comes from the handler.
    stats_.waiting.fetch_add(1, std::memory_order_relaxed);
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(outcome<T>)>(
        [this, enqueued = std::chrono::steady_clock::now()](auto handler, std::shared_ptr<F> fn) {
          auto ex = boost::asio::get_associated_executor(handler);
          // After stop() a job posted to the joined pool would never run: its caller would wait
          // until the pool's destructor destroyed the handler, after the caller's event loop had
          // gone. Checked and posted under the lock stop() takes, so each job is either queued
          // before the join (which runs it: refused by begin()) or refused here.
          std::unique_lock lock(post_mu_);
          if (stopping_.load(std::memory_order_relaxed)) {
            lock.unlock();
            stats_.waiting.fetch_sub(1, std::memory_order_relaxed);
            outcome<T> out;
            out.error = http::errc::unavailable;
            out.detail = "shutting down";
            boost::asio::post(
                ex, [h = std::move(handler), out = std::move(out)]() mutable { std::move(h)(std::move(out)); });
            return;
          }
          boost::asio::post(pool_, [this, ex, enqueued, h = std::move(handler), fn = std::move(fn)]() mutable {
            outcome<T> out;
            if (begin(enqueued, out.error, out.detail)) {
              try {
                out.value.emplace((*fn)());
              } catch (const std::exception& e) {
                out.error = http::errc::internal;
                out.detail = e.what();
              }
              stats_.busy.fetch_sub(1, std::memory_order_relaxed);
            }
            fn.reset();  // the job's captures die here, on the pool thread, before the caller resumes
            boost::asio::post(ex, [h = std::move(h), out = std::move(out)]() mutable { std::move(h)(std::move(out)); });
          });
        },
        boost::asio::use_awaitable, std::make_shared<F>(std::move(f)));
  }

  /// Refuses the jobs still queued (503) and waits for the running ones: their callers resume on
  /// their own event loops, which must still exist (call it before the HTTP server goes). Idempotent.
  void stop();

  /// The pool's figures.
  const pool_stats& stats() const noexcept { return stats_; }
  /// Threads.
  std::size_t size() const noexcept { return size_; }

 private:
  bool begin(std::chrono::steady_clock::time_point enqueued, http::errc& error, std::string& detail);

  boost::asio::thread_pool pool_;
  std::size_t size_;
  pool_stats stats_;
  std::chrono::milliseconds queue_timeout_;
  std::atomic<bool> stopping_{false};
  std::mutex post_mu_;  // orders run()'s check-and-post against stop()
};

}  // namespace zuperior::api
