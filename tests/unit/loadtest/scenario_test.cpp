#include <catch2/catch.hpp>

#include <string>

#include "loadtest/scenario.hpp"
#include "loadtest/template.hpp"

using namespace zuperior::loadtest;
using namespace std::chrono_literals;

namespace {
// The problems of parsing `yaml`, or an empty list when it parsed.
std::vector<std::string> problems_of(const std::string& yaml) {
  try {
    parse_scenario(yaml, "s.yaml");
  } catch (const scenario_error& e) {
    return e.problems();
  }
  return {};
}
bool has(const std::vector<std::string>& v, const std::string& part) {
  for (const auto& s : v)
    if (s.find(part) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST_CASE("a full scenario parses") {
  auto sc = parse_scenario(R"(name: demo
target: http://127.0.0.1:4000
threads: 2
symbols: [EURUSD, GBPUSD]
http:
  connections: 8
  timeout: 2s
  vus: 10
  phases:
    - {duration: 2s, to: 100}
    - {duration: 3s, rate: 100}
  setup:
    - name: register
      method: post
      path: /apis/auth/register
      body: {email: "{{email}}", password: "Secret-123", age: 30}
      expect: [201, 409]
    - name: login
      method: POST
      path: /apis/auth/login
      body: {email: "{{email}}", password: "Secret-123"}
      extract: {token: token}
  steps:
    - name: time
      path: /apis/time
      weight: 3
      thresholds: ["p99<50ms"]
    - name: me
      path: /apis/auth/me
      headers: {Authorization: "Bearer {{token}}"}
socketio:
  connections: 50
  connect_rate: 100
  hold: 5s
  auth: true
  emit:
    - event: "subscribe:market"
      args: [["{{symbol}}"]]
      ack: true
  expect:
    - {event: "market:update", min: 1}
publisher:
  redis: redis://127.0.0.1:6379/3
  rate: 200
thresholds:
  - http.p99<100ms
  - http{step:me}.errors<1%
  - http{step:login}.p99<1s
  - ws.lost==0
)",
                           "demo.yaml");
  CHECK(sc.name == "demo");
  CHECK(sc.threads == 2);
  CHECK(sc.http.connections == 8);
  REQUIRE(sc.http.phases.size() == 2);
  CHECK(sc.http.phases[0].from == 0);
  CHECK(sc.http.phases[0].to == 100);
  CHECK(sc.http.phases[1].from == 100);
  REQUIRE(sc.http.setup.size() == 2);
  CHECK(sc.http.setup[0].method == "POST");
  CHECK(sc.http.setup[0].expect == std::vector<unsigned>{201, 409});
  CHECK(sc.http.setup[1].extract.at(0).first == "token");
  REQUIRE(sc.http.steps.size() == 2);
  CHECK(sc.http.steps[0].weight == 3);
  CHECK(sc.socketio.connections == 50);
  CHECK(sc.socketio.emit.at(0).ack);
  CHECK(sc.publisher.symbols == std::vector<std::string>{"EURUSD", "GBPUSD"});
  CHECK(sc.thresholds.size() == 5);  // one from the step, four overall (one on the setup step "login")
  CHECK(sc.duration() == 5500ms);    // 50 connections at 100/s, then held 5s

  // The body keeps YAML types (age is a number) and the template renders per virtual user.
  std::string out;
  template_context ctx;
  ctx.vu = 7;
  ctx.run = "r1";
  sc.http.setup[0].body->render(ctx, out);
  CHECK(out == R"({"age":30,"email":"lt-r1-7@loadtest.invalid","password":"Secret-123"})");
}

TEST_CASE("every scenario problem is reported with its file and line, all in one go") {
  auto p = problems_of(R"(name: bad
target: ftp://x
http:
  rate: lots
  duration: 10s
  conections: 5
  steps:
    - path: nope
    - name: x
      path: /a/{{mystery}}
      expect: 700
thresholds:
  - http.p99<100
  - http{step:ghost}.p99<1ms
)");
  CHECK(has(p, "s.yaml:2: target \"ftp://x\" must be an http:// URL"));
  CHECK(has(p, "s.yaml:4: http.rate must be a number"));
  CHECK(has(p, "s.yaml:6: unknown key \"http.conections\""));
  CHECK(has(p, "s.yaml:8: http.steps[0].path must start with '/'"));
  CHECK(has(p, "s.yaml:10: http.steps[1]: unknown template variable \"mystery\""));
  CHECK(has(p, "s.yaml:11: http.steps[1].expect must be between 100 and 599"));
  CHECK(has(p, "s.yaml:13: threshold \"http.p99<100\": a latency needs a unit"));
  CHECK(has(p, "s.yaml:14:"));
  CHECK(has(p, "step \"ghost\", which does not exist"));
  CHECK(p.size() == 8);
}

TEST_CASE("a path's {{ variable }} may be written with spaces; its literal text may not") {
  const std::string head =
      "target: http://127.0.0.1:1\nhttp:\n  rate: 1\n  duration: 1s\n  vus: 2\n  steps:\n    - path: ";
  CHECK(problems_of(head + "\"/apis/users/{{ vu }}\"\n").empty());
  CHECK(has(problems_of(head + "\"/apis/ users/{{vu}}\"\n"), "must not contain spaces"));
}

TEST_CASE("scenario structure errors") {
  CHECK(has(problems_of("just a string"), "s.yaml:1: a scenario must be a mapping"));
  CHECK(has(problems_of("name: [unclosed\n"), "YAML syntax error"));
  CHECK(has(problems_of("http:\n  model: closed\n  steps: [{path: /}]\n"),
            "s.yaml:2: http.model closed needs http.duration"));
  CHECK(has(problems_of("http:\n  steps: [{path: /}]\n"), "http needs rate + duration or phases"));
  CHECK(has(problems_of("http:\n  phases:\n    - {duration: 1s}\n  steps: [{path: /}]\n"),
            "s.yaml:3: http.phases[0] needs rate (constant) or to (ramp)"));
  CHECK(has(problems_of("socketio:\n  connections: 5\n  auth: true\n"),
            "s.yaml:3: socketio.auth needs a token: a jwt section, or an http.setup step that extracts \"token\""));
  CHECK(has(problems_of("socketio:\n  connections: 5\n  transport: carrier-pigeon\n"), "s.yaml:3:"));
  CHECK(has(problems_of("publisher:\n  redis: http://x\n"), "s.yaml:2: publisher.redis must be a redis:// URL"));
  CHECK(has(problems_of("http:\n  rate: 1\n  duration: 1s\n  steps:\n    - {path: /a, extract: {t: x}}\n"),
            "s.yaml:5: http.steps[0].extract is only allowed in setup steps"));
  CHECK(has(
      problems_of("http:\n  rate: 1\n  duration: 1s\n  steps:\n    - {name: a, path: /a}\n    - {name: a, path: /b}\n"),
      "s.yaml:6: step name \"a\" is used twice"));
}

TEST_CASE("minted tokens: the jwt section") {
  auto sc = parse_scenario(
      "target: http://127.0.0.1:1\njwt:\n  subject: \"u-{{vu}}\"\n  ttl: 10m\n"
      "socketio:\n  connections: 3\n  auth: true\n",
      "s.yaml");
  CHECK(sc.jwt.enabled);
  CHECK(sc.jwt.secret_env == "JWT_SECRET");
  CHECK(sc.jwt.ttl == std::chrono::minutes(10));
  CHECK(sc.socketio.auth);
  std::string out;
  template_context ctx;
  ctx.vu = 7;
  sc.jwt.subject.render(ctx, out);
  CHECK(out == "u-7");
  // The secret never goes in the file: only a variable name is accepted.
  CHECK(has(problems_of("jwt:\n  secret_env: \"s3cret value!\"\n"),
            "s.yaml:2: jwt.secret_env must name an environment variable"));
  CHECK(has(problems_of("jwt:\n  secret: abc\n"), "s.yaml:2:"));
  CHECK(has(problems_of("jwt:\n  subject: \"{{nope}}\"\n"), "s.yaml:2: jwt.subject:"));
  CHECK(has(problems_of("jwt:\n  ttl: 0s\n"), "s.yaml:2: jwt.ttl must be at least 1s"));
}

TEST_CASE("validate names what is missing") {
  scenario s;
  try {
    validate(s);
    FAIL("empty scenario accepted");
  } catch (const scenario_error& e) {
    CHECK(has(e.problems(), "no target"));
    CHECK(has(e.problems(), "nothing to do"));
  }
  auto sc = parse_scenario("target: http://127.0.0.1:1\nsocketio: {connections: 1}\npublisher: {rate: 5}\n", "p.yaml");
  CHECK_THROWS_WITH(validate(sc), Catch::Contains("publisher needs a Redis URL"));
}

TEST_CASE("templates render per virtual user without surprises") {
  std::vector<std::pair<std::string, std::string>> vars{{"token", "abc.def.ghi"}};
  text_template t("/u/{{vu}}/{{counter}}?s={{symbol}}&t={{ token }}&r={{run}}-{{seq}}", {"token"});
  template_context c;
  c.vu = 3;
  c.counter = 9;
  c.seq = 1234;
  c.symbol = "EURUSD";
  c.run = "x1";
  c.vars = &vars;
  std::string out;
  t.render(c, out);
  CHECK(out == "/u/3/9?s=EURUSD&t=abc.def.ghi&r=x1-1234");
  CHECK(text_template("plain").is_constant());
  CHECK_THROWS_WITH(text_template("{{vu"), Catch::Contains("unclosed"));
  CHECK_THROWS_WITH(text_template("{{token}}"), Catch::Contains("unknown template variable"));
}

TEST_CASE("a scenario path that never ends (/dev/zero) is an error, not all the memory there is") {
  CHECK_THROWS_WITH(load_scenario("/dev/zero"), Catch::Contains("/dev/zero: cannot read the scenario file") &&
                                                    Catch::Contains("larger than 16 MiB"));
}

TEST_CASE("malformed requests and targets are refused before any load") {
  auto p = problems_of(R"(target: http://127.0.0.1:4000/api
http:
  rate: 5
  duration: 1s
  steps:
    - path: "/a b"
      headers:
        "Bad Name": x
        "X-Ok": "a\r\nInjected: 1"
        "X-Tab": "a\tb"
    - name: ctl
      path: "/x\ty"
      name: again
)");
  CHECK(has(p, "s.yaml:1: target \"http://127.0.0.1:4000/api\" must be http://host:port without a path"));
  CHECK(has(p, "s.yaml:6: http.steps[0].path must not contain spaces or control characters"));
  CHECK(has(p, "s.yaml:8: http.steps[0].headers: \"Bad Name\" is not a header name"));
  CHECK(has(p, "s.yaml:9: http.steps[0].headers: the value of X-Ok contains a control character"));
  CHECK(has(p, "s.yaml:12: http.steps[1].path must not contain spaces or control characters"));
  CHECK(has(p, "s.yaml:13: key \"http.steps[1].name\" is given twice"));
  CHECK(p.size() == 6);  // a tab in a header value is allowed
  CHECK(has(problems_of("target: http://h:1\nname: a\nname: b\n"), "s.yaml:3: key \"name\" is given twice"));
  CHECK(has(problems_of("target: http://h:1?x=1\n"), "without a path"));
  CHECK(problems_of("target: http://h:1/\nhttp: {rate: 1, duration: 1s, steps: [{path: /}]}\n").empty());

  // The same for a --target flag, which only validate sees.
  auto sc = parse_scenario("target: http://127.0.0.1:1\nhttp: {rate: 1, duration: 1s, steps: [{path: /}]}\n", "t.yaml");
  sc.target = "http://127.0.0.1:1/prefix";
  CHECK_THROWS_WITH(validate(sc), Catch::Contains("t.yaml: target \"http://127.0.0.1:1/prefix\" must be"));
}

TEST_CASE("thresholds on a step or a section the scenario does not have are usage errors") {
  auto sc = parse_scenario("target: http://127.0.0.1:1\nhttp: {rate: 1, duration: 1s, steps: [{name: a, path: /}]}\n",
                           "t.yaml");
  CHECK_NOTHROW(validate(sc));
  auto with = [&](const char* text) {
    auto s = sc;
    s.thresholds.push_back(parse_threshold(text));
    return s;
  };
  CHECK_NOTHROW(validate(with("http{step:a}.errors<1%")));
  CHECK_NOTHROW(validate(with("generator.lag.p99<10ms")));
  CHECK_THROWS_WITH(validate(with("http{step:nope}.p99<1s")),
                    Catch::Contains("threshold \"http{step:nope}.p99<1s\" names step \"nope\", which does not exist "
                                    "(steps: \"a\")"));
  CHECK_THROWS_WITH(validate(with("ws.lost==0")), Catch::Contains("there is no socketio section"));
  CHECK_THROWS_WITH(validate(with("ws.delivery.p99<1s")), Catch::Contains("there is no socketio section"));

  auto ws = parse_scenario("target: http://127.0.0.1:1\nsocketio: {connections: 1}\n", "w.yaml");
  CHECK_NOTHROW(validate(ws));
  ws.thresholds.push_back(parse_threshold("http.p99<1s"));
  CHECK_THROWS_WITH(validate(ws), Catch::Contains("there is no http section"));
}

TEST_CASE("with a publisher, a subscription must be acknowledged: loss is counted from the ack") {
  const std::string base =
      "target: http://127.0.0.1:1\npublisher: {redis: \"redis://127.0.0.1:1\"}\nsocketio:\n  connections: 1\n  emit:\n";
  CHECK(has(problems_of(base + "    - {event: \"subscribe:market\", args: [[EURUSD]]}\n"),
            "s.yaml:6: socketio.emit \"subscribe:market\" needs ack: true with a publisher"));
  CHECK(problems_of(base + "    - {event: \"subscribe:market\", args: [[EURUSD]], ack: true}\n"
                           "    - {event: \"unsubscribe:market\", args: [[EURUSD]]}\n    - {event: hello}\n")
            .empty());
  // Without a publisher nothing is counted lost: no ack needed.
  CHECK(problems_of("target: http://127.0.0.1:1\nsocketio:\n  connections: 1\n  emit:\n"
                    "    - {event: \"subscribe:market\", args: [[EURUSD]]}\n")
            .empty());
}
