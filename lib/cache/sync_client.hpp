#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cache/reply.hpp"

namespace zuperior::cache {

/// A Redis failure (connect, timeout, or an error reply).
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A blocking Redis connection for control-plane tools (envcheck, ratelimit inspect/reset, tests).
/// The daemon's network threads never use it.
class sync_client {
 public:
  /// Connects to a redis:// URL (AUTH and SELECT from it); throws cache::error.
  static std::unique_ptr<sync_client> connect(const std::string& url, std::chrono::milliseconds timeout);
  ~sync_client();
  sync_client(const sync_client&) = delete;
  sync_client& operator=(const sync_client&) = delete;

  /// Runs one command; an error reply is returned as type::error, I/O failures throw.
  reply command(const std::vector<std::string>& args);
  /// PING; throws unless the answer is PONG.
  void ping();
  /// Writes `key` (expiring in 10 s); throws cache::error("refuses writes: ...") when Redis answers
  /// but will not write (maxmemory with noeviction, a read-only replica, a failed save).
  void write_probe(const std::string& key);

 private:
  sync_client(void* ctx, std::chrono::milliseconds timeout) : ctx_(ctx), timeout_(timeout) {}
  void* ctx_;  // redisContext*
  std::chrono::milliseconds timeout_;
};

}  // namespace zuperior::cache
