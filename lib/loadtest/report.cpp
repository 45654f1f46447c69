#include "loadtest/report.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "core/version.hpp"

namespace zuperior::loadtest {
namespace {

using json = nlohmann::json;

std::optional<double> latency_stat(const histogram& h, std::string_view stat) {
  if (h.count() == 0) return std::nullopt;
  if (stat == "p50" || stat == "med") return h.percentile(0.5);
  if (stat == "p90") return h.percentile(0.9);
  if (stat == "p95") return h.percentile(0.95);
  if (stat == "p99") return h.percentile(0.99);
  if (stat == "p99.9") return h.percentile(0.999);
  if (stat == "max") return h.max();
  if (stat == "min") return h.min();
  if (stat == "avg") return h.mean();
  return std::nullopt;
}

std::optional<double> step_metric(const step_stats& s, std::string_view stat, double elapsed) {
  if (auto v = latency_stat(s.latency, stat)) return v;
  auto kind = [&](error_kind k) { return static_cast<double>(s.errors[static_cast<int>(k)]); };
  if (stat == "errors")
    return s.requests ? static_cast<double>(s.error_count()) / static_cast<double>(s.requests) : 0.0;
  if (stat == "error_count") return static_cast<double>(s.error_count());
  if (stat == "requests") return static_cast<double>(s.requests);
  if (stat == "rps") return s.rps(elapsed);
  if (stat == "status_errors") return kind(error_kind::status);
  if (stat == "timeouts") return kind(error_kind::timeout);
  if (stat == "connect_errors") return kind(error_kind::connect);
  if (stat == "protocol_errors") return kind(error_kind::protocol);
  return std::nullopt;
}

json latency_json(const histogram& h) {
  return {{"count", h.count()},
          {"min", h.min()},
          {"mean", std::round(h.mean())},
          {"p50", h.percentile(0.5)},
          {"p90", h.percentile(0.9)},
          {"p95", h.percentile(0.95)},
          {"p99", h.percentile(0.99)},
          {"p999", h.percentile(0.999)},
          {"max", h.max()}};
}

json step_json(const step_stats& s, double elapsed) {
  return {{"requests", s.requests},
          {"not_sent", s.not_sent},
          {"ok", s.ok},
          {"rps", s.rps(elapsed)},
          {"error_rate", s.requests ? static_cast<double>(s.error_count()) / static_cast<double>(s.requests) : 0.0},
          {"errors",
           {{"total", s.error_count()},
            {"status", s.errors[0]},
            {"timeout", s.errors[1]},
            {"connect", s.errors[2]},
            {"protocol", s.errors[3]}}},
          {"status_classes",
           {{"1xx", s.status_classes[1]},
            {"2xx", s.status_classes[2]},
            {"3xx", s.status_classes[3]},
            {"4xx", s.status_classes[4]},
            {"5xx", s.status_classes[5]}}},
          {"latency_us", latency_json(s.latency)}};
}

json histogram_buckets(const histogram& h) {
  json a = json::array();
  for (std::size_t i = 0; i < histogram::bucket_count(); ++i)
    if (auto c = h.count_at(i)) a.push_back({histogram::highest_of(i), c});
  return a;
}

std::string ms(double us) {
  if (us >= 1e6) return fmt::format("{:.2f}s", us / 1e6);
  if (us >= 1e3) return fmt::format("{:.2f}ms", us / 1e3);
  return fmt::format("{:.0f}us", us);
}

std::string lat_row(const std::string& name, const step_stats& s, double elapsed) {
  const auto& h = s.latency;
  return fmt::format("  {:<22} {:>9} {:>9.1f} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n", name, s.requests,
                     s.rps(elapsed), s.error_count(), ms(h.percentile(0.5)), ms(h.percentile(0.9)),
                     ms(h.percentile(0.95)), ms(h.percentile(0.99)), ms(h.percentile(0.999)), ms(h.max()));
}

std::string html_escape(std::string_view s) {
  std::string o;
  for (char c : s) switch (c) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  return o;
}

// A line chart of series over time (seconds), y in milliseconds.
std::string svg_timeline(const std::vector<timeline_point>& tl) {
  const int W = 760, H = 260, L = 60, B = 30, T = 10, R = 10;
  double tmax = 1, ymax = 1;
  for (const auto& p : tl) {
    tmax = std::max(tmax, p.t);
    ymax = std::max(ymax, static_cast<double>(p.max) / 1e3);
  }
  auto x = [&](double t) { return L + (W - L - R) * t / tmax; };
  auto y = [&](double v) { return H - B - (H - B - T) * v / ymax; };
  std::string s =
      fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-size="11">)", W, H);
  s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>)", L, T, W - L - R,
                   H - B - T);
  for (int i = 0; i <= 4; ++i) {
    double v = ymax * i / 4;
    s += fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end">{:.2f}ms</text>)", L - 4, y(v) + 4, v);
    s += fmt::format(R"(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="#eee"/>)", L, W - R, y(v), y(v));
  }
  s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{:.0f}s</text>)", W - R, H - 8, tmax);
  s += fmt::format(R"(<text x="{}" y="{}">0s</text>)", L, H - 8);
  struct series {
    const char* name;
    const char* color;
    std::uint64_t timeline_point::*field;
  } all[] = {{"p50", "#2a7", &timeline_point::p50},
             {"p99", "#e80", &timeline_point::p99},
             {"max", "#c22", &timeline_point::max}};
  int lx = L + 10;
  for (const auto& se : all) {
    std::string pts;
    for (const auto& p : tl) pts += fmt::format("{:.1f},{:.1f} ", x(p.t), y(static_cast<double>(p.*(se.field)) / 1e3));
    s += fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>)", se.color, pts);
    s += fmt::format(R"(<text x="{}" y="{}" fill="{}">{}</text>)", lx, T + 14, se.color, se.name);
    lx += 40;
  }
  return s + "</svg>";
}

