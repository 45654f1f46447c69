#!/usr/bin/env bash
# `zuperior loadtest` and `zuperior ratelimit` against the real daemon: two `zuperior serve`
# instances on the throwaway PostgreSQL and Redis (own database, own key prefix and channels).
#   - the shipped smoke scenario passes its thresholds (HTTP + Socket.IO with minted tokens and
#     real ticks published into Redis: delivery measured, nothing lost);
#   - `ratelimit test` passes against a daemon enforcing the configured strict limit, on one
#     instance and across two (the limit holds in total, not per instance), and so does the
#     websocket tier (inbound Socket.IO events of one user);
#   - it fails (exit 1) when the daemon enforces a different limit than the one it expects;
#   - `ratelimit inspect/reset` see and clear an identifier's state; a down target exits 2.
set -uo pipefail
bin="${ZUPERIOR_BIN:?}"
src="${ZUPERIOR_SOURCE_DIR:?}"
# shellcheck source=../../../scripts/lib/daemon.sh
. "$src/scripts/lib/daemon.sh"
: "${ZUPERIOR_TEST_PG_URL:?run through scripts/test}"
: "${ZUPERIOR_TEST_REDIS_URL:?run through scripts/test}"
work="$(mktemp -d /tmp/zuperior-ltd.XXXXXX)"
db="zltd_$$_$RANDOM"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  psql "$ZUPERIOR_TEST_PG_URL" -qtAc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }

psql "$ZUPERIOR_TEST_PG_URL" -qtAc "CREATE DATABASE $db" >/dev/null || { echo "FAIL: create database"; exit 1; }
base="${ZUPERIOR_TEST_PG_URL%/*}"
export DATABASE_URL="$base/$db?connection_limit=4&pool_timeout=5&connect_timeout=2"
export REDIS_URL="$ZUPERIOR_TEST_REDIS_URL"
export JWT_SECRET="loadtest-daemon-test-Zq8#rT2vLx9mK4pW7sN0yB3cF6hJ"
export NODE_ENV=test
prefix="ltd$$:"
export ZUPERIOR_REDIS_KEY_PREFIX="$prefix"
export ZUPERIOR_MARKET_FEED=redis
export ZUPERIOR_MARKET_CHANNEL="${prefix}market"
export ZUPERIOR_MARKET_ACCOUNT_CHANNEL="${prefix}account"
# A short strict window keeps the test quick; `ratelimit test` reads the same configuration.
export ZUPERIOR_RATELIMIT_STRICT=5/3s
export ZUPERIOR_RATELIMIT_WEBSOCKET=200/1m
export ZUPERIOR_RATELIMIT_STANDARD=10/3s
# Every client comes from 127.0.0.1: the per-address Socket.IO connect limit must fit the runs.
export ZUPERIOR_REALTIME_CONNECT_RATE=1000/10s
"$bin" migrate up --env-file /dev/null --dir "$src/migrations" >migrate.log 2>&1 || { echo "FAIL: migrate: $(tail -5 migrate.log)"; exit 1; }

ports=()
for i in 1 2; do
  "$bin" serve --env-file /dev/null --host 127.0.0.1 --port 0 --workers 2 >"serve$i.log" 2>&1 &
  pids+=($!)
  port="$(daemon_port "serve$i.log")" || { echo "FAIL: serve $i did not start: $(tail -5 "serve$i.log")"; exit 1; }
  ports+=("$port")
done
u1="http://127.0.0.1:${ports[0]}"
u2="http://127.0.0.1:${ports[1]}"
for u in "$u1" "$u2"; do
  for _ in $(seq 100); do curl -fsS "$u/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
done

# 1. The shipped smoke scenario against the real daemon (its publisher on our channel).
sed -e "s|channel: zuperior:market|channel: \"${prefix}market\"|" "$src/configs/loadtest/smoke.yaml" >smoke.yaml
grep -q "${prefix}market" smoke.yaml || fail "smoke.yaml: could not point the publisher at the test channel"
timeout 60 "$bin" loadtest --scenario smoke.yaml --target "$u1" --redis "$REDIS_URL" --max-lag 250ms \
  --out smoke.json --html smoke.html -q >smoke.out 2>smoke.err
rc=$?
if [ $rc = 0 ]; then ok "smoke scenario passes against zuperior serve"; else
  fail "smoke: exit $rc: $(tail -c 2000 smoke.out smoke.err)"
