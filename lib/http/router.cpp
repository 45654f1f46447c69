#include "http/router.hpp"

#include <boost/beast/http/verb.hpp>

namespace zuperior::http {

void router::add(verb method, std::string path, handler h) {
  auto& e = routes_[path];
  e.path = path;
  for (auto& [m, existing] : e.methods)
    if (m == method) {
      existing = std::move(h);
      return;
    }
  e.methods.emplace_back(method, std::move(h));
}

router::match router::find(verb method, std::string_view path) const {
  match m;
  auto it = routes_.find(std::string(path));
  if (it == routes_.end()) return m;
  m.path_known = true;
  m.route = it->second.path;
  for (const auto& [v, h] : it->second.methods) {
    if (v == method || (method == verb::head && v == verb::get)) {
      m.found = &h;
      return m;
    }
  }
  for (const auto& [v, h] : it->second.methods) {
    if (!m.allow.empty()) m.allow += ", ";
    auto name = boost::beast::http::to_string(v);
    m.allow.append(name.data(), name.size());
  }
  return m;
}

std::vector<std::string> router::paths() const {
  std::vector<std::string> out;
  for (const auto& [p, e] : routes_) out.push_back(p);
  return out;
}

}  // namespace zuperior::http