// Bars of the latency distribution on a logarithmic axis (one bar per bucket group).
std::string svg_histogram(const histogram& h) {
  const int W = 760, H = 220, L = 60, B = 30, T = 10, R = 10;
  std::string s =
      fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-size="11">)", W, H);
  if (h.count() == 0) return s + R"(<text x="20" y="40">no samples</text></svg>)";
  // Group into 60 log-spaced bins between min and max.
  double lo = std::log10(std::max<double>(1, static_cast<double>(h.min()))),
         hi = std::log10(std::max<double>(2, static_cast<double>(h.max()) + 1));
  if (hi <= lo) hi = lo + 1;
  const int bins = 60;
  std::vector<double> c(bins, 0);
  for (std::size_t i = 0; i < histogram::bucket_count(); ++i)
    if (auto n = h.count_at(i)) {
      double v = std::log10(std::max<double>(1, static_cast<double>(histogram::highest_of(i))));
      int b = std::clamp(static_cast<int>((v - lo) / (hi - lo) * bins), 0, bins - 1);
      c[b] += static_cast<double>(n);
    }
  double cmax = *std::max_element(c.begin(), c.end());
  double bw = static_cast<double>(W - L - R) / bins;
  for (int b = 0; b < bins; ++b) {
    double bh = cmax > 0 ? (H - B - T) * c[b] / cmax : 0;
    s += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="#47c"/>)", L + b * bw,
                     H - B - bh, bw - 1, bh);
  }
  for (int i = 0; i <= 4; ++i) {
    double v = std::pow(10, lo + (hi - lo) * i / 4);
    s += fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", L + (W - L - R) * i / 4.0, H - 10,
                     ms(v));
  }
  s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}</text>)", L - 4, T + 10,
                   static_cast<std::uint64_t>(cmax));
  return s + "</svg>";
}

}  // namespace