fi
python3 - smoke.json <<'PY' && ok "smoke report: HTTP clean, 20 sockets, ticks delivered, none lost" || fail "smoke report"
import json, sys
r = json.load(open(sys.argv[1]))
o = r["http"]["overall"]
assert o["requests"] > 300 and o["errors"]["total"] == 0, o
w = r["ws"]
assert w["connected"] == 20 and w["connect_errors"] == 0, w
assert w["acks"]["ok"] == 20, w["acks"]
d = w["delivery"]
assert d["published"] >= 100 and d["delivered"] >= 20 * 100, d
assert d["lost"] == 0 and d["out_of_order"] == 0, d
PY
# The same over HTTP long-polling (socketio.transport: polling).
sed -e 's|^  auth: true|  auth: true\n  transport: polling|' smoke.yaml >smoke-polling.yaml
grep -q '^  transport: polling' smoke-polling.yaml || fail "could not switch the smoke scenario to polling"
timeout 60 "$bin" loadtest --scenario smoke-polling.yaml --target "$u1" --redis "$REDIS_URL" --max-lag 250ms \
  --out polling.json -q >polling.out 2>polling.err
rc=$?
python3 - polling.json <<'PY' && [ $rc = 0 ] && ok "smoke over long-polling: 20 clients, acks, ticks delivered, none lost" ||
import json, sys
r = json.load(open(sys.argv[1]))
w = r["ws"]
assert w["connected"] == 20 and w["connect_errors"] == 0, w
assert w["acks"]["ok"] == 20, w["acks"]
d = w["delivery"]
assert d["delivered"] >= 20 * 100 and d["lost"] == 0, d
PY
  fail "polling smoke: exit $rc: $(tail -c 1500 polling.out polling.err)"
# The shipped 10k-users scenario, scaled down (100 sockets, seconds instead of minutes), with the
# users its header says to seed: minted tokens, me/accounts per user, subscribe:account acked.
sed -n 's/^#   //p' "$src/configs/loadtest/10k-users.yaml" | sed -n '/^INSERT/,/^SQL$/p' | grep -v '^SQL$' >seed.sql
psql "$base/$db" -q -v ON_ERROR_STOP=1 -f seed.sql >/dev/null 2>seed.err || fail "10k-users seed SQL: $(cat seed.err)"
sed -e 's/^  connections: 10000/  connections: 100/' -e 's/^  hold: 70s/  hold: 3s/' \
  -e 's/{duration: 30s, to: 2000}/{duration: 1s, to: 50}/' -e 's/{duration: 60s, rate: 2000}/{duration: 3s, rate: 50}/' \
  -e 's/^  delay: 25s/  delay: 1500ms/' -e "s|channel: zuperior:market|channel: \"${prefix}market\"|" \
  "$src/configs/loadtest/10k-users.yaml" >small.yaml
timeout 90 "$bin" loadtest --scenario small.yaml --target "$u2" --redis "$REDIS_URL" --max-lag 250ms \
  --out small.json -q >small.out 2>small.err
rc=$?
python3 - small.json <<'PY' && [ $rc = 0 ] && ok "10k-users scenario (scaled to 100): per-user API and account subscriptions pass" ||
import json, sys
r = json.load(open(sys.argv[1]))
s = r["http"]["steps"]
assert s["me"]["errors"]["total"] == 0 and s["accounts"]["errors"]["total"] == 0, s
w = r["ws"]
assert w["connected"] == 100 and w["acks"]["ok"] == 200 and w["acks"]["errors"] == 0, w
assert w["delivery"]["lost"] == 0 and w["delivery"]["delivered"] > 0, w["delivery"]
PY
  fail "10k-users (scaled): exit $rc: $(tail -c 1500 small.out small.err)"
# A token signed with another secret is refused at connect: the daemon really checks it.
JWT_SECRET="another-secret-entirely-9f8e7d6c5b4a3210zyxwvu" timeout 60 "$bin" loadtest --scenario smoke.yaml \
  --target "$u1" --redis "$REDIS_URL" --max-lag 250ms --out forged.json -q >forged.out 2>&1
