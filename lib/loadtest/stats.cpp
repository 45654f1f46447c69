#include "loadtest/stats.hpp"

#include <algorithm>

namespace zuperior::loadtest {

void step_stats::add_not_sent(std::uint64_t n) noexcept {
  requests += n;
  not_sent += n;
  errors[static_cast<int>(error_kind::timeout)] += n;
}

std::vector<std::uint64_t> split_by_weight(std::uint64_t n, const std::vector<unsigned>& weights) {
  std::vector<std::uint64_t> out(weights.size(), 0);
  if (weights.empty()) return out;
  unsigned __int128 total = 0;
  for (auto w : weights) total += w;
  if (total == 0) {
    out[0] = n;
    return out;
  }
  // Whole shares first (n × weight overflows 64 bits for a month at the highest rate), then the
  // rest one each to the largest remainders.
  std::vector<std::pair<unsigned __int128, std::size_t>> remainders;
  std::uint64_t given = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    auto x = static_cast<unsigned __int128>(n) * weights[i];
    out[i] = static_cast<std::uint64_t>(x / total);
    given += out[i];
    remainders.emplace_back(x % total, i);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; given < n; ++k, ++given) ++out[remainders[k].second];
  return out;
}

void step_stats::merge(const step_stats& o) {
  latency.merge(o.latency);
  requests += o.requests;
  not_sent += o.not_sent;
  ok += o.ok;
  for (std::size_t i = 0; i < errors.size(); ++i) errors[i] += o.errors[i];
  for (std::size_t i = 0; i < status_classes.size(); ++i) status_classes[i] += o.status_classes[i];
}

void ws_stats::merge(const ws_stats& o) {
  connect_latency.merge(o.connect_latency);
  ack_latency.merge(o.ack_latency);
  delivery.merge(o.delivery);
  attempted += o.attempted;
  connected += o.connected;
  connect_errors += o.connect_errors;
  disconnects += o.disconnects;
  acks += o.acks;
  ack_timeouts += o.ack_timeouts;
  ack_errors += o.ack_errors;
  received += o.received;
  delivered += o.delivered;
  sequenced += o.sequenced;
  lost += o.lost;
  out_of_order += o.out_of_order;
  duplicates += o.duplicates;
  missing_events += o.missing_events;
  protocol_errors += o.protocol_errors;
  for (const auto& [k, v] : o.events) count_event(k, v);
  for (const auto& [k, v] : o.connect_error_kinds) connect_error_kinds[k] += v;
}

void ws_stats::count_event(std::string_view name, std::uint64_t n) {
  auto it = events.find(name);
  if (it != events.end()) {
    it->second += n;
    return;
  }
  const bool printable = std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (name.empty() || name.size() > max_event_name || !printable || events.size() >= max_event_names)
    name = other_events;
  events[std::string(name)] += n;
}

void generator_stats::merge(const generator_stats& o) {
  lag.merge(o.lag);
  loop_delay.merge(o.loop_delay);
  scheduled += o.scheduled;
  started += o.started;
  not_started += o.not_started;
}

void timeline_collector::report(unsigned second, const histogram& http, std::uint64_t requests, std::uint64_t errors,
                                const histogram& delivery, std::uint64_t ws_received, std::uint64_t ws_connected) {
  std::lock_guard lock(mutex_);
  auto& p = open_[second];
  p.http.merge(http);
  p.delivery.merge(delivery);
  p.requests += requests;
  p.errors += errors;
  p.ws_received += ws_received;
  p.ws_connected += ws_connected;
  if (++p.reports == threads_) {
    close(second, p);
    open_.erase(second);
  }
}

void timeline_collector::close(unsigned second, pending& p) {
  timeline_point t;
  t.t = second + 1;
  t.requests = p.requests;
  t.errors = p.errors;
  t.p50 = p.http.percentile(0.5);
  t.p90 = p.http.percentile(0.9);
  t.p99 = p.http.percentile(0.99);
  t.max = p.http.max();
  t.ws_received = p.ws_received;
  t.ws_connected = p.ws_connected;
  t.delivery_p99 = p.delivery.percentile(0.99);
  done_.push_back(t);
}

std::vector<timeline_point> timeline_collector::finish() {
  std::lock_guard lock(mutex_);
  for (auto& [s, p] : open_) close(s, p);
  open_.clear();
  std::sort(done_.begin(), done_.end(), [](const auto& a, const auto& b) { return a.t < b.t; });
  return done_;
}

}  // namespace zuperior::loadtest
