#!/usr/bin/env bash
# loadtest end to end against a stand-in target (node: a few HTTP routes + stock socket.io fed by
# Redis pub/sub): quick runs, exit codes 0/1/2, JSON and HTML reports, coordinated-omission
# correction on a slow route, per-user login tokens, Socket.IO acks and delivery/loss of real ticks
# published into the throwaway Redis; the shipped scenarios parse. The runs against the real daemon
# are in tests/integration/loadtest_daemon.
set -uo pipefail
bin="${ZUPERIOR_BIN:?}"
src="${ZUPERIOR_SOURCE_DIR:?}"
here="$src/tests/integration/loadtest"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# lt NAME EXPECTED_RC ARGS... : runs loadtest, keeps stdout/stderr as NAME.out/.err.
lt() {
  local name="$1" want="$2"
  shift 2
  # The machine running the tests is shared: only a gross generator lag should fail these runs.
  timeout 120 "$bin" loadtest --max-lag 250ms "$@" >"$name.out" 2>"$name.err"
  local rc=$?
  [ "$rc" = "$want" ] || fail "$name: exit $rc, wanted $want: $(tail -c 1500 "$name.out" "$name.err")"
}

redis="${ZUPERIOR_TEST_REDIS_URL:-${REDIS_URL:-}}"
[ -n "$redis" ] || { echo "FAIL: no ZUPERIOR_TEST_REDIS_URL: run through scripts/test"; exit 1; }
[ -d "$here/node_modules/socket.io" ] || (cd "$here" && npm install --no-audit --no-fund >/dev/null 2>&1) ||
  { echo "FAIL: npm install in $here"; exit 1; }
channel="loadtest-it-$$:market"  # pub/sub ignores the DB number: a channel of our own
node "$here/stand_in_server.js" "$work/port" "$redis" "$channel" >node.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
[ -s port ] || { echo "FAIL: stand-in server did not start: $(cat node.log)"; exit 1; }
port=$(cat port)
base="http://127.0.0.1:$port"

# 1. A quick run passes its threshold and writes a valid JSON report and a self-contained HTML page.
lt quick 0 --url "$base/apis/time" --rate 200 --duration 2s --connections 4 --threshold 'http.p99<500ms' \
  --threshold 'http.errors<1%' --out quick.json --html quick.html --progress-interval 1
python3 - quick.json <<'PY' || fail "quick: report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["schema"] == "zuperior.loadtest/1", r["schema"]
assert r["passed"] is True and r["exit_code"] == 0
o = r["http"]["overall"]
assert 380 <= o["requests"] <= 401, o["requests"]
assert o["errors"]["total"] == 0, o["errors"]
assert o["status_classes"]["2xx"] == o["requests"]
l = o["latency_us"]
assert 0 < l["p50"] <= l["p90"] <= l["p99"] <= l["max"], l
assert r["generator"]["scheduled"] == 400 and r["generator"]["started"] == 400, r["generator"]
assert r["generator"]["lagging"] is False
assert len(r["thresholds"]) == 2 and all(t["passed"] for t in r["thresholds"])
assert len(r["timeline"]) >= 2 and sum(p["requests"] for p in r["timeline"]) == o["requests"]
assert sum(c for _, c in r["http"]["histogram"]) == o["requests"]
assert r["ws"] is None
PY
grep -q "<svg" quick.html || fail "quick.html has no inline SVG"
grep -Eqi '(src|href)=' quick.html && fail "quick.html refers to external assets"
grep -q "verdict: PASS" quick.out || fail "quick: no PASS verdict in the summary"
grep -q "http" quick.err || fail "quick: no progress lines on stderr"

# 2. An impossible threshold exits 1 and says which.
lt impossible 1 --url "$base/apis/time" --rate 50 --duration 1s --threshold 'http.p99<1us' -q
grep -q "FAIL http.p99<1us" impossible.out || fail "impossible: threshold not reported as failed"

# 3. A target that is down exits 2 with a clear message; so do bad flags and scenarios.
closed=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
lt down 2 --url "http://127.0.0.1:$closed/" --rate 10 --duration 1s -q
grep -q "cannot connect to target" down.err || fail "down: message: $(cat down.err)"
# A target that accepts connections and never answers: nothing was measured, so exit 2 too, with
# the verdict NO ANSWER in the summary and the reports (it used to read PASS with no thresholds).
python3 "$src/tests/integration/common/mute_server.py" 30 >mute.port &
mute_pid=$!
for _ in $(seq 50); do [ -s mute.port ] && break; sleep 0.1; done
lt mute 2 --url "http://127.0.0.1:$(cat mute.port)/" --rate 10 --duration 1s --out mute.json
grep -q "answered none of .* requests (0 failed to connect, .* timed out)" mute.err || fail "mute: message: $(cat mute.err)"
grep -q "verdict: NO ANSWER" mute.out || fail "mute: verdict: $(tail -3 mute.out)"
python3 -c 'import json,sys; r=json.load(open("mute.json")); sys.exit(0 if r["exit_code"] == 2 and not r["passed"] else 1)' ||
  fail "mute: report.json does not say exit 2"