rc=$?
python3 -c "
import json; w=json.load(open('forged.json'))['ws']; assert w['connected'] == 0 and w['connect_errors'] == 20, w
" 2>/dev/null && [ $rc = 1 ] && ok "forged tokens refused (exit 1, 20 connect errors)" || fail "forged tokens: exit $rc: $(tail -c 800 forged.out)"
# No secret in the environment: cannot run, and the message names the variable only.
env -u JWT_SECRET "$bin" loadtest --scenario smoke.yaml --target "$u1" --redis "$REDIS_URL" -q >nosecret.out 2>&1
rc=$?
[ $rc = 2 ] && grep -q "JWT_SECRET" nosecret.out && ok "missing JWT_SECRET exits 2" || fail "no secret: exit $rc: $(cat nosecret.out)"
grep -q "Zq8#rT2v" smoke.out smoke.err smoke.json smoke.html forged.out nosecret.out && fail "the secret leaked into output"

# 2. ratelimit test: the strict tier (login) on one instance.
rl_reset() {
  "$bin" ratelimit reset --tier strict --env-file /dev/null ip:127.0.0.1 >/dev/null 2>&1
  "$bin" ratelimit reset --tier strict --env-file /dev/null email:ratelimit-test@loadtest.invalid >/dev/null 2>&1
}
rl_reset
timeout 60 "$bin" ratelimit test --env-file /dev/null --tier strict --url "$u1" >rl1.out 2>&1
rc=$?
[ $rc = 0 ] && ok "ratelimit test --tier strict passes on one instance" || fail "ratelimit one: exit $rc: $(cat rl1.out)"

# inspect shows the state it left; reset clears it.
"$bin" ratelimit inspect --tier strict --env-file /dev/null ip:127.0.0.1 >inspect.out 2>&1
grep -q "limit     5 per 3000ms" inspect.out && ok "ratelimit inspect shows the tier" || fail "inspect: $(cat inspect.out)"
"$bin" ratelimit inspect --tier strict --env-file /dev/null --format json ip:127.0.0.1 >inspect.json 2>&1
python3 -c "
import json; r = json.load(open('inspect.json'))
assert r['key'].endswith('strict:ip:127.0.0.1') and r['limit'] == 5 and r['window_ms'] == 3000, r
assert r['state']['current'] + r['state']['previous'] >= 5 and r['ttl_ms'] > 0, r
" && ok "ratelimit inspect --format json: the key, the tier and the counts" || fail "inspect json: $(cat inspect.json)"
"$bin" ratelimit reset --tier strict --env-file /dev/null --format json ip:127.0.0.1 >reset.json 2>&1
python3 -c "import json; r = json.load(open('reset.json')); assert r['cleared'] is True, r" &&
  ok "ratelimit reset --format json says it cleared the key" || fail "reset json: $(cat reset.json)"
rl_reset
"$bin" ratelimit inspect --tier strict --env-file /dev/null ip:127.0.0.1 >inspect2.out 2>&1
grep -q "state     none" inspect2.out && ok "ratelimit reset clears the identifier" || fail "reset: $(cat inspect2.out)"

# 3. Across two instances sharing one Redis: the total allowed is the limit.
timeout 60 "$bin" ratelimit test --env-file /dev/null --tier strict --urls "$u1,$u2" >rl2.out 2>&1
rc=$?
[ $rc = 0 ] && ok "ratelimit test --urls holds across two instances" || fail "ratelimit two: exit $rc: $(cat rl2.out)"

# 4. A deployment enforcing a different limit than expected fails the test (exit 1).
rl_reset
ZUPERIOR_RATELIMIT_STRICT=8/3s timeout 60 "$bin" ratelimit test --env-file /dev/null --tier strict --url "$u1" \
  >rlbad.out 2>&1
rc=$?
[ $rc = 1 ] && grep -q "FAIL" rlbad.out && ok "a limit other than the expected one fails (exit 1)" ||
  fail "misconfigured: exit $rc: $(cat rlbad.out)"
rl_reset
ZUPERIOR_RATELIMIT_STRICT=8/3s timeout 60 "$bin" ratelimit test --env-file /dev/null --tier strict --url "$u1" \
  --format json --no-wait >rlbad.json 2>rlbad.err
rc=$?
[ $rc = 1 ] && python3 -c "
import json; r = json.load(open('rlbad.json'))
assert r['verdict'] == 'FAIL' and r['exit_code'] == 1 and r['limit'] == 8 and r['allowed'] == 5, r
assert r['target'] == 'POST /apis/auth/login' and r['urls'] and any(not c['pass'] for c in r['checks']), r
" && ok "ratelimit test --format json: the failed check and the verdict as JSON (exit 1)" ||
  fail "misconfigured json: exit $rc: $(cat rlbad.json rlbad.err)"

