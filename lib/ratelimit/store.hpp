#pragma once
#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "cache/reply.hpp"

namespace zuperior::ratelimit {

/// One command's outcome as the limiter needs it.
struct store_reply {
  enum class status { ok, error_reply, unavailable };
  status state = status::unavailable;
  cache::reply value;  // ok: the reply; error_reply: its message in value.text (OOM, WRONGTYPE, …)
};

/// What the limiter needs from Redis: a few commands sent together, never throwing. Implemented over
/// cache::async_client by cache_store; tests may supply their own.
class store {
 public:
  virtual ~store() = default;
  /// Runs `commands` (binary-safe arguments) as one pipeline: one reply per command, in order;
  /// failures are reported in the replies, not thrown.
  virtual boost::asio::awaitable<std::vector<store_reply>> pipeline(std::vector<std::vector<std::string>> commands) = 0;
};

}  // namespace zuperior::ratelimit
