#!/usr/bin/env bash
# loadtest end to end against a stand-in target (node: a few HTTP routes + stock socket.io fed by
# Redis pub/sub): quick runs, exit codes 0/1/2, JSON and HTML reports, coordinated-omission
# correction on a slow route, per-user login tokens, Socket.IO acks and delivery/loss of real ticks
# published into the throwaway Redis; hostile and broken targets (impostor_server.py) and hostile
# scenario files; the shipped scenarios parse. The runs against the real daemon
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

# report FILE PYTHON-EXPR: the JSON report is valid and EXPR (over r) holds.
report() { python3 -c "import json,sys; r=json.load(open('$1')); sys.exit(0 if ($2) else 1)" 2>/dev/null; }

redis="${ZUPERIOR_TEST_REDIS_URL:-${REDIS_URL:-}}"
[ -n "$redis" ] || { echo "FAIL: no ZUPERIOR_TEST_REDIS_URL: run through scripts/test"; exit 1; }
[ -d "$here/node_modules/socket.io" ] || (cd "$here" && npm install --no-audit --no-fund >/dev/null 2>&1) ||
  { echo "FAIL: npm install in $here"; exit 1; }
channel="loadtest-it-$$:market"  # pub/sub ignores the DB number: a channel of our own
node "$here/stand_in_server.js" "$work/port" "$redis" "$channel" >node.log 2>&1 &
pids+=($!)
for _ in $(seq 300); do [ -s port ] && break; sleep 0.1; done  # 30 s: node starts slowly on a busy machine
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
for _ in $(seq 300); do [ -s mute.port ] && break; sleep 0.1; done
lt mute 2 --url "http://127.0.0.1:$(cat mute.port)/" --rate 10 --duration 1s --out mute.json
grep -q "answered none of .* requests (0 failed to connect, .* timed out, 0 broken answers)" mute.err || fail "mute: message: $(cat mute.err)"
grep -q "verdict: NO ANSWER" mute.out || fail "mute: verdict: $(tail -3 mute.out)"
python3 -c 'import json,sys; r=json.load(open("mute.json")); sys.exit(0 if r["exit_code"] == 2 and not r["passed"] else 1)' ||
  fail "mute: report.json does not say exit 2"
kill "$mute_pid" 2>/dev/null
wait "$mute_pid" 2>/dev/null
lt noflags 2
# A quick-run flag beside --scenario would be ignored: refused instead, naming both.
lt scenario_and_rate 2 --scenario "$src/configs/loadtest/smoke.yaml" --rate 5
grep -q -- "--scenario excludes --rate" scenario_and_rate.err || fail "scenario_and_rate: $(cat scenario_and_rate.err)"
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
assert r["generator"]["lag_us"]["p99"] < 50000, r["generator"]  # the slow route is 150 ms; a busy CI box is not
# The target is slow, not the generator: no reason blames its own lag (the requests the busy
# connections never started are the target's backlog, and said so).
assert not any("started requests late" in why for why in r["generator"]["reasons"]), r["generator"]
assert r["generator"]["loop_delay_us"]["count"] > 100, r["generator"]  # its event loops were watched
assert not any("event loops" in why for why in r["generator"]["reasons"]), r["generator"]
PY

# The same backlog under --allow-lag: the requests never sent count as timeouts, so an error
# threshold sees the target falling behind (they were left out, and 'http.errors<10%' passed with
# two thirds of the schedule never sent).
lt stall 1 --url "$base/slow" --rate 40 --duration 2s --connections 2 --allow-lag --threshold 'http.errors<10%' \
  --out stall.json -q
