#pragma once
// Exact-path routing by method; unknown paths are 404, known paths with another method 405.
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/message.hpp"

namespace zuperior::http {

/// A route handler: runs on the connection's worker thread; blocking work must be offloaded.
using handler = std::function<boost::asio::awaitable<response>(request_context&)>;

/// Maps (method, path) to handlers. Built before the server starts, read-only afterwards.
class router {
 public:
  /// Registers `h` for `method` on the exact `path` (e.g. "/apis/auth/login").
  void add(verb method, std::string path, handler h);

  /// The outcome of a lookup.
  struct match {
    const handler* found = nullptr;  // null: not found or wrong method
    bool path_known = false;         // true with found == null: 405
    std::string allow;               // methods for the Allow header on 405
    std::string_view route;          // the pattern, for metrics labels
  };
  /// Finds the handler for `method` and `path` (without query string).
  match find(verb method, std::string_view path) const;
  /// All registered paths (for diagnostics and tests).
  std::vector<std::string> paths() const;

 private:
  struct entry {
    std::string path;
    std::vector<std::pair<verb, handler>> methods;
  };
  std::unordered_map<std::string, entry> routes_;
};

}  // namespace zuperior::http