# 5. The other HTTP tiers: standard per (minted) user on /apis/auth/me, generous per address on
#    /apis/time (the smoke run used that address's window: reset it first).
timeout 60 "$bin" ratelimit test --env-file /dev/null --tier standard --url "$u1" >rlstd.out 2>&1
rc=$?
[ $rc = 0 ] && grep -q "GET /apis/auth/me" rlstd.out && ok "ratelimit test --tier standard passes (per user)" ||
  fail "standard: exit $rc: $(cat rlstd.out)"
"$bin" ratelimit reset --tier generous --env-file /dev/null ip:127.0.0.1 >/dev/null 2>&1
timeout 60 "$bin" ratelimit test --env-file /dev/null --tier generous --url "$u1" --no-wait >rlgen.out 2>&1
rc=$?
[ $rc = 0 ] && grep -q "1000 allowed before the first 429" rlgen.out && ok "ratelimit test --tier generous passes on /apis/time" ||
  fail "generous: exit $rc: $(cat rlgen.out)"

# 6. The websocket tier: inbound Socket.IO events of one (minted) user, acks counted; persistent
#    abuse disconnects. Expecting another limit fails.
timeout 60 "$bin" ratelimit test --env-file /dev/null --tier websocket --url "$u1" >rlws.out 2>&1
rc=$?
[ $rc = 0 ] && grep -q "200 of 203 events accepted" rlws.out && ok "ratelimit test --tier websocket passes" ||
  fail "websocket tier: exit $rc: $(cat rlws.out)"
# The tier is decided in Redis, so one user's events count once across both instances (before,
# each instance counted its own and a user on two instances got twice the limit).
timeout 60 "$bin" ratelimit test --env-file /dev/null --tier websocket --urls "$u1,$u2" >rlws2.out 2>&1
rc=$?
[ $rc = 0 ] && grep -q "200 of 203 events accepted" rlws2.out && ok "websocket tier holds across two instances" ||
  fail "websocket tier across instances: exit $rc: $(cat rlws2.out)"
ZUPERIOR_RATELIMIT_WEBSOCKET=300/1m timeout 60 "$bin" ratelimit test --env-file /dev/null --tier websocket \
  --url "$u1" >rlwsbad.out 2>&1
rc=$?
[ $rc = 1 ] && ok "websocket tier: another limit than the daemon's fails (exit 1)" || fail "websocket bad: exit $rc: $(cat rlwsbad.out)"
JWT_SECRET="another-secret-entirely-9f8e7d6c5b4a3210zyxwvu" "$bin" ratelimit test --env-file /dev/null \
  --tier websocket --url "$u1" >rlwsforged.out 2>&1
rc=$?
[ $rc = 2 ] && grep -q "refused" rlwsforged.out && ok "websocket tier: a refused token exits 2" ||
  fail "websocket forged: exit $rc: $(cat rlwsforged.out)"

# A JWT_SECRET that validation refuses is named as the reason, not reported as missing.
JWT_SECRET=short "$bin" ratelimit test --env-file /dev/null --tier standard --url "$u1" >rlshort.out 2>&1
rc=$?
[ $rc = 2 ] && grep -q "JWT_SECRET cannot mint a token: must be at least 32 characters" rlshort.out &&
  ok "ratelimit test: a refused JWT_SECRET is named with its reason (exit 2)" || fail "short secret: exit $rc: $(cat rlshort.out)"
# A token given with -H is the one used, with no JWT_SECRET at hand (it was read through a dangling
# view: the run said "set JWT_SECRET", or with a secret minted another user's token).
given=$(python3 -c '
import base64, hashlib, hmac, json, os, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "rl-given-%d" % os.getpid(), "iat": int(time.time()), "exp": int(time.time()) + 600}).encode())
sig = hmac.new(os.environ["JWT_SECRET"].encode(), (head + "." + body).encode(), hashlib.sha256).digest()
print(head + "." + body + "." + b64(sig))')
env -u JWT_SECRET timeout 60 "$bin" ratelimit test --env-file /dev/null --tier standard --url "$u1" \
  -H "Authorization: Bearer $given" >rlgiven.out 2>&1
rc=$?
[ $rc = 0 ] && grep -q "as the token given" rlgiven.out && ok "ratelimit test -H 'Authorization: Bearer ...' uses that token" ||
  fail "given token: exit $rc: $(cat rlgiven.out)"