python3 - stall.json <<'PY' || fail "stall: requests never sent are not counted as timeouts"
import json, sys
r = json.load(open(sys.argv[1]))
o, g = r["http"]["overall"], r["generator"]
assert g["not_started"] > 20, g
assert o["errors"]["timeout"] >= g["not_started"], (o["errors"], g)
assert o["requests"] == g["scheduled"], (o["requests"], g)
# Throughput is what was sent: the never-sent ones are timeouts, not requests per second.
assert o["not_sent"] == g["not_started"], (o, g)
assert abs(o["rps"] * r["elapsed_s"] - (o["requests"] - o["not_sent"])) < 1, (o["rps"], r["elapsed_s"], o)
PY

# The same per step: the never-sent requests are the step's timeouts too (only the overall figures
# had them, and a step's error threshold passed through the outage).
lt stall_step 1 --url "$base/slow" --rate 40 --duration 2s --connections 2 --allow-lag \
  --threshold 'http{step:GET /slow}.errors<10%' --out stall_step.json -q
python3 - stall_step.json <<'PY' || fail "stall_step: the step's figures leave out the requests never sent"
import json, sys
r = json.load(open(sys.argv[1]))
o, g, s = r["http"]["overall"], r["generator"], r["http"]["steps"]["GET /slow"]
assert g["not_started"] > 20, g
assert s["requests"] == o["requests"] == g["scheduled"], (s, o, g)
assert s["not_sent"] == g["not_started"] and s["errors"]["timeout"] >= g["not_started"], (s, g)
assert not r["thresholds"][0]["passed"], r["thresholds"]
PY

# --url without --expect takes any status below 400, as documented (only 200 was accepted).
lt moved 0 --url "$base/moved" --rate 10 --duration 1s --threshold 'http.errors==0' --out moved.json -q
report moved.json 'r["http"]["overall"]["ok"] == 10 and r["http"]["overall"]["status_classes"]["3xx"] == 10' ||
  fail "moved: $(head -c 600 moved.json)"
lt moved_expect 1 --url "$base/moved" --rate 10 --duration 1s --expect 200 --threshold 'http.errors==0' -q

# HEAD: the answer has the GET's Content-Length and no body (every HEAD used to time out).
lt head 0 --url "$base/apis/time" --method HEAD --rate 10 --duration 1s --out head.json -q
python3 -c "
import json; o=json.load(open('head.json'))['http']['overall']; assert o['ok'] == 10, o
" || fail "head: $(head -c 600 head.json)"

# A generator that fell behind fails the run (exit 1, whatever the target did) unless --allow-lag:
# with --max-lag 1us any real run lags.
timeout 60 "$bin" loadtest --url "$base/livez" --rate 100 --duration 1s --max-lag 1us --out lagging.json -q \
  >lagging.out 2>&1 && rc=0 || rc=$?
[ "$rc" = 1 ] || fail "lagging: exit $rc, wanted 1: $(cat lagging.out)"
report lagging.json 'r["generator"]["lagging"] and r["exit_code"] == 1 and r["http"]["overall"]["errors"]["total"] == 0' ||
  fail "lagging: $(head -c 600 lagging.json)"
timeout 60 "$bin" loadtest --url "$base/livez" --rate 100 --duration 1s --max-lag 1us --allow-lag -q \
  >lagging_allowed.out 2>&1 && rc=0 || rc=$?
[ "$rc" = 0 ] && grep -q "allowed by --allow-lag" lagging_allowed.out ||
  fail "lagging_allowed: exit $rc: $(cat lagging_allowed.out)"

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

