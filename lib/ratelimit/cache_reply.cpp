#include "ratelimit/cache_reply.hpp"

#include <utility>

namespace zuperior::ratelimit {

store_reply to_store_reply(cache::reply r) {
  store_reply out;
  switch (r.kind) {
    case cache::reply::type::error:
      out.state = store_reply::status::error_reply;
      out.text = std::move(r.text);
      return out;
    case cache::reply::type::array:
      out.state = store_reply::status::ok;
      out.is_array = true;
      out.integers.reserve(r.elements.size());
      for (std::size_t i = 0; i < r.elements.size(); ++i) {
        auto& e = r.elements[i];
        if (e.kind == cache::reply::type::integer && !out.read) {
          out.integers.push_back(e.integer);
          continue;
        }
        // The script's answer is integers, then (check_and_get) the value it read, nil or a string.
        const bool last = i + 1 == r.elements.size();
        if (last && e.kind == cache::reply::type::nil) {
          out.read = true;
        } else if (last && e.kind == cache::reply::type::string) {
          out.read = true;
          out.value = std::move(e.text);
        } else {
          out.is_array = false;
          out.integers.clear();
          out.read = false;
          out.value.reset();
          break;
        }
      }
      return out;
    case cache::reply::type::integer:
      out.state = store_reply::status::ok;
      out.integers.push_back(r.integer);
      return out;
    default:
      out.state = store_reply::status::ok;
      out.text = std::move(r.text);
      return out;
  }
}

}  // namespace zuperior::ratelimit
