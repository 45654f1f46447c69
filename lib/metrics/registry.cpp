#include "metrics/registry.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace zuperior::metrics {

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    // Plain decimals in the usual range (bucket bounds read "0.0001", not "1e-04"), shortest round-trip always.
    char buf[64];
    const double a = std::fabs(v);
    const bool plain = a == 0 || (a >= 1e-6 && a < 1e15);
    auto [end, ec] = plain ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                           : std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  }
}

template <class F>
F& registry::add(const std::string& name, const std::string& help, metric_type type,
                 std::vector<std::string> label_names, std::vector<double> bounds) {
  if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name: " + name);
  if (type != metric_type::counter && name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0)
    throw std::invalid_argument("metric " + name + ": only a counter may be named *_total");
  for (const auto& l : label_names) {
    if (!valid_label_name(l)) throw std::invalid_argument("metric " + name + ": invalid label name: " + l);
    if (type == metric_type::histogram && l == "le")
      throw std::invalid_argument("metric " + name + ": a histogram cannot have a label named le");
  }
  if (type == metric_type::histogram) histogram check(bounds);  // validates the bounds before registering
  std::lock_guard lock(mu_);
  if (auto it = families_.find(name); it != families_.end()) {
    auto* existing = dynamic_cast<F*>(it->second.get());
    if (!existing || existing->type() != type || existing->label_names() != label_names)
      throw std::invalid_argument("metric " + name + " is already registered with another type or labels");
    return *existing;
  }
  auto f = std::make_unique<F>(name, help, type, std::move(label_names), std::move(bounds));
  F& ref = *f;
  families_.emplace(name, std::move(f));
  return ref;
}

counter_family& registry::add_counter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  return add<counter_family>(name, help, metric_type::counter, std::move(label_names), {});
}

gauge_family& registry::add_gauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  return add<gauge_family>(name, help, metric_type::gauge, std::move(label_names), {});
}

histogram_family& registry::add_histogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names, std::vector<double> bounds) {
  return add<histogram_family>(name, help, metric_type::histogram, std::move(label_names), std::move(bounds));
}

gauge& registry::add_callback_gauge(const std::string& name, const std::string& help, std::function<double()> fn) {
  auto& f = add_gauge(name, help);
  f.set_callback({}, std::move(fn));
  return f.get();
}

counter& registry::add_callback_counter(const std::string& name, const std::string& help, std::function<double()> fn) {
  auto& f = add_counter(name, help);
  f.set_callback({}, std::move(fn));
  return f.get();
}

std::string registry::render() const {
  std::string out;
  std::lock_guard lock(mu_);
  out.reserve(families_.size() * 256);
  for (const auto& [name, f] : families_) f->render(out);
  return out;
}

const family_base* registry::find(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  return it == families_.end() ? nullptr : it->second.get();
}

registry& default_registry() {
  static registry* r = new registry;  // never destroyed: threads may still count while the process exits
  return *r;
}

}  // namespace zuperior::metrics