# 6b. The same run against a server whose ticks carry no seq: delivery latency is measured (ts),
#     loss and ordering are not, so thresholds on them fail as "not measured" and the report has
#     null for them (ws.lost==0 passed with "actual 0").
# stand_in NAME VAR [SED-ARGS...]: a stand-in server with VAR=1 on its own channel, and NAME.yaml:
# full.yaml pointed at it (plus the sed edits given); fails when the server does not start.
stand_in() {
  local name="$1" var="$2"
  shift 2
  env "$var=1" node "$here/stand_in_server.js" "$work/$name.port" "$redis" "$channel-$name" >"node-$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do [ -s "$name.port" ] && break; sleep 0.1; done
  [ -s "$name.port" ] || return 1
  sed -e "s|^target: .*|target: http://127.0.0.1:$(cat "$name.port")|" -e "s|channel: \"$channel\"|channel: \"$channel-$name\"|" \
    "$@" full.yaml >"$name.yaml"
}
if stand_in noseq DROP_SEQ -e 's|^  - ws.out_of_order==0|&\n  - ws.delivery.lost_ratio<1%|'; then
  lt noseq 1 --scenario noseq.yaml --redis "$redis" --out noseq.json
  for m in 'ws.lost==0' 'ws.out_of_order==0' 'ws.delivery.lost_ratio<1%'; do
    grep -Eq "FAIL $m +actual not measured" noseq.out || fail "noseq: $m not failed as not measured: $(grep -F "$m" noseq.out)"
  done
  grep -Eq "ok +ws.delivery.p99<500ms" noseq.out || fail "noseq: delivery latency not measured: $(cat noseq.out)"
  grep -q "loss and ordering not measured" noseq.out || fail "noseq: summary: $(cat noseq.out)"
  report noseq.json 'r["exit_code"] == 1 and r["ws"]["delivery"]["delivered"] > 30 * 50 and
    [r["ws"]["delivery"][k] for k in ("lost", "out_of_order", "duplicates")] == [None] * 3 and
    all(t["actual"] is None and not t["passed"] for t in r["thresholds"] if t["metric"] in
        ("ws.lost", "ws.out_of_order", "ws.delivery.lost_ratio"))' ||
    fail "noseq: report: $(python3 -c 'import json,sys; print(json.load(open("noseq.json"))["ws"]["delivery"])' 2>&1)"
else
  fail "noseq: stand-in server did not start: $(cat node-noseq.log)"
fi

# 6c. A server that also sends ticks with a seq far beyond anything published: each is a protocol
#     error, not a delivery, and not a million ticks lost (they were counted lost, then out of order).
if stand_in forge FORGE_SEQ; then
  lt forge 0 --scenario forge.yaml --redis "$redis" --out forge.json -q
  report forge.json 'r["ws"]["protocol_errors"] > 0 and r["ws"]["delivery"]["lost"] == 0 and
    r["ws"]["delivery"]["out_of_order"] == 0 and r["ws"]["delivery"]["delivered"] > 30 * 50' ||
    fail "forge: report: $(python3 -c 'import json,sys; r=json.load(open("forge.json"))["ws"]; print(r["protocol_errors"], r["delivery"])' 2>&1)"
else
  fail "forge: stand-in server did not start: $(cat node-forge.log)"
fi

# 6d. A server that loses ticks: every 10th EURUSD tick dropped, with the tick before it sent again
#     after the next one (that duplicate used to cancel the loss: counted "out of order"), and no
#     GBPUSD tick at all (a symbol never delivered counted no loss). Every drop is a loss.
if stand_in lose LOSE_TICKS -e 's|- ws.missing_events==0|- ws.received>0|'; then
  lt lose 1 --scenario lose.yaml --redis "$redis" --out lose.json -q
  report lose.json '[(d["duplicates"] > 0 and d["out_of_order"] == 0 and d["lost"] > d["duplicates"] + 30 * 20)
    for d in [r["ws"]["delivery"]]][0] and any(t["metric"] == "ws.lost" and not t["passed"] for t in r["thresholds"])' ||
    fail "lose: report: $(python3 -c 'import json,sys; r=json.load(open("lose.json")); print(r["ws"]["delivery"], r["thresholds"])' 2>&1)"
else
  fail "lose: stand-in server did not start: $(cat node-lose.log)"
fi

