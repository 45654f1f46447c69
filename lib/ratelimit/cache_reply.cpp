#include "ratelimit/cache_reply.hpp"

namespace zuperior::ratelimit {

store_reply to_store_reply(const cache::reply& r) {
  store_reply out;
  switch (r.kind) {
    case cache::reply::type::error:
      out.state = store_reply::status::error_reply;
      out.text = r.text;
      return out;
    case cache::reply::type::array:
      out.state = store_reply::status::ok;
      out.is_array = true;
      for (const auto& e : r.elements) {
        if (e.kind != cache::reply::type::integer) {  // the script only returns integers
          out.is_array = false;
          out.integers.clear();
          break;
        }
        out.integers.push_back(e.integer);
      }
      return out;
    case cache::reply::type::integer:
      out.state = store_reply::status::ok;
      out.integers.push_back(r.integer);
      return out;
    default:
      out.state = store_reply::status::ok;
      out.text = r.text;
      return out;
  }
}

}  // namespace zuperior::ratelimit
