#include "loadtest/scenario.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/strings.hpp"
#include "core/units.hpp"
#include "core/url.hpp"

namespace zuperior::loadtest {

namespace {

// The longest duration a scenario may name: beyond it a run is a typo, and the clock arithmetic
// (nanoseconds since boot) would overflow a few hundred years out.
constexpr std::chrono::microseconds longest = std::chrono::hours(24 * 30);
const std::set<std::string> methods{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};

// A target is http://host[:port] only: a path or query in it was silently dropped (each step
// gives its own path).
std::optional<std::string> target_problem(const std::string& target) {
  auto u = core::parse_url(target);
  if (!u || u->scheme != "http") return fmt::format("target \"{}\" must be an http:// URL", target);
  if ((!u->path.empty() && u->path != "/") || !u->query_text.empty())
    return fmt::format("target \"{}\" must be http://host:port without a path (the steps give the paths)", target);
  return std::nullopt;
}

// An HTTP token (RFC 9110 5.6.2): what a header name is made of.
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// A control character (a CR LF would end the header or request line early and inject the rest).
bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

std::string join_lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += '\n';
    out += s;
  }
  return out;
}

// Collects problems with their line; parsing continues after each so one run lists them all.
class reader {
 public:
  explicit reader(std::string file) : file_(std::move(file)) {}

  void problem(const YAML::Node& n, const std::string& msg) { problem_at(line_of(n), msg); }
  void problem_at(int line, const std::string& msg) {
    problems_.push_back(line > 0 ? fmt::format("{}:{}: {}", file_, line, msg) : fmt::format("{}: {}", file_, msg));
  }
  static int line_of(const YAML::Node& n) {
    auto m = n.Mark();
    return m.is_null() ? 0 : m.line + 1;
  }
  const std::vector<std::string>& problems() const { return problems_; }
  const std::string& file() const { return file_; }

  // Checks that a mapping has only `allowed` keys; returns false (after reporting) if not a map.
  bool check_map(const YAML::Node& n, const std::string& where, std::initializer_list<std::string_view> allowed) {
    if (!n.IsMap()) {
      problem(n, fmt::format("{} must be a mapping", where));
      return false;
    }
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      auto key = it->first.as<std::string>("");
      // yaml-cpp keeps both and a lookup finds the first: the second would be silently ignored.
      if (!seen.insert(key).second)
        problem(it->first, fmt::format("key \"{}{}\" is given twice", where.empty() ? "" : where + ".", key));
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        problem(it->first,
                fmt::format("unknown key \"{}{}\" (allowed: {})", where.empty() ? "" : where + ".", key, list));
      }
    }
    return true;
  }

  std::string str(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      problem(n, fmt::format("{} must be a string", what));
      return {};
    }
    return n.Scalar();
  }
  std::optional<double> number(const YAML::Node& n, const std::string& what, double min, double max) {
    if (!n.IsScalar()) {
      problem(n, fmt::format("{} must be a number", what));
      return std::nullopt;
    }
    double v = 0;
    const auto& s = n.Scalar();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) {
      problem(n, fmt::format("{} must be a number, got \"{}\"", what, s));
      return std::nullopt;
    }
    if (v < min || v > max) {
      problem(n, fmt::format("{} must be between {} and {}, got {}", what, min, max, s));
      return std::nullopt;
    }
    return v;
  }
  std::optional<unsigned> uint(const YAML::Node& n, const std::string& what, unsigned min, unsigned max) {
    auto v = number(n, what, min, max);
    if (!v) return std::nullopt;
    if (*v != static_cast<double>(static_cast<unsigned>(*v))) {
      problem(n, fmt::format("{} must be a whole number", what));
      return std::nullopt;
    }
    return static_cast<unsigned>(*v);
  }
  std::optional<std::chrono::microseconds> duration(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      problem(n, fmt::format("{} must be a duration such as 10s or 250ms", what));
      return std::nullopt;
    }
    auto d = core::parse_duration(n.Scalar());
    if (!d || d->count() < 0) {
      problem(n, fmt::format("{} \"{}\" is not a duration (e.g. 10s, 250ms, 1m)", what, n.Scalar()));
      return std::nullopt;
    }
    if (*d > longest) {
      problem(n, fmt::format("{} \"{}\" is longer than 30d", what, n.Scalar()));
      return std::nullopt;
    }
    return *d;
  }
  // A wait that must be able to end well: more than zero.
  std::optional<std::chrono::microseconds> timeout(const YAML::Node& n, const std::string& what) {
    auto d = duration(n, what);
    if (d && d->count() == 0) {
      problem(n, fmt::format("{} must be more than 0", what));
      return std::nullopt;
    }
    return d;
  }
  std::optional<bool> boolean(const YAML::Node& n, const std::string& what) {
    bool b = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) {
      problem(n, fmt::format("{} must be true or false", what));
      return std::nullopt;
    }
    return b;
  }
  std::vector<std::string> strings(const YAML::Node& n, const std::string& what) {
    std::vector<std::string> out;
    if (!n.IsSequence()) {
      problem(n, fmt::format("{} must be a list", what));
      return out;
    }
    for (const auto& e : n) out.push_back(str(e, what + " item"));
    return out;
  }

 private:
  std::string file_;
  std::vector<std::string> problems_;
};