# 6e. Each ack is timed against its own emit's ack_timeout (all were against the first emit's).
cat >acks.yaml <<YAML
name: acks
target: $base
socketio:
  connections: 3
  connect_rate: 30
  hold: 1500ms
  emit:
    - {event: "subscribe:market", args: [[EURUSD]], ack: true, ack_timeout: 5s}
    - {event: "slow:ack", args: [1], ack: true, ack_timeout: 100ms}
YAML
lt acks 0 --scenario acks.yaml --out acks.json -q
report acks.json 'r["ws"]["acks"]["ok"] == 3 and r["ws"]["acks"]["timeouts"] == 3' ||
  fail "acks: $(python3 -c 'import json; print(json.load(open("acks.json"))["ws"]["acks"])' 2>&1)"

# 7. An expected event that never comes is counted per client (ticks go to a channel the
#    stand-in does not read), and the run fails.
sed -e "s|channel: \"$channel\"|channel: \"$channel-elsewhere\"|" -e 's|- ws.missing_events==0|- ws.received>0|' full.yaml >silent.yaml
lt silent 1 --scenario silent.yaml --redis "$redis" --out silent.json -q
python3 -c "
import json; r=json.load(open('silent.json')); w=r['ws']
assert w['missing_events'] == 30, w['missing_events']
" || fail "silent: missing events not counted"

# 8. Hostile and broken targets (tests/integration/loadtest/impostor_server.py): every bad answer
#    is an error in the report, nothing crashes, and a run with no valid answer is not a PASS.
# impostor MODE: starts one, sets $imp to its base URL.
impostor() {
  rm -f "imp-$1.port"
  python3 "$here/impostor_server.py" "$1" 30 >"imp-$1.port" &
  pids+=($!)
  for _ in $(seq 300); do [ -s "imp-$1.port" ] && break; sleep 0.1; done
  imp="http://127.0.0.1:$(cat "imp-$1.port")"
}
# Answers that are not HTTP (garbage, a status 000, a 20 MB head, a 40 MB body, a body cut short, a
# bad chunk size, a reset) are protocol errors, and a run with nothing else exits 2 (it read PASS).
# A reset may come while connecting on a busy machine: a connect error then.
for mode in garbage status0 huge_header huge_body short_body bad_chunk reset; do
  impostor "$mode"
  lt "imp-$mode" 2 --url "$imp/x" --rate 5 --duration 1s --connections 2 --out "imp-$mode.json" -q
  grep -Eq "answered none of 5 requests \([0-9] failed to connect, 0 timed out, [0-9] broken answers\)" \
    "imp-$mode.err" || fail "imp-$mode: message: $(cat "imp-$mode.err")"
  report "imp-$mode.json" 'r["exit_code"] == 2 and r["http"]["overall"]["errors"]["protocol"] >= 1 and
    r["http"]["overall"]["errors"]["protocol"] + r["http"]["overall"]["errors"]["connect"] == 5 and
    (r["http"]["overall"]["errors"]["connect"] == 0 or "'"$mode"'" == "reset")' ||
    fail "imp-$mode: report: $(head -c 600 "imp-$mode.json")"
done
# 103 Early Hints before the 200 is not the answer (it was counted as a status error, and the 200 was
# taken for the next request's answer); a server answering twice to one request is caught.
impostor interim_ok
lt imp-interim 0 --url "$imp/x" --rate 10 --duration 1s --connections 1 --out imp-interim.json -q
report imp-interim.json 'r["http"]["overall"]["ok"] == 10 and r["http"]["overall"]["status_classes"]["2xx"] == 10' ||
  fail "imp-interim: $(head -c 600 imp-interim.json)"
impostor double
lt imp-double 0 --url "$imp/x" --rate 10 --duration 1s --connections 1 --out imp-double.json -q
report imp-double.json 'r["http"]["overall"]["errors"]["protocol"] >= 4' || fail "imp-double: $(head -c 600 imp-double.json)"
# A login whose token is null, a number, an object, text with CR LF (it went into the next requests'
# headers) or 100,000 nested arrays (a crash) fails the setup step: no user gets through, exit 2.
cat >login.yaml <<'YAML'
name: login
target: http://127.0.0.1:1
http:
  connections: 2
  vus: 3
  rate: 5
  duration: 1s
  setup:
    - name: login
      method: POST
      path: /apis/auth/login
      body: {email: "{{email}}", password: "x"}
      extract: {token: token}
  steps:
    - {name: me, path: /apis/auth/me}