std::optional<double> metric_value(const run_result& r, const std::string& metric, const std::string& step) {
  auto stat_after = [&](std::string_view prefix) { return std::string_view(metric).substr(prefix.size()); };
  if (metric.starts_with("http.")) {
    if (step.empty()) {
      if (r.steps.empty()) return std::nullopt;
      return step_metric(r.overall, stat_after("http."), r.elapsed_s);
    }
    for (const auto* list : {&r.steps, &r.setup_steps})
      for (const auto& [name, st] : *list)
        if (name == step) return step_metric(st, stat_after("http."), r.elapsed_s);
    return std::nullopt;
  }
  if (metric.starts_with("generator.lag.")) return latency_stat(r.generator.lag, stat_after("generator.lag."));
  if (metric.starts_with("generator.loop_delay."))
    return latency_stat(r.generator.loop_delay, stat_after("generator.loop_delay."));
  if (!r.ws_enabled) return std::nullopt;
  const auto& w = r.ws;
  if (metric.starts_with("ws.delivery.")) {
    auto st = stat_after("ws.delivery.");
    if (st == "lost_ratio") {
      if (!w.loss_measured()) return std::nullopt;
      auto total = w.delivered + w.lost;
      return total ? static_cast<double>(w.lost) / static_cast<double>(total) : 0.0;
    }
    return latency_stat(w.delivery, st);
  }
  if (metric.starts_with("ws.connect.")) return latency_stat(w.connect_latency, stat_after("ws.connect."));
  if (metric.starts_with("ws.ack.")) {
    auto st = stat_after("ws.ack.");
    if (st == "timeouts") return static_cast<double>(w.ack_timeouts);
    if (st == "errors") return static_cast<double>(w.ack_errors);
    return latency_stat(w.ack_latency, st);
  }
  auto st = stat_after("ws.");
  if (st == "connect_errors") return static_cast<double>(w.connect_errors);
  if (st == "connected") return static_cast<double>(w.connected);
  if (st == "disconnects") return static_cast<double>(w.disconnects);
  // Loss and order come from the ticks' seq: a server that drops it leaves them unmeasured, not 0.
  if (st == "lost" || st == "out_of_order") {
    if (!w.loss_measured()) return std::nullopt;
    return static_cast<double>(st == "lost" ? w.lost : w.out_of_order);
  }
  if (st == "received") return static_cast<double>(w.received);
  if (st == "missing_events") return static_cast<double>(w.missing_events);
  if (st == "protocol_errors") return static_cast<double>(w.protocol_errors);
  if (st == "messages_per_s") return r.elapsed_s > 0 ? static_cast<double>(w.received) / r.elapsed_s : 0.0;
  return std::nullopt;
}

std::vector<threshold_result> evaluate(const std::vector<threshold>& ts, const run_result& r) {
  std::vector<threshold_result> out;
  for (const auto& t : ts) {
    threshold_result x{t, metric_value(r, t.metric, t.step), false};
    x.pass = x.actual && compare(*x.actual, t.op, t.value);
    out.push_back(std::move(x));
  }
  return out;
}

namespace {

bool no_http_answer(const run_result& r) {
  const auto& e = r.overall.errors;
  return r.overall.requests > 0 && e[static_cast<int>(error_kind::connect)] + e[static_cast<int>(error_kind::timeout)] +
                                           e[static_cast<int>(error_kind::protocol)] ==
                                       r.overall.requests;
}

// Not one virtual user got through the setup (a login that never hands out a token): the load
// ran without what the setup was for.
bool no_setup(const run_result& r) {
  return !r.setup_steps.empty() && r.setup_steps.front().second.requests > 0 && r.setup_steps.back().second.ok == 0;
}

bool no_socketio_answer(const run_result& r) {
  const auto& w = r.ws;
  return r.ws_enabled && w.attempted > 0 && w.connected == 0 && !w.connect_error_kinds.contains("refused");
}

}  // namespace

bool nothing_answered(const run_result& r) { return no_http_answer(r) || no_setup(r) || no_socketio_answer(r); }