// YAML to JSON: plain scalars that read as numbers, booleans or null keep that type; quoted stay strings.
nlohmann::json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Sequence: {
      auto a = nlohmann::json::array();
      for (const auto& e : n) a.push_back(to_json(e));
      return a;
    }
    case YAML::NodeType::Map: {
      auto o = nlohmann::json::object();
      for (auto it = n.begin(); it != n.end(); ++it) o[it->first.as<std::string>("")] = to_json(it->second);
      return o;
    }
    case YAML::NodeType::Scalar: {
      const auto& s = n.Scalar();
      if (n.Tag() == "?") {
        if (s == "true") return true;
        if (s == "false") return false;
        if (s == "null" || s == "~") return nullptr;
        std::int64_t i = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
        if (ec == std::errc() && p == s.data() + s.size()) return i;
        double d = 0;
        auto [p2, ec2] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (ec2 == std::errc() && p2 == s.data() + s.size()) return d;
      }
      return s;
    }
    default:
      return nullptr;
  }
}

std::vector<std::string> extracted_names(const http_settings& h) {
  std::vector<std::string> v;
  for (const auto& s : h.setup)
    for (const auto& [k, _] : s.extract) v.push_back(k);
  return v;
}

http_step parse_step(reader& r, const YAML::Node& n, const std::string& where, const std::vector<std::string>& vars,
                     std::vector<threshold>& thresholds, bool is_setup) {
  http_step s;
  s.line = reader::line_of(n);
  if (!r.check_map(n, where,
                   {"name", "method", "path", "headers", "body", "expect", "weight", "extract", "thresholds"}))
    return s;
  auto templ = [&](const YAML::Node& v, const std::string& text) -> text_template {
    try {
      return text_template(text, vars);
    } catch (const std::exception& e) {
      r.problem(v, fmt::format("{}: {}", where, e.what()));
      return {};
    }
  };
  if (n["name"]) s.name = r.str(n["name"], where + ".name");
  if (n["method"]) {
    s.method = core::to_lower(r.str(n["method"], where + ".method"));
    std::transform(s.method.begin(), s.method.end(), s.method.begin(), ::toupper);
    if (!methods.count(s.method))
      r.problem(n["method"], fmt::format("{}.method \"{}\" is not an HTTP method", where, s.method));
  }
  if (!n["path"]) {
    r.problem(n, fmt::format("{} needs a path", where));
  } else {
    auto p = r.str(n["path"], where + ".path");
    if (!p.starts_with("/")) r.problem(n["path"], fmt::format("{}.path must start with '/'", where));
    // The literal text: a {{ variable }} may be written with spaces, and its value is not known yet.
    std::string literal;
    for (std::size_t i = 0; i < p.size();) {
      if (p.compare(i, 2, "{{") == 0) {
        const auto close = p.find("}}", i + 2);
        if (close != std::string::npos) {
          i = close + 2;
          continue;
        }
      }
      literal += p[i++];
    }
    if (std::any_of(literal.begin(), literal.end(), [](char c) { return c == ' ' || is_control(c); }))
      r.problem(n["path"],
                fmt::format("{}.path must not contain spaces or control characters (percent-encode them)", where));
    s.path = templ(n["path"], p);
  }
  if (s.name.empty()) s.name = s.method + " " + s.path.source();
  if (auto h = n["headers"]) {
    if (!h.IsMap())
      r.problem(h, where + ".headers must be a mapping");
    else
      for (auto it = h.begin(); it != h.end(); ++it) {
        auto name = it->first.as<std::string>("");
        auto value = r.str(it->second, where + ".headers value");
        if (!is_token(name))
          r.problem(it->first,
                    fmt::format("{}.headers: \"{}\" is not a header name (letters, digits and !#$%&'*+-.^_`|~)", where,
                                name));
        if (std::any_of(value.begin(), value.end(), [](char c) { return c != '\t' && is_control(c); }))
          r.problem(it->second, fmt::format("{}.headers: the value of {} contains a control character", where, name));
        s.headers.emplace_back(name, templ(it->second, value));
      }
  }
  if (auto b = n["body"]) {
    std::string text = b.IsScalar() ? b.Scalar() : to_json(b).dump();
    s.body = templ(b, text);
  }
  if (auto e = n["expect"]) {
    s.expect.clear();
    if (e.IsScalar()) {
      if (auto v = r.uint(e, where + ".expect", 100, 599)) s.expect.push_back(*v);
    } else if (e.IsSequence()) {
      for (const auto& x : e)
        if (auto v = r.uint(x, where + ".expect", 100, 599)) s.expect.push_back(*v);
    } else {
      r.problem(e, where + ".expect must be a status or a list of statuses");
    }
  }
  if (auto w = n["weight"]) {
    if (auto v = r.uint(w, where + ".weight", 1, 1'000'000)) s.weight = *v;
  }
  if (auto x = n["extract"]) {
    if (!is_setup) r.problem(x, where + ".extract is only allowed in setup steps");
    if (!x.IsMap())
      r.problem(x, where + ".extract must map variable names to JSON fields (token: token)");
    else
      for (auto it = x.begin(); it != x.end(); ++it)
        s.extract.emplace_back(it->first.as<std::string>(""), r.str(it->second, where + ".extract value"));
  }
  if (auto t = n["thresholds"]) {
    if (is_setup) r.problem(t, where + ".thresholds: setup steps are not measured against thresholds");
    if (!t.IsSequence())
      r.problem(t, where + ".thresholds must be a list such as [\"p99<100ms\"]");
    else
      for (const auto& e : t) {
        auto text = r.str(e, where + ".thresholds item");
        try {
          auto th = parse_threshold(fmt::format("http{{step:{}}}.{}", s.name, text));
          th.text = fmt::format("{}: {}", s.name, text);
          thresholds.push_back(std::move(th));
        } catch (const threshold_error& err) {
          r.problem(e, err.what());
        }
      }
  }
  return s;
}