kill "$mute_pid" 2>/dev/null
wait "$mute_pid" 2>/dev/null
lt noflags 2
lt badthreshold 2 --url "$base/" --rate 1 --duration 1s --threshold 'http.p42<1ms'
cat >bad.yaml <<'YAML'
name: bad
target: http://127.0.0.1:1
http:
  rate: 10
  duration: 1s
  steps:
    - path: /ok
      expect: 999
YAML
lt badscenario 2 --scenario bad.yaml
grep -q "bad.yaml:8: http.steps\[0\].expect" badscenario.err || fail "badscenario: no file:line: $(cat badscenario.err)"

# 4. Coordinated omission: 2 connections against a 150ms route at 40/s cannot keep up; latency
#    from the scheduled start grows far beyond the service time, and the generator is not blamed.
lt slow 1 --url "$base/slow" --rate 40 --duration 2s --connections 2 --threshold 'http.p50<300ms' --out slow.json -q
python3 - slow.json <<'PY' || fail "slow: coordinated omission not visible"
import json, sys
r = json.load(open(sys.argv[1]))
l = r["http"]["overall"]["latency_us"]
assert l["p50"] > 300000, l      # a naive (service-time) measurement would say ~150ms
assert l["max"] > 900000, l
assert r["generator"]["lag_us"]["p99"] < 10000, r["generator"]
PY

# 5. Closed model.
lt closedmodel 0 --url "$base/livez" --closed --duration 1s --connections 2 --out closed.json -q
python3 -c "
import json; r=json.load(open('closed.json')); o=r['http']['overall']
assert o['requests'] > 50 and o['errors']['total'] == 0, o
" || fail "closed model"

# 6. A scenario: login per virtual user (JWT reused on later requests), Socket.IO clients with
#    acks, and real ticks published into Redis: delivery latency measured, nothing lost.
cat >full.yaml <<YAML
name: full
target: $base
symbols: [EURUSD, GBPUSD]
http:
  connections: 4
  vus: 10
  setup:
    - name: login
      method: POST
      path: /apis/auth/login
      body: {email: "{{email}}", password: "x"}
      extract: {token: token}
  phases:
    - {duration: 1s, to: 100}
    - {duration: 2s, rate: 100}
  steps:
    - name: me
      path: /apis/auth/me
      thresholds: ["errors==0"]
    - name: time
      path: /apis/time
socketio:
  connections: 30
  connect_rate: 60
  hold: 2500ms
  auth: true
  emit:
    - event: subscribe:market
      args: [[EURUSD, GBPUSD]]
      ack: true
  expect:
    - {event: market:update, min: 5}
publisher:
  channel: "$channel"
  symbols: [EURUSD, GBPUSD]
  rate: 100
  delay: 700ms
thresholds:
  - http.errors==0
  - ws.connect_errors==0
  - ws.lost==0
  - ws.out_of_order==0
  - ws.missing_events==0
  - ws.delivery.p99<500ms
  - ws.ack.timeouts==0
YAML
lt full 0 --scenario full.yaml --redis "$redis" --out full.json --html full.html -q
python3 - full.json <<'PY' || fail "full: report"
import json, sys
r = json.load(open(sys.argv[1]))
h = r["http"]
assert h["setup"]["login"]["requests"] == 10 and h["setup"]["login"]["errors"]["total"] == 0, h["setup"]
assert h["steps"]["me"]["requests"] > 50 and h["steps"]["me"]["errors"]["total"] == 0, h["steps"]["me"]
w = r["ws"]
assert w["connected"] == 30 and w["connect_errors"] == 0, w
assert w["acks"]["ok"] == 30, w["acks"]
d = w["delivery"]
assert d["published"] > 150, d
# every client subscribed to both symbols receives (nearly) every tick after its ack
assert d["delivered"] > 30 * 50, d
assert d["lost"] == 0 and d["out_of_order"] == 0, d
assert 0 < d["latency_us"]["p50"] < 500000, d["latency_us"]
assert w["events"]["market:update"] == d["delivered"]
PY
grep -q "Socket.IO delivery latency" full.html || fail "full.html lacks the delivery plot"

# 7. An expected event that never comes is counted per client (ticks go to a channel the
#    stand-in does not read), and the run fails.
sed -e "s|channel: \"$channel\"|channel: \"$channel-elsewhere\"|" -e 's|- ws.missing_events==0|- ws.received>0|' full.yaml >silent.yaml
lt silent 1 --scenario silent.yaml --redis "$redis" --out silent.json -q
python3 -c "
import json; r=json.load(open('silent.json')); w=r['ws']
assert w['missing_events'] == 30, w['missing_events']
" || fail "silent: missing events not counted"

# 8. The shipped smoke scenario parses.
"$bin" loadtest --scenario "$src/configs/loadtest/smoke.yaml" --redis "$redis" --target "http://127.0.0.1:$closed" >smoke_parse.out 2>&1
[ $? = 2 ] && grep -q "cannot connect" smoke_parse.out || fail "smoke.yaml: $(cat smoke_parse.out)"
"$bin" loadtest --scenario "$src/configs/loadtest/10k-users.yaml" --redis "$redis" --target "http://127.0.0.1:$closed" >tenk_parse.out 2>&1
grep -q "cannot connect" tenk_parse.out || fail "10k-users.yaml: $(cat tenk_parse.out)"

[ "$failures" = 0 ] && echo "loadtest: all checks passed"
exit $((failures > 0))