std::string nothing_answered_why(const run_result& r) {
  std::string why;
  if (no_http_answer(r)) {
    const auto& e = r.overall.errors;
    why = fmt::format("answered none of {} requests ({} failed to connect, {} timed out, {} broken answers)",
                      r.overall.requests, e[static_cast<int>(error_kind::connect)],
                      e[static_cast<int>(error_kind::timeout)], e[static_cast<int>(error_kind::protocol)]);
  }
  if (no_setup(r)) {
    std::string failed;
    for (const auto& [name, st] : r.setup_steps)
      if (st.error_count()) failed += fmt::format(", {} failed {} times", name, st.error_count());
    why += fmt::format("{}let none of {} virtual users through the setup{}", why.empty() ? "" : "; ",
                       r.setup_steps.front().second.requests, failed);
  }
  if (no_socketio_answer(r)) {
    std::string kinds;
    for (const auto& [k, v] : r.ws.connect_error_kinds)
      kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", v, k);
    why += fmt::format("{}answered none of {} Socket.IO connects ({})", why.empty() ? "" : "; ", r.ws.attempted, kinds);
  }
  return why;
}

std::string_view verdict_word(int verdict) { return verdict == 0 ? "PASS" : verdict == 2 ? "NO ANSWER" : "FAIL"; }

int verdict(const run_result& r, const std::vector<threshold_result>& th, bool allow_lag) {
  if (nothing_answered(r)) return 2;
  if (!r.failures.empty()) return 1;
  for (const auto& t : th)
    if (!t.pass) return 1;
  if (r.lagging && !allow_lag) return 1;
  return 0;
}

std::string summary_text(const scenario& s, const run_result& r, const std::vector<threshold_result>& th,
                         bool allow_lag) {
  std::string o = fmt::format("\nscenario {} against {}: {:.1f}s of load", s.name, s.target, r.elapsed_s);
  if (r.setup_s > 0) o += fmt::format(" after {:.1f}s of setup", r.setup_s);
  o += "\n";
  if (!r.steps.empty()) {
    o += fmt::format("\n  {:<22} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n", "http step", "requests",
                     "req/s", "errors", "p50", "p90", "p95", "p99", "p99.9", "max");
    for (const auto& [n, st] : r.setup_steps) o += lat_row("setup: " + n, st, r.setup_s);  // as in the JSON
    for (const auto& [n, st] : r.steps) o += lat_row(n, st, r.elapsed_s);
    if (r.steps.size() > 1) o += lat_row("all steps", r.overall, r.elapsed_s);
    const auto& e = r.overall.errors;
    if (r.overall.error_count())
      o += fmt::format("  errors: {} status, {} timeout, {} connect, {} protocol\n", e[0], e[1], e[2], e[3]);
    if (r.overall.not_sent)
      o += fmt::format("  {} scheduled requests were never sent: counted as timeouts, not in req/s\n",
                       r.overall.not_sent);
    o += s.http.model == load_model::open
             ? "  latency is measured from each request's scheduled start (coordinated omission corrected)\n"
             : "  closed model: latency is measured from each request's send (each connection waits for its "
               "answer, so a stall delays the requests behind it instead of showing in their latency)\n";
  }
  if (r.ws_enabled) {
    const auto& w = r.ws;
    o += fmt::format("\n  socket.io: {} connected of {} attempted, {} connect errors, {} dropped by the server\n",
                     w.connected, w.attempted, w.connect_errors, w.disconnects);
    for (const auto& [k, v] : w.connect_error_kinds) o += fmt::format("    connect errors ({}): {}\n", k, v);
    o += fmt::format("  connect latency p50 {} p99 {} max {}\n", ms(w.connect_latency.percentile(0.5)),
                     ms(w.connect_latency.percentile(0.99)), ms(w.connect_latency.max()));
    if (w.acks || w.ack_timeouts)
      o += fmt::format("  acks {} (timeouts {}, errors {}) p50 {} p99 {}\n", w.acks, w.ack_timeouts, w.ack_errors,
                       ms(w.ack_latency.percentile(0.5)), ms(w.ack_latency.percentile(0.99)));
    o += fmt::format("  received {} messages ({:.0f}/s)", w.received,
                     r.elapsed_s > 0 ? static_cast<double>(w.received) / r.elapsed_s : 0.0);
    for (const auto& [k, v] : w.events) o += fmt::format(", {} {}", v, k);
    o += "\n";
    if (r.published || w.delivered)
      o += fmt::format("  published {} ticks; delivered {}: p50 {} p99 {} p99.9 {} max {}; {}\n", r.published,
                       w.delivered, ms(w.delivery.percentile(0.5)), ms(w.delivery.percentile(0.99)),
                       ms(w.delivery.percentile(0.999)), ms(w.delivery.max()),
                       w.loss_measured() ? fmt::format("lost {}, out of order {}", w.lost, w.out_of_order)
                                         : std::string("loss and ordering not measured (no tick carried a seq)"));
    if (w.missing_events) o += fmt::format("  {} client(s) missed an expected event\n", w.missing_events);
    if (w.protocol_errors)
      o += fmt::format("  {} frame(s) or packet(s) from the server were not Socket.IO\n", w.protocol_errors);
  }
  for (const auto& n : r.notes) o += fmt::format("  note: {}\n", n);
  o += fmt::format("\n  generator: lag p99 {} max {}, event-loop delay p99 {} max {}",
                   ms(r.generator.lag.percentile(0.99)), ms(r.generator.lag.max()),
                   ms(r.generator.loop_delay.percentile(0.99)), ms(r.generator.loop_delay.max()));
  if (r.generator.scheduled)
    o += fmt::format(", {} of {} scheduled requests started", r.generator.started, r.generator.scheduled);
  o += "\n";
  for (const auto& why : r.lag_reasons)
    o += fmt::format("  GENERATOR LAGGED: {}{}\n", why, allow_lag ? " (allowed by --allow-lag)" : "");
  for (const auto& why : r.failures) o += fmt::format("  RUN FAILED: {}\n", why);
  if (!th.empty()) {
    o += "\n  thresholds\n";
    for (const auto& t : th)
      o += fmt::format("    {} {:<36} actual {}\n", t.pass ? "ok  " : "FAIL", t.t.text,
                       t.actual ? format_metric_value(t.t.kind, *t.actual) : "not measured");
  }
  o += fmt::format("\n  verdict: {}\n", verdict_word(verdict(r, th, allow_lag)));
  return o;
}