void parse_http(reader& r, const YAML::Node& n, scenario& sc) {
  auto& h = sc.http;
  h.enabled = true;
  if (!r.check_map(n, "http",
                   {"model", "phases", "duration", "rate", "connections", "timeout", "think", "vus", "setup", "steps"}))
    return;
  if (auto m = n["model"]) {
    auto v = r.str(m, "http.model");
    if (v == "open")
      h.model = load_model::open;
    else if (v == "closed")
      h.model = load_model::closed;
    else
      r.problem(m, fmt::format("http.model \"{}\" must be open or closed", v));
  }
  if (auto c = n["connections"]) {
    if (auto v = r.uint(c, "http.connections", 1, 100'000)) h.connections = *v;
  }
  if (auto t = n["timeout"]) {
    if (auto v = r.timeout(t, "http.timeout")) h.timeout = *v;
  }
  if (auto t = n["think"]) {
    if (auto v = r.duration(t, "http.think")) h.think = *v;
  }
  if (auto v = n["vus"]) {
    if (auto x = r.uint(v, "http.vus", 1, 1'000'000)) h.vus = *x;
  }
  if (auto p = n["phases"]) {
    if (n["rate"]) r.problem(n["rate"], "http: give either rate + duration or phases, not both");
    if (!p.IsSequence() || p.size() == 0) {
      r.problem(p, "http.phases must be a non-empty list");
    } else {
      int i = 0;
      for (const auto& ph : p) {
        auto where = fmt::format("http.phases[{}]", i++);
        if (!r.check_map(ph, where, {"duration", "rate", "from", "to"})) continue;
        phase x;
        if (!ph["duration"])
          r.problem(ph, where + " needs a duration");
        else if (auto d = r.duration(ph["duration"], where + ".duration"))
          x.duration = *d;
        if (ph["rate"]) {
          if (ph["from"] || ph["to"]) r.problem(ph, where + ": give either rate or from/to");
          if (auto v = r.number(ph["rate"], where + ".rate", 0, 10'000'000)) x.from = x.to = *v;
        } else if (ph["to"]) {
          // A ramp starts where the previous phase ended unless `from` says otherwise.
          x.from = h.phases.empty() ? 0 : h.phases.back().to;
          if (ph["from"])
            if (auto v = r.number(ph["from"], where + ".from", 0, 10'000'000)) x.from = *v;
          if (auto v = r.number(ph["to"], where + ".to", 0, 10'000'000)) x.to = *v;
        } else {
          r.problem(ph, where + " needs rate (constant) or to (ramp)");
        }
        h.phases.push_back(x);
      }
    }
  } else if (n["rate"]) {
    phase x;
    if (auto v = r.number(n["rate"], "http.rate", 0, 10'000'000)) x.from = x.to = *v;
    if (!n["duration"])
      r.problem(n, "http.rate needs http.duration");
    else if (auto d = r.duration(n["duration"], "http.duration"))
      x.duration = *d;
    h.phases.push_back(x);
  } else if (n["duration"]) {
    if (auto d = r.duration(n["duration"], "http.duration")) h.duration = *d;
  }
  if (h.model == load_model::closed) {
    if (!h.phases.empty()) r.problem(n, "http.model closed takes duration and connections, not rate or phases");
    if (h.duration.count() == 0) r.problem(n, "http.model closed needs http.duration");
  } else if (h.phases.empty()) {
    r.problem(n, "http needs rate + duration or phases (or model: closed)");
  } else if (n["duration"] && n["phases"]) {
    r.problem(n["duration"], "http.duration is implied by the phases");
  }
  if (auto s = n["setup"]) {
    if (!s.IsSequence())
      r.problem(s, "http.setup must be a list of steps");
    else {
      int i = 0;
      for (const auto& st : s) {
        auto vars = extracted_names(h);
        h.setup.push_back(parse_step(r, st, fmt::format("http.setup[{}]", i++), vars, sc.thresholds, true));
      }
    }
  }
  auto vars = extracted_names(h);
  if (auto s = n["steps"]) {
    if (!s.IsSequence() || s.size() == 0)
      r.problem(s, "http.steps must be a non-empty list");
    else {
      int i = 0;
      for (const auto& st : s)
        h.steps.push_back(parse_step(r, st, fmt::format("http.steps[{}]", i++), vars, sc.thresholds, false));
    }
  } else {
    r.problem(n, "http needs steps");
  }
  std::set<std::string> names;
  for (const auto* list : {&h.setup, &h.steps})
    for (const auto& st : *list)
      if (!names.insert(st.name).second) r.problem_at(st.line, fmt::format("step name \"{}\" is used twice", st.name));
}

void parse_socketio(reader& r, const YAML::Node& n, scenario& sc) {
  auto& s = sc.socketio;
  s.enabled = true;
  if (!r.check_map(n, "socketio",
                   {"path", "transport", "connections", "connect_rate", "hold", "connect_timeout", "auth", "emit",
                    "expect", "delivery_event"}))
    return;
  if (auto p = n["path"]) s.path = r.str(p, "socketio.path");
  if (auto t = n["transport"]) {
    s.transport = r.str(t, "socketio.transport");
    if (s.transport != "websocket" && s.transport != "polling")
      r.problem(t, fmt::format("socketio.transport \"{}\" must be websocket or polling", s.transport));
  }
  if (!n["connections"])
    r.problem(n, "socketio needs connections");
  else if (auto v = r.uint(n["connections"], "socketio.connections", 1, 200'000))
    s.connections = *v;
  if (auto v = n["connect_rate"])
    if (auto x = r.number(v, "socketio.connect_rate", 1, 1'000'000)) s.connect_rate = *x;
  if (auto v = n["hold"])
    if (auto x = r.duration(v, "socketio.hold")) s.hold = *x;
  if (auto v = n["connect_timeout"])
    if (auto x = r.timeout(v, "socketio.connect_timeout")) s.connect_timeout = *x;
  if (auto v = n["auth"])
    if (auto x = r.boolean(v, "socketio.auth")) s.auth = *x;
  if (auto v = n["delivery_event"]) s.delivery_event = r.str(v, "socketio.delivery_event");
  if (auto e = n["emit"]) {
    if (!e.IsSequence())
      r.problem(e, "socketio.emit must be a list");
    else {
      int i = 0;
      for (const auto& x : e) {
        auto where = fmt::format("socketio.emit[{}]", i++);
        sio_emit em;
        em.line = reader::line_of(x);
        if (!r.check_map(x, where, {"event", "args", "ack", "ack_timeout"})) continue;
        if (!x["event"])
          r.problem(x, where + " needs an event");
        else
          em.event = r.str(x["event"], where + ".event");
        if (auto a = x["args"]) {
          if (!a.IsSequence())
            r.problem(a, where + ".args must be a list (the event's arguments)");
          else
            em.args_json = to_json(a).dump();
        }
        try {
          em.args = text_template(em.args_json, extracted_names(sc.http));
        } catch (const std::exception& err) {
          r.problem(x, fmt::format("{}: {}", where, err.what()));
        }
        if (auto a = x["ack"])
          if (auto b = r.boolean(a, where + ".ack")) em.ack = *b;
        if (auto a = x["ack_timeout"])
          if (auto d = r.timeout(a, where + ".ack_timeout")) em.ack_timeout = *d;
        s.emit.push_back(std::move(em));
      }
    }
  }
  if (auto e = n["expect"]) {
    if (!e.IsSequence())
      r.problem(e, "socketio.expect must be a list");
    else {
      int i = 0;
      for (const auto& x : e) {
        auto where = fmt::format("socketio.expect[{}]", i++);
        sio_expect ex;
        ex.line = reader::line_of(x);
        if (!r.check_map(x, where, {"event", "min"})) continue;
        if (!x["event"])
          r.problem(x, where + " needs an event");
        else
          ex.event = r.str(x["event"], where + ".event");
        if (auto m = x["min"])
          if (auto v = r.uint(m, where + ".min", 0, 1'000'000'000)) ex.min = *v;
        s.expect.push_back(std::move(ex));
      }
    }
  }
}

void parse_publisher(reader& r, const YAML::Node& n, scenario& sc) {
  auto& p = sc.publisher;
  p.enabled = true;
  if (!r.check_map(n, "publisher", {"redis", "channel", "symbols", "rate", "delay"})) return;
  if (auto v = n["redis"]) {
    p.redis_url = r.str(v, "publisher.redis");
    auto u = core::parse_url(p.redis_url);
    if (!u || (u->scheme != "redis")) r.problem(v, "publisher.redis must be a redis:// URL");
  }
  if (auto v = n["channel"]) p.channel = r.str(v, "publisher.channel");
  if (auto v = n["symbols"]) p.symbols = r.strings(v, "publisher.symbols");
  if (auto v = n["rate"])
    if (auto x = r.number(v, "publisher.rate", 0.1, 10'000'000)) p.rate = *x;
  if (auto v = n["delay"])
    if (auto x = r.duration(v, "publisher.delay")) p.delay = *x;
}

void parse_jwt(reader& r, const YAML::Node& n, scenario& sc) {
  auto& j = sc.jwt;
  j.enabled = true;
  if (!r.check_map(n, "jwt", {"secret_env", "subject", "ttl"})) return;
  if (auto v = n["secret_env"]) {
    j.secret_env = r.str(v, "jwt.secret_env");
    bool ok = !j.secret_env.empty() && std::all_of(j.secret_env.begin(), j.secret_env.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
    if (!ok) r.problem(v, "jwt.secret_env must name an environment variable (the secret itself never goes in a file)");
  }
  if (auto v = n["subject"]) {
    try {
      j.subject = text_template(r.str(v, "jwt.subject"));
    } catch (const std::exception& e) {
      r.problem(v, fmt::format("jwt.subject: {}", e.what()));
    }
  }
  if (auto v = n["ttl"])
    if (auto x = r.duration(v, "jwt.ttl")) {
      j.ttl = std::chrono::duration_cast<std::chrono::seconds>(*x);
      if (j.ttl.count() < 1) r.problem(v, "jwt.ttl must be at least 1s");
    }
}

}  // namespace

scenario_error::scenario_error(std::vector<std::string> problems)
    : std::runtime_error(join_lines(problems)), problems_(std::move(problems)) {}

std::chrono::microseconds scenario::duration() const {
  std::chrono::microseconds d{0};
  if (http.enabled) d = std::max(d, http.model == load_model::open ? schedule(http.phases).duration() : http.duration);
  if (socketio.enabled && socketio.connections > 0) {
    auto ramp = std::chrono::microseconds(
        static_cast<std::int64_t>(static_cast<double>(socketio.connections) / socketio.connect_rate * 1e6));
    d = std::max(d, ramp + socketio.hold);
  }
  return d;
}

scenario parse_scenario(const std::string& text, const std::string& file) {
  reader r(file);
  scenario sc;
  sc.file = file;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    r.problem_at(e.mark.is_null() ? 0 : e.mark.line + 1, fmt::format("YAML syntax error: {}", e.msg));
    throw scenario_error(r.problems());
  }
  if (!root.IsMap()) {
    r.problem(root, "a scenario must be a mapping (name, target, http, socketio, publisher, thresholds)");
    throw scenario_error(r.problems());
  }
  r.check_map(root, "",
              {"name", "target", "threads", "grace", "symbols", "http", "socketio", "publisher", "jwt", "thresholds"});
  if (auto v = root["name"]) sc.name = r.str(v, "name");
  if (auto v = root["target"]) {
    sc.target = r.str(v, "target");
    if (auto why = target_problem(sc.target)) r.problem(v, *why);
  }
  if (auto v = root["threads"])
    if (auto x = r.uint(v, "threads", 1, 64)) sc.threads = *x;
  if (auto v = root["grace"])
    if (auto x = r.duration(v, "grace")) sc.grace = *x;
  if (auto v = root["symbols"]) {
    sc.symbols = r.strings(v, "symbols");
    if (sc.symbols.empty()) r.problem(v, "symbols must not be empty");
  }
  if (auto v = root["http"]) parse_http(r, v, sc);
  if (auto v = root["socketio"]) parse_socketio(r, v, sc);
  if (auto v = root["publisher"]) parse_publisher(r, v, sc);
  if (auto v = root["jwt"]) parse_jwt(r, v, sc);
  if (auto v = root["thresholds"]) {
    if (!v.IsSequence())
      r.problem(v, "thresholds must be a list of expressions");
    else
      for (const auto& e : v) {
        try {
          sc.thresholds.push_back(parse_threshold(r.str(e, "thresholds item")));
        } catch (const threshold_error& err) {
          r.problem(e, err.what());
        }
      }
  }
  // Cross references that need the whole file.
  std::set<std::string> step_names;
  for (const auto& s : sc.http.steps) step_names.insert(s.name);
  for (const auto& s : sc.http.setup) step_names.insert(s.name);  // measured too (report: setup_steps)
  if (auto v = root["thresholds"]; v && v.IsSequence()) {
    std::size_t i = 0;
    for (const auto& t : sc.thresholds) {
      if (t.step.empty() || step_names.count(t.step)) continue;
      // Report against the thresholds entry carrying it when we can find it.
      int line = reader::line_of(v);
      for (; i < v.size(); ++i)
        if (v[i].IsScalar() && v[i].Scalar().find(t.step) != std::string::npos) {
          line = reader::line_of(v[i]);
          break;
        }
      r.problem_at(line, fmt::format("threshold \"{}\" names step \"{}\", which does not exist", t.text, t.step));
    }
  }
  if (sc.socketio.enabled && sc.socketio.auth && !sc.jwt.enabled) {
    auto vars = extracted_names(sc.http);
    if (std::find(vars.begin(), vars.end(), "token") == vars.end())
      r.problem(root["socketio"]["auth"],
                "socketio.auth needs a token: a jwt section, or an http.setup step that extracts \"token\"");
  }
  if (sc.publisher.enabled) {
    if (sc.publisher.symbols.empty()) sc.publisher.symbols = sc.symbols;
    if (!sc.socketio.enabled) r.problem(root["publisher"], "publisher needs socketio clients to measure delivery");
    // Loss is counted from the publisher's seq when the subscription is acknowledged; without an
    // ack there is no such moment, and ticks published during the round trip counted lost.
    for (const auto& em : sc.socketio.emit)
      if (is_subscribe_event(em.event) && !em.ack)
        r.problem_at(em.line, fmt::format("socketio.emit \"{}\" needs ack: true with a publisher (loss is counted "
                                          "from the acknowledged subscription)",
                                          em.event));
  }
  if (!r.problems().empty()) throw scenario_error(r.problems());
  return sc;
}

scenario load_scenario(const std::string& path) {
  std::string text;
  try {
    text = core::read_file(path, core::max_config_file_bytes);
  } catch (const core::command_error& e) {
    throw scenario_error({fmt::format("{}: cannot read the scenario file ({})", path, e.what())});
  }
  return parse_scenario(text, path);
}

bool is_subscribe_event(std::string_view event) {
  return event.find("subscribe") != std::string_view::npos && event.find("unsubscribe") == std::string_view::npos;
}

void validate(const scenario& s) {
  std::vector<std::string> p;
  auto where = s.file.empty() ? std::string("scenario") : s.file;
  if (s.target.empty())
    p.push_back(fmt::format("{}: no target (set target: http://host:port or --url)", where));
  else if (auto why = target_problem(s.target))
    p.push_back(fmt::format("{}: {}", where, *why));
  if (!s.http.enabled && !s.socketio.enabled)
    p.push_back(fmt::format("{}: nothing to do (give http and/or socketio)", where));
  // The ranges the file parser enforces, again for what flags (--rate, --connections …) set.
  if (s.threads < 1 || s.threads > 64) p.push_back(fmt::format("{}: threads must be between 1 and 64", where));
  if (s.http.enabled) {
    const auto& h = s.http;
    for (const auto& ph : h.phases)
      if (!(ph.from >= 0 && ph.from <= 10'000'000 && ph.to >= 0 && ph.to <= 10'000'000))
        p.push_back(fmt::format("{}: an HTTP rate must be between 0 and 10000000 per second", where));
    if (h.connections < 1 || h.connections > 100'000)
      p.push_back(fmt::format("{}: http connections must be between 1 and 100000", where));
    if (h.timeout.count() <= 0 || h.timeout > longest)
      p.push_back(fmt::format("{}: the HTTP timeout must be more than 0 and at most 30d", where));
    for (const auto* list : {&h.setup, &h.steps})
      for (const auto& st : *list) {
        if (!methods.count(st.method))
          p.push_back(fmt::format("{}: step \"{}\": method \"{}\" is not an HTTP method", where, st.name, st.method));
        for (auto status : st.expect)
          if (status < 100 || status > 599)
            p.push_back(
                fmt::format("{}: step \"{}\": expected status {} is not between 100 and 599", where, st.name, status));
      }
  }
  if (p.empty() && (s.duration() > longest || s.grace > longest))
    p.push_back(fmt::format("{}: the run (duration and grace) must be at most 30d each", where));
  if (p.empty() && s.http.enabled && s.http.model == load_model::open && schedule(s.http.phases).total() == 0)
    p.push_back(fmt::format("{}: the HTTP rate and duration schedule no request (rate × duration < 1)", where));
  // A threshold on what the run cannot measure is a mistake in the scenario or the flags, not a
  // failed run (it read "FAIL, not measured" and exit 1).
  std::string steps;
  for (const auto& st : s.http.steps) steps += fmt::format("{}\"{}\"", steps.empty() ? "" : ", ", st.name);
  for (const auto& st : s.http.setup) steps += fmt::format("{}\"{}\"", steps.empty() ? "" : ", ", st.name);
  auto named = [](const std::vector<http_step>& v, const std::string& name) {
    return std::any_of(v.begin(), v.end(), [&](const http_step& st) { return st.name == name; });
  };
  for (const auto& t : s.thresholds) {
    if (t.metric.starts_with("http.") && !s.http.enabled)
      p.push_back(
          fmt::format("{}: threshold \"{}\": there is no http section, so no HTTP metric is measured", where, t.text));
    else if (t.metric.starts_with("ws.") && !s.socketio.enabled)
      p.push_back(fmt::format("{}: threshold \"{}\": there is no socketio section, so no Socket.IO metric is measured",
                              where, t.text));
    else if (!t.step.empty() && !named(s.http.steps, t.step) && !named(s.http.setup, t.step))
      p.push_back(fmt::format("{}: threshold \"{}\" names step \"{}\", which does not exist (steps: {})", where, t.text,
                              t.step, steps));
  }
  if (s.publisher.enabled && s.publisher.redis_url.empty())
    p.push_back(fmt::format("{}: publisher needs a Redis URL (publisher.redis or --redis); none is assumed", where));
  if (!p.empty()) throw scenario_error(p);
}

}  // namespace zuperior::loadtest