YAML
for mode in login_null login_number login_object login_crlf login_deep; do
  impostor "$mode"
  lt "imp-$mode" 2 --scenario login.yaml --target "$imp" --out "imp-$mode.json" -q
  grep -q "let none of 3 virtual users through the setup, login failed 3 times" "imp-$mode.err" ||
    fail "imp-$mode: message: $(cat "imp-$mode.err")"
  report "imp-$mode.json" 'r["http"]["setup"]["login"]["errors"]["protocol"] == 3' ||
    fail "imp-$mode: report: $(head -c 600 "imp-$mode.json")"
done
# Broken Engine.IO/Socket.IO.
cat >sio.yaml <<'YAML'
name: sio
target: http://127.0.0.1:1
grace: 1s
socketio:
  connections: 3
  connect_rate: 20
  hold: 1500ms
  connect_timeout: 2s
  emit:
    - {event: "subscribe:market", args: [[EURUSD]], ack: true, ack_timeout: 1s}
  expect:
    - {event: market:update, min: 3}
YAML
# sio MODE RC PYTHON-EXPR  (the scenario is $sio_scenario, default sio.yaml)
sio() {
  impostor "$1"
  lt "imp-$1" "$2" --scenario "${sio_scenario:-sio.yaml}" --target "$imp" --out "imp-$1.json" -q
  report "imp-$1.json" "$3" || fail "imp-$1: $(head -c 800 "imp-$1.json")"
}
# The upgrade refused, an open packet that is not JSON or whose sid/pingInterval have the wrong types
# (they were taken as connected): no client connects, so exit 2 (it read PASS).
sio sio_refused 2 'r["ws"]["connect_error_kinds"] == {"handshake": 3}'
sio sio_bad_open 2 'r["ws"]["connect_error_kinds"] == {"protocol": 3} and r["ws"]["connected"] == 0'
sio sio_bad_types 2 'r["ws"]["connect_error_kinds"] == {"protocol": 3} and r["ws"]["connected"] == 0'
# A frame header announcing 2^64-1 bytes (a crash) or 1 GiB (allocated at once, per client), and text
# frames that are not Engine.IO packets: protocol errors, the first two drop the client.
sio sio_huge_len 0 'r["ws"]["protocol_errors"] == 3 and r["ws"]["disconnects"] == 3'
sio sio_big_len 0 'r["ws"]["protocol_errors"] == 3 and r["ws"]["disconnects"] == 3'
sio sio_junk 0 'r["ws"]["protocol_errors"] == 9 and r["ws"]["events"] == {}'
# Ticks nobody published (a ts in the future or out of range, a seq below 1) are protocol errors, not
# deliveries (a future ts was recorded as 0 µs).
sio sio_forged 0 'r["ws"]["protocol_errors"] == 9 and r["ws"]["delivery"]["delivered"] == 0'
# Frames that arrive together with the CONNECT answer are all read (they were left in Beast's
# buffer: events lost, a close frame unseen).
sio sio_together 0 'r["ws"]["events"] == {"market:update": 9} and r["ws"]["missing_events"] == 0'
grep -q "not Socket.IO" imp-sio_junk.out || fail "imp-sio_junk: summary: $(cat imp-sio_junk.out)"
# A message in fragments (continuation frames, a ping between) is one event (each fragment was
# taken for a message: events lost, protocol errors); a masked frame from a server is a protocol
# error that drops the client (it was read as valid); 200 distinct event names and one with an
# escape sequence keep the report to 32 names plus "(other)" (every name was kept, as sent).
sio sio_fragmented 0 'r["ws"]["events"] == {"market:update": 9} and r["ws"]["protocol_errors"] == 0'
sio sio_masked 0 'r["ws"]["protocol_errors"] == 3 and r["ws"]["disconnects"] == 3 and "market:update" not in r["ws"]["events"]'
# The same over long-polling: an open packet whose sid would break the polling URLs' request line,
# or that is not JSON, is a protocol error before any request carries it, and nobody connects (exit 2).
sed 's|^socketio:|&\n  transport: polling|' sio.yaml >sio-poll.yaml
for mode in sio_poll_bad_sid sio_poll_bad_open; do
  sio_scenario=sio-poll.yaml sio "$mode" 2 'r["ws"]["connect_error_kinds"] == {"protocol": 3} and r["ws"]["connected"] == 0'