std::string report_json(const scenario& s, const run_result& r, const std::vector<threshold_result>& th,
                        bool allow_lag) {
  json j;
  j["schema"] = "zuperior.loadtest/1";
  j["version"] = std::string(core::version());
  j["scenario"] = {{"name", s.name}, {"file", s.file}, {"target", s.target}, {"threads", s.threads}};
  j["run_id"] = r.run_id;
  j["started_at"] =
      fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(r.started_at)));
  j["elapsed_s"] = r.elapsed_s;
  j["setup_s"] = r.setup_s;
  int v = verdict(r, th, allow_lag);
  j["passed"] = v == 0;
  j["exit_code"] = v;
  json http = nullptr;
  if (!r.steps.empty()) {
    http = json::object();
    http["overall"] = step_json(r.overall, r.elapsed_s);
    http["steps"] = json::object();
    for (const auto& [n, st] : r.steps) http["steps"][n] = step_json(st, r.elapsed_s);
    http["setup"] = json::object();
    for (const auto& [n, st] : r.setup_steps) http["setup"][n] = step_json(st, r.setup_s);
    http["histogram"] = histogram_buckets(r.overall.latency);
  }
  j["http"] = http;
  json ws = nullptr;
  if (r.ws_enabled) {
    const auto& w = r.ws;
    auto if_measured = [&](std::uint64_t n) { return w.loss_measured() ? json(n) : json(nullptr); };
    ws = {{"attempted", w.attempted},
          {"connected", w.connected},
          {"connect_errors", w.connect_errors},
          {"connect_error_kinds", w.connect_error_kinds},
          {"disconnects", w.disconnects},
          {"connect_latency_us", latency_json(w.connect_latency)},
          {"acks", {{"ok", w.acks}, {"timeouts", w.ack_timeouts}, {"errors", w.ack_errors}}},
          {"ack_latency_us", latency_json(w.ack_latency)},
          {"received", w.received},
          {"messages_per_s", r.elapsed_s > 0 ? static_cast<double>(w.received) / r.elapsed_s : 0.0},
          {"events", w.events},
          {"missing_events", w.missing_events},
          {"protocol_errors", w.protocol_errors},
          {"delivery",
           {{"published", r.published},
            {"publish_errors", r.publish_errors},
            {"delivered", w.delivered},
            {"lost", if_measured(w.lost)},
            {"out_of_order", if_measured(w.out_of_order)},
            {"duplicates", if_measured(w.duplicates)},
            {"latency_us", latency_json(w.delivery)}}}};
  }
  j["ws"] = ws;
  j["generator"] = {{"lag_us", latency_json(r.generator.lag)},
                    {"loop_delay_us", latency_json(r.generator.loop_delay)},
                    {"scheduled", r.generator.scheduled},
                    {"started", r.generator.started},
                    {"not_started", r.generator.not_started},
                    {"lagging", r.lagging},
                    {"reasons", r.lag_reasons}};
  j["failures"] = r.failures;
  j["thresholds"] = json::array();
  for (const auto& t : th)
    j["thresholds"].push_back({{"expression", t.t.text},
                               {"metric", t.t.metric},
                               {"step", t.t.step.empty() ? json(nullptr) : json(t.t.step)},
                               {"limit", t.t.value},
                               {"actual", t.actual ? json(*t.actual) : json(nullptr)},
                               {"passed", t.pass}});
  j["timeline"] = json::array();
  for (const auto& p : r.timeline)
    j["timeline"].push_back({{"t", p.t},
                             {"requests", p.requests},
                             {"errors", p.errors},
                             {"p50_us", p.p50},
                             {"p90_us", p.p90},
                             {"p99_us", p.p99},
                             {"max_us", p.max},
                             {"ws_received", p.ws_received},
                             {"ws_connected", p.ws_connected},
                             {"delivery_p99_us", p.delivery_p99}});
  j["notes"] = r.notes;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";  // server text may be any bytes
}

