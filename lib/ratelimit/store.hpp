#pragma once
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace zuperior::ratelimit {

/// A Redis reply as the limiter needs it.
struct store_reply {
  enum class status { ok, error_reply, unavailable };
  status state = status::unavailable;
  std::string text;                    // bulk/status text, or the error reply's message (NOSCRIPT …)
  std::vector<std::int64_t> integers;  // an array reply of integers (the script's answer)
  bool is_array = false;
  /// A string or nil element after the integers (the key check_and_get() read): `read` says there
  /// was one, `value` is nullopt for nil.
  bool read = false;
  std::optional<std::string> value;
};

/// What the limiter needs from Redis: one command at a time, never throwing. Implemented over
/// cache::async_client by cache_store; tests may supply their own.
class store {
 public:
  virtual ~store() = default;
  /// Runs one command (binary-safe arguments); failures are reported in the reply, not thrown.
  virtual boost::asio::awaitable<store_reply> command(std::vector<std::string> args) = 0;
};

}  // namespace zuperior::ratelimit