done
# A 2 MB snapshot event at connect: each client gives the buffers back once it has read it (each
# kept ~4 MB for the rest of its life: 40 held clients kept ~160 MB). The generator's resident size is
# read while the clients hold, 2.5 s after the last snapshot (freed pages return within a second).
sed -e 's/connections: 3$/connections: 40/' -e 's/hold: 1500ms/hold: 6s/' \
  -e 's/{event: market:update, min: 3}/{event: snapshot, min: 1}/' sio.yaml >big.yaml
impostor sio_big
timeout 60 "$bin" loadtest --max-lag 250ms --scenario big.yaml --target "$imp" --out imp-sio_big.json -q >/dev/null 2>&1 &
lt_pid=$!
sleep 5
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$lt_pid/status" 2>/dev/null || echo 0)
wait "$lt_pid"
report imp-sio_big.json 'r["ws"]["events"] == {"snapshot": 40, "market:update": 40} and r["ws"]["protocol_errors"] == 0' ||
  fail "imp-sio_big: $(head -c 600 imp-sio_big.json)"
[ "$rss_kb" -gt 0 ] && [ "$rss_kb" -lt 60000 ] || fail "imp-sio_big: generator RSS ${rss_kb} KB while holding (want < 60 MB)"
sio sio_names 0 'len(r["ws"]["events"]) == 32 and r["ws"]["events"]["(other)"] == 3 * 170 and not any("\x1b" in k for k in r["ws"]["events"])'

# 9. Hostile scenario files and flags: each a clear exit 2 before any load.
scen() {  # scen NAME EXPECTED-MESSAGE YAML-LINES...
  local name="$1" want="$2"
  shift 2
  printf '%s\n' "target: $base" "$@" >"$name.yaml"
  lt "$name" 2 --scenario "$name.yaml"
  grep -qF "$want" "$name.err" || fail "$name: message: $(cat "$name.err")"
}
scen nanrate 'nanrate.yaml:3: http.rate must be a number, got "nan"' http: '  rate: nan' '  duration: 1s' '  steps: [{path: /}]'
scen nanconnect 'nanconnect.yaml:4: socketio.connect_rate must be a number, got "nan"' socketio: '  connections: 2' \
  '  connect_rate: nan'
scen longrun 'longrun.yaml:4: http.duration "3000000d" is longer than 30d' http: '  rate: 1' '  duration: 3000000d' \
  '  steps: [{path: /}]'
scen longhold 'longhold.yaml:4: socketio.hold "3000000d" is longer than 30d' socketio: '  connections: 2' \
  '  hold: 3000000d'
scen notimeout 'notimeout.yaml:4: http.timeout must be more than 0' http: '  rate: 1' '  timeout: 0s' '  duration: 1s' \
  '  steps: [{path: /}]'