std::string report_html(const scenario& s, const run_result& r, const std::vector<threshold_result>& th,
                        bool allow_lag) {
  std::string o = R"(<!doctype html><html><head><meta charset="utf-8"><title>)";
  o += html_escape("zuperior loadtest: " + s.name);
  o +=
      R"(</title><style>body{font-family:sans-serif;margin:2em;color:#222}pre{background:#f6f6f6;padding:1em;overflow:auto}
.pass{color:#2a7}.fail{color:#c22}h2{margin-top:1.5em}</style></head><body>)";
  int v = verdict(r, th, allow_lag);
  o += fmt::format("<h1>{} <span class=\"{}\">{}</span></h1>", html_escape(s.name), v == 0 ? "pass" : "fail",
                   verdict_word(v));
  o += fmt::format("<p>target {} &middot; run {} &middot; {:.1f}s</p>", html_escape(s.target), html_escape(r.run_id),
                   r.elapsed_s);
  o += std::string("<h2>HTTP latency over time (from ") +
       (s.http.model == load_model::open ? "scheduled start" : "send, closed model") + ")</h2>" +
       svg_timeline(r.timeline);
  o += "<h2>HTTP latency distribution</h2>" + svg_histogram(r.overall.latency);
  if (r.ws_enabled && r.ws.delivery.count()) o += "<h2>Socket.IO delivery latency</h2>" + svg_histogram(r.ws.delivery);
  o += "<h2>Summary</h2><pre>" + html_escape(summary_text(s, r, th, allow_lag)) + "</pre></body></html>\n";
  return o;
}

}  // namespace zuperior::loadtest
