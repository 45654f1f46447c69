#include "metrics/family.hpp"

#include <mutex>
#include <stdexcept>

#include "metrics/registry.hpp"

namespace zuperior::metrics {

namespace {

// Label values joined with a length prefix each, so ("a,b","c") and ("a","b,c") never collide.
template <class It>
void make_key(std::string& key, It begin, It end) {
  key.clear();
  for (It it = begin; it != end; ++it) {
    const std::string_view v(*it);
    const auto n = static_cast<std::uint32_t>(v.size());
    key.append(reinterpret_cast<const char*>(&n), sizeof n);
    key.append(v);
  }
}

void append_labels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    append_label_value(out, values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void append_help(std::string& out, std::string_view help) {
  // HELP escapes only backslash and newline.
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

const char* type_name(metric_type t) {
  switch (t) {
    case metric_type::counter:
      return "counter";
    case metric_type::gauge:
      return "gauge";
    case metric_type::histogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

family_base::family_base(std::string name, std::string help, metric_type type, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {}

template <class T>
family<T>::family(std::string name, std::string help, metric_type type, std::vector<std::string> label_names,
                  std::vector<double> bounds)
    : family_base(std::move(name), std::move(help), type, std::move(label_names)), bounds_(std::move(bounds)) {}

template <class T>
family<T>::~family() = default;

template <class T>
template <class It>
T& family<T>::lookup(It begin, It end, std::size_t n) {
  if (n != label_names().size()) {
    throw std::invalid_argument("metric " + name() + ": expected " + std::to_string(label_names().size()) +
                                " label values, got " + std::to_string(n));
  }
  thread_local std::string key;
  make_key(key, begin, end);
  {
    std::shared_lock lock(mu_);
    if (auto it = children_.find(key); it != children_.end()) return *it->second.metric;
  }
  std::unique_lock lock(mu_);
  if (auto it = children_.find(key); it != children_.end()) return *it->second.metric;
  child c;
  for (It it = begin; it != end; ++it) c.values.emplace_back(std::string_view(*it));
  if constexpr (std::is_same_v<T, histogram>) {
    c.metric = std::make_unique<T>(bounds_);
  } else {
    c.metric = std::make_unique<T>();
  }
  T& ref = *c.metric;
  children_.emplace(key, std::move(c));
  return ref;
}

template <class T>
T& family<T>::labels(std::initializer_list<std::string_view> values) {
  return lookup(values.begin(), values.end(), values.size());
}

template <class T>
T& family<T>::labels(const std::vector<std::string>& values) {
  return lookup(values.begin(), values.end(), values.size());
}

template <class T>
void family<T>::set_callback(std::initializer_list<std::string_view> values, std::function<double()> fn) {
  if constexpr (std::is_same_v<T, histogram>) {
    throw std::logic_error("metric " + name() + ": a histogram cannot be read from a callback");
  } else {
    T& child = labels(values);
    std::unique_lock lock(mu_);
    child.set_callback(std::move(fn));
  }
}

template <class T>
bool family<T>::remove(std::initializer_list<std::string_view> values) {
  std::string key;
  make_key(key, values.begin(), values.end());
  std::unique_lock lock(mu_);
  return children_.erase(key) > 0;
}

template <class T>
void family<T>::render(std::string& out) const {
  out += "# HELP ";
  out += name();
  out += ' ';
  append_help(out, help());
  out += "\n# TYPE ";
  out += name();
  out += ' ';
  out += type_name(type());
  out += '\n';
  std::shared_lock lock(mu_);
  for (const auto& [key, c] : children_) {
    if constexpr (std::is_same_v<T, histogram>) {
      const auto snap = c.metric->snapshot();
      std::uint64_t cumulative = 0;
      std::string le;
      for (std::size_t i = 0; i < snap.counts.size(); ++i) {
        cumulative += snap.counts[i];
        le.clear();
        if (i < snap.bounds.size())
          append_number(le, snap.bounds[i]);
        else
          le = "+Inf";
        out += name();
        out += "_bucket";
        append_labels(out, label_names(), c.values, "le", le);
        out += ' ';
        out += std::to_string(cumulative);
        out += '\n';
      }
      out += name();
      out += "_sum";
      append_labels(out, label_names(), c.values);
      out += ' ';
      append_number(out, snap.sum);
      out += '\n';
      out += name();
      out += "_count";
      append_labels(out, label_names(), c.values);
      out += ' ';
      out += std::to_string(snap.count);
      out += '\n';
    } else {
      out += name();
      append_labels(out, label_names(), c.values);
      out += ' ';
      append_number(out, c.metric->value());
      out += '\n';
    }
  }
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

}  // namespace zuperior::metrics