scen norequest 'the HTTP rate and duration schedule no request' http: '  rate: 0.5' '  duration: 1s' '  steps: [{path: /}]'
# Requests that would be malformed on the wire, a target whose path would be dropped, a key given
# twice (the second was ignored), and a subscription without an ack beside a publisher (its ticks
# in flight counted lost).
scen crlfheader 'crlfheader.yaml:7: http.steps[0].headers: the value of X-A contains a control character' http: \
  '  rate: 1' '  duration: 1s' '  steps:' '    - path: /' '      headers: {X-A: "a\r\nX-Injected: 1"}'
scen badheader 'badheader.yaml:6: http.steps[0].headers: "X A" is not a header name' http: '  rate: 1' \
  '  duration: 1s' '  steps:' '    - {path: /, headers: {"X A": b}}'
scen spacepath 'spacepath.yaml:6: http.steps[0].path must not contain spaces' http: '  rate: 1' '  duration: 1s' \
  '  steps:' '    - {path: "/a b"}'
scen twice 'twice.yaml:4: key "http.rate" is given twice' http: '  rate: 1' '  rate: 2' '  duration: 1s' \
  '  steps: [{path: /}]'
scen noack 'noack.yaml:5: socketio.emit "subscribe:market" needs ack: true with a publisher' socketio: \
  '  connections: 2' '  emit:' '    - {event: "subscribe:market", args: [[EURUSD]]}' \
  "publisher: {redis: \"$redis\"}"
lt targetpath 2 --scenario "$src/configs/loadtest/smoke.yaml" --redis "$redis" --target "$base/apis"
grep -q "without a path" targetpath.err || fail "targetpath: $(cat targetpath.err)"
# A threshold naming a step or a section that is not there, or a negative or fractional limit, is a
# usage error (a step or section that was not there failed the run as "not measured", exit 1).
lt nostep 2 --url "$base/apis/time" --rate 5 --duration 1s --threshold 'http{step:nope}.p99<1s'
grep -q 'names step "nope", which does not exist (steps: "GET /apis/time")' nostep.err || fail "nostep: $(cat nostep.err)"
lt nows 2 --url "$base/apis/time" --rate 5 --duration 1s --threshold 'ws.lost==0'
grep -q "there is no socketio section" nows.err || fail "nows: $(cat nows.err)"
lt nohttp 2 --scenario sio.yaml --target "$base" --threshold 'http.p99<1s'
grep -q "there is no http section" nohttp.err || fail "nohttp: $(cat nohttp.err)"
lt negative 2 --url "$base/apis/time" --rate 5 --duration 1s --threshold 'http.p99<-5ms'
lt fraction 2 --url "$base/apis/time" --rate 5 --duration 1s --threshold 'http.requests>4.5'
lt tagfirst 2 --url "$base/apis/time" --rate 5 --duration 1s --threshold '{step:GET /apis/time}http.p99<1s'
lt flag-nan 2 --url "$base/apis/time" --rate nan --duration 1s
lt flag-conns 2 --url "$base/apis/time" --rate 5 --duration 1s --connections 4000000000
grep -q "http connections must be between 1 and 100000" flag-conns.err || fail "flag-conns: $(cat flag-conns.err)"
lt flag-long 2 --url "$base/apis/time" --rate 5 --duration 3000000d
grep -q "at most 30d" flag-long.err || fail "flag-long: $(cat flag-long.err)"

# 10. The shipped smoke scenario parses.
"$bin" loadtest --scenario "$src/configs/loadtest/smoke.yaml" --redis "$redis" --target "http://127.0.0.1:$closed" >smoke_parse.out 2>&1
[ $? = 2 ] && grep -q "cannot connect" smoke_parse.out || fail "smoke.yaml: $(cat smoke_parse.out)"
"$bin" loadtest --scenario "$src/configs/loadtest/10k-users.yaml" --redis "$redis" --target "http://127.0.0.1:$closed" >tenk_parse.out 2>&1
grep -q "cannot connect" tenk_parse.out || fail "10k-users.yaml: $(cat tenk_parse.out)"

[ "$failures" = 0 ] && echo "loadtest: all checks passed"
exit $((failures > 0))