# No token to be had, --format json: still one JSON object on stdout (verdict ERROR, exit 2).
env -u JWT_SECRET "$bin" ratelimit test --env-file /dev/null --tier standard --url "$u1" --format json \
  >rlnotoken.json 2>rlnotoken.err
rc=$?
[ $rc = 2 ] && python3 -c "
import json; r = json.load(open('rlnotoken.json'))
assert r['verdict'] == 'ERROR' and r['exit_code'] == 2 and 'JWT_SECRET' in r['error'] and r['tier'] == 'standard', r
" && ok "ratelimit test --format json without a token: JSON with verdict ERROR, exit 2" ||
  fail "no token json: exit $rc: $(cat rlnotoken.json rlnotoken.err)"

# A deployment whose 429 body has the seed's fields with the wrong types: the body check fails
# (exit 1) and says what came; the probe does not die on the types (it used to exit 2 with
# nlohmann's type_error).
cat >impostor.py <<'PY'
import http.server, json, sys, time
count = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        count += 1
        ok = count <= 5
        body = b'{"success":true}' if ok else json.dumps({"success": "no", "message": 5, "retryAfter": "x"}).encode()
        self.send_response(200 if ok else 429)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-RateLimit-Limit", "5")
        self.send_header("X-RateLimit-Remaining", str(max(0, 5 - count)))
        self.send_header("X-RateLimit-Reset", str(int(time.time() * 1000) + 3000))
        if not ok:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 impostor.py >impostor.port &
impostor_pid=$!
for _ in $(seq 50); do [ -s impostor.port ] && break; sleep 0.1; done
timeout 30 "$bin" ratelimit test --env-file /dev/null --tier strict --url "http://127.0.0.1:$(cat impostor.port)" --no-wait \
  >rlimpostor.out 2>&1
rc=$?
kill "$impostor_pid" 2>/dev/null; wait "$impostor_pid" 2>/dev/null
[ $rc = 1 ] && grep -q 'FAIL  429 body' rlimpostor.out && ! grep -q "json.exception" rlimpostor.out &&
  ok "ratelimit test: a 429 body with the wrong field types fails the body check (exit 1), no crash" ||
  fail "impostor: exit $rc: $(cat rlimpostor.out)"

# 7. A target that is down: exit 2.
closed=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$bin" ratelimit test --env-file /dev/null --tier strict --url "http://127.0.0.1:$closed" >rldown.out 2>&1
rc=$?
[ $rc = 2 ] && ok "ratelimit test against a down target exits 2" || fail "down: exit $rc: $(cat rldown.out)"
"$bin" ratelimit test --env-file /dev/null --tier strict --url "http://127.0.0.1:$closed" --format json >rldown.json 2>&1
rc=$?
[ $rc = 2 ] && python3 -c "
import json; r = json.load(open('rldown.json'))
assert r['verdict'] == 'ERROR' and r['exit_code'] == 2 and 'refused' in r['error'], r
" && ok "ratelimit test --format json against a down target: JSON with verdict ERROR, exit 2" ||
  fail "down json: exit $rc: $(cat rldown.json)"
# A target that accepts and never answers (a wedged deployment): --timeout bounds each request.
python3 "$src/tests/integration/common/mute_server.py" 20 >mute.port &
mute_pid=$!
for _ in $(seq 50); do [ -s mute.port ] && break; sleep 0.1; done
mute=$(cat mute.port)
for tier in strict websocket; do
  start=$(date +%s.%N)
  timeout 30 "$bin" ratelimit test --env-file /dev/null --tier "$tier" --url "http://127.0.0.1:$mute" --timeout 1s \
    >rlmute.out 2>&1
  rc=$?
  took=$(python3 -c "import sys; print(round($(date +%s.%N) - $start, 1))")
  [ $rc = 2 ] && python3 -c "import sys; sys.exit(0 if $took < 6 else 1)" &&
    ok "ratelimit test --tier $tier --timeout 1s against a target that never answers: exit 2 in ${took}s" ||
    fail "mute $tier: exit $rc in ${took}s: $(cat rlmute.out)"
done
kill "$mute_pid" 2>/dev/null || true
wait "$mute_pid" 2>/dev/null || true

if [ "$failures" != 0 ]; then
  for i in 1 2; do echo "--- serve$i.log (tail)"; tail -n 20 "serve$i.log"; done
  exit 1
fi
echo "loadtest_daemon: all checks passed"
