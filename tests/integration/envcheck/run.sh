#!/usr/bin/env bash
# envcheck end to end: sources and precedence, every problem in one run, redaction, exit codes,
# the shipped configs/zuperior.yaml, and --probe against the real throwaway PostgreSQL and Redis.
set -uo pipefail
bin="${ZUPERIOR_BIN:?}"
src="${ZUPERIOR_SOURCE_DIR:?}"
work="$(mktemp -d)"
trap 'kill "$(cat "$work/oomredis/redis.pid" 2>/dev/null)" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# run NAME EXPECTED_RC ARGS... : runs envcheck with a clean environment plus $extra_env.
run() {
  local name="$1" want="$2"
  shift 2
  env -i PATH="$PATH" "${extra_env[@]}" "$bin" envcheck "$@" >"$name.out" 2>"$name.err"
  local rc=$?
  [ "$rc" = "$want" ] || fail "$name: exit $rc, wanted $want: $(head -c 600 "$name.out" "$name.err")"
}
expect() { grep -q -- "$2" "$1.out" || fail "$1: output lacks '$2'"; }
expect_not() { ! grep -q -- "$2" "$1.out" "$1.err" || fail "$1: output shows '$2'"; }

secret='Zr8v!q2LwP9s@Kd4mN7x#Tb6yHc3Jf5gUe1'
dbpass='s3cr3t-db-pass'

# 1. A valid configuration from a .env file, with the seed's names.
cat >good.env <<ENV
# the seed's variables, verbatim
NODE_ENV=development
DATABASE_URL="postgresql://app:$dbpass@127.0.0.1:5432/zuperior?connection_limit=15&pool_timeout=7"
export JWT_SECRET='$secret'
REDIS_HOST=127.0.0.1
REDIS_PORT=6390
NEXT_PUBLIC_APP_URL=http://localhost:3000
ENV
extra_env=()
run good 0 --config /dev/null --env-file good.env
run good_cfg 0 --config /dev/null --env-file good.env --print-config --format json
python3 - "$work/good_cfg.out" <<'PY' || fail "good_cfg: values or sources wrong"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["database.pool_size"]["value"] == "15", c["database.pool_size"]
assert c["database.pool_timeout"]["value"] == "7s", c["database.pool_timeout"]
assert c["redis.port"]["value"] == "6390"
assert c["redis.port"]["source"] == "good.env:6 (REDIS_PORT)", c["redis.port"]
assert c["server.cors_origins"]["value"] == "http://localhost:3000"
assert c["server.port"]["source"] == "default"
PY
expect_not good_cfg "$secret"
expect_not good_cfg "$dbpass"

# 1b. --profile overrides NODE_ENV: a development file without a CORS origin is held to
# production's rules by --profile production (no origin is an error there), and the same file
# saying NODE_ENV=production passes with --profile development.
grep -v NEXT_PUBLIC_APP_URL good.env >nocors.env
run prof_none 0 --config /dev/null --env-file nocors.env
run prof_prod 1 --config /dev/null --env-file nocors.env --profile production
expect prof_prod "profile production: INVALID"
expect prof_prod "no CORS origin is set in production"
sed 's/^NODE_ENV=.*/NODE_ENV=production/' nocors.env >prod_nocors.env
run prof_env 1 --config /dev/null --env-file prod_nocors.env
run prof_dev 0 --config /dev/null --env-file prod_nocors.env --profile development
expect prof_dev "profile development: valid"
expect_not prof_dev "CORS origin"
run prof_bad 2 --config /dev/null --env-file good.env --profile staging
grep -q "staging not in" prof_bad.err || fail "prof_bad: the refusal does not name the bad profile: $(cat prof_bad.err)"

# 2. Precedence: environment beats .env, --set beats environment.
extra_env=(ZUPERIOR_SERVER_PORT=5001 REDIS_PORT=6391)
run prec 0 --config /dev/null --env-file good.env --set server.port=5002 --print-config --format json
python3 -c "
import json,sys; c=json.load(open('prec.out'))
assert c['server.port']['value']=='5002', c['server.port']
assert c['redis.port']['value']=='6391' and 'environment' in c['redis.port']['source'], c['redis.port']
" || fail "precedence"

# 3. Every problem in one run, with where each came from; a malformed .env line is one of them.
cat >bad.env <<'ENV'
NODE_ENV=production
JWT_SECRET=changeme
DATABASE_URL=mysql://root:hunter2@db/x
this line is not an assignment
ZUPERIOR_SERVER_PORT=70000
ZUPERIOR_SERVER_IDLE_TIMEOUT=soon
REDIS_URL="redis://:pw@127.0.0.1:6379
ENV
extra_env=()
run bad 1 --config /dev/null --env-file bad.env --format json
python3 - "$work/bad.out" <<'PY' || fail "bad: report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["valid"] is False
probs = r["problems"]
names = {p.get("variable") or p.get("key") for p in probs if p["severity"] == "error"}
for want in ("JWT_SECRET", "DATABASE_URL", "ZUPERIOR_SERVER_PORT", "ZUPERIOR_SERVER_IDLE_TIMEOUT"):
    assert want in names, (want, names)
at = lambda n: [p for p in probs if p["source"].get("file") == "bad.env" and p["source"].get("line") == n]
assert at(4) and "malformed" in at(4)[0]["message"], "malformed line 4 not reported with its line"
assert at(7) and "unterminated" in at(7)[0]["message"], "unterminated quote on line 7"
assert not any(p["message"].endswith("is not set") and p.get("variable") in ("JWT_SECRET", "DATABASE_URL") for p in probs), "a rejected value was also called unset"
assert any("cors" in json.dumps(p).lower() or "NEXT_PUBLIC_APP_URL" in json.dumps(p) for p in probs), "production CORS"
assert len([p for p in probs if p["severity"] == "error"]) >= 6, len(probs)
PY
expect_not bad "hunter2"
expect_not bad "changeme"
run bad_text 1 --config /dev/null --env-file bad.env
expect bad_text "from: bad.env:4$"
expect bad_text "fix:"
expect_not bad_text "hunter2"

# 4. YAML: unknown keys are errors with their line and a suggestion; wrong types too.
cat >bad.yaml <<'YAML'
server:
  port: 8080
  listen_adress: 0.0.0.0
database:
  pool_size: many
redis: [1, 2]
YAML
extra_env=(JWT_SECRET="$secret" DATABASE_URL=postgresql://a@127.0.0.1/b)
run yaml 1 --config bad.yaml --env-file /dev/null
expect yaml "unknown key \"server.listen_adress\""
expect yaml "from: bad.yaml:3"
expect yaml "from: bad.yaml:5"
expect yaml "from: bad.yaml:6"

# 5. Cannot run: a named config file that does not exist, a bad flag.
run missing 2 --config does-not-exist.yaml
run badflag 2 --frobnicate

# 6. The shipped configs/zuperior.yaml documents every key with its default and is current.
env -i PATH="$PATH" "$bin" envcheck --print-config --format yaml --config /dev/null --env-file /dev/null >gen.yaml
sed -n '/^app:/,$p' "$src/configs/zuperior.yaml" >shipped.yaml
diff -u shipped.yaml gen.yaml >yaml.diff || fail "configs/zuperior.yaml is stale; run scripts/gen-config: $(head -20 yaml.diff)"
extra_env=(JWT_SECRET="$secret" DATABASE_URL=postgresql://a@127.0.0.1/b)
run shipped 0 --config "$src/configs/zuperior.yaml" --env-file /dev/null --print-config --format json
run defaults 0 --config /dev/null --env-file /dev/null --print-config --format json
python3 -c "
import json; a=json.load(open('shipped.out')); b=json.load(open('defaults.out'))
diff=[k for k in b if a[k]['value']!=b[k]['value']]
assert not diff, diff
assert set(a)==set(b)
" || fail "shipped yaml does not equal the defaults"

# 7. --probe against the real services, and against a closed port.
# A .env holding bytes that are not UTF-8: the JSON report is still valid JSON (U+FFFD in place of
# the bad bytes of a value it shows), exit 1, the bad line named. Before, the report aborted with
# nlohmann's exit 2. A malformed line's own text is not repeated (it may hold a secret).
printf 'NODE_ENV=dev\xffel\nBAD\xff\xfeNAME=1\nJWT_SECRET=%s\n' "$secret" >latin.env
extra_env=(DATABASE_URL="postgresql://u:p@127.0.0.1:5432/db")
run latin 1 --config /dev/null --env-file latin.env --format json
python3 -c "
import json; r = json.load(open('latin.out', encoding='utf-8'))
bad = [p for p in r['problems'] if p['source'].get('line') == 2]
assert bad and 'non-printable' in bad[0]['message'] and bad[0]['source']['file'].endswith('latin.env'), r['problems']
env = [p for p in r['problems'] if p['source'].get('line') == 1]
assert env and chr(0xfffd) in env[0]['message'], r['problems']
" || fail "latin: not valid JSON naming line 2: $(head -c 400 latin.out latin.err)"

# A .env or config that never ends (/dev/zero) took all the memory there was (4 GB in 10 s): now
# an error at 16 MiB. A pipe (process substitution) is still read.
extra_env=(JWT_SECRET="$secret" DATABASE_URL="postgresql://u:p@127.0.0.1:5432/db")
for what in env-file config; do
  timeout 20 env -i PATH="$PATH" "${extra_env[@]}" "$bin" envcheck --"$what" /dev/zero >"zero_$what.out" 2>"zero_$what.err"
  rc=$?
  [ "$rc" = 1 ] || fail "zero_$what: exit $rc, wanted 1: $(head -c 300 "zero_$what.err")"
  expect "zero_$what" "cannot read /dev/zero: larger than 16 MiB"
done
env -i PATH="$PATH" "$bin" envcheck --config /dev/null --env-file <(printf 'JWT_SECRET=%s\nDATABASE_URL=postgresql://u:p@127.0.0.1:5432/db\n' "$secret") >piped.out 2>piped.err ||
  fail "piped .env: $(head -c 600 piped.out piped.err)"

# A named pipe no one writes to (--env-file, $ZUPERIOR_ENV_FILE, --config) hung envcheck (and
# serve) forever: now an error once it has been silent for 10 s. The three run side by side.
mkfifo silent.fifo
extra_env=(JWT_SECRET="$secret" DATABASE_URL="postgresql://u:p@127.0.0.1:5432/db")
timeout 30 env -i PATH="$PATH" "${extra_env[@]}" "$bin" envcheck --config /dev/null --env-file silent.fifo >fifo_env.out 2>&1 &
p1=$!
timeout 30 env -i PATH="$PATH" "${extra_env[@]}" ZUPERIOR_ENV_FILE=silent.fifo "$bin" envcheck --config /dev/null >fifo_var.out 2>&1 &
p2=$!
timeout 30 env -i PATH="$PATH" "${extra_env[@]}" "$bin" envcheck --config silent.fifo --env-file /dev/null >fifo_cfg.out 2>&1 &
p3=$!
for job in "fifo_env $p1" "fifo_var $p2" "fifo_cfg $p3"; do
  set -- $job
  wait "$2"
  rc=$?
  [ "$rc" = 1 ] || fail "$1: exit $rc, wanted 1: $(head -c 300 "$1.out")"
  expect "$1" "cannot read silent.fifo: nothing came through the pipe for 10 s"
done
mkdir envdir
run envdir 1 --config /dev/null --env-file envdir
expect envdir "cannot read envdir: it is a directory"

# Long values: std::regex in the redaction recursed per character, and a 50 KB DATABASE_URL or a
# 40 KB list of CORS origins crashed envcheck (exit 139).
long_pw="$(head -c 50000 /dev/zero | tr '\0' x)"
origins="$(seq -f 'https://app%g.example.com' 1800 | paste -sd, -)"
extra_env=(JWT_SECRET="$secret" DATABASE_URL="postgresql://app:$long_pw@127.0.0.1:5432/zuperior")
run longurl 0 --config /dev/null --env-file /dev/null --print-config
expect longurl "postgresql://app:\*\*\*@127.0.0.1:5432/zuperior"
extra_env=(JWT_SECRET="$secret" DATABASE_URL="postgresql://u:p@127.0.0.1:5432/db" NEXT_PUBLIC_APP_URL="$origins")
run longorigins 0 --config /dev/null --env-file /dev/null --print-config
extra_env=(JWT_SECRET="$secret" DATABASE_URL="postgresql://u:p@127.0.0.1:5432/db" NEXT_PUBLIC_APP_URL="${origins//https/http}")
run longorigins_prod 0 --config /dev/null --env-file /dev/null --profile production
expect longorigins_prod "CORS origin http://app1.example.com is not HTTPS"

# A URL password with spaces (parse_url takes the userinfo to the last '@') was printed in clear.
extra_env=(JWT_SECRET="$secret" DATABASE_URL="postgresql://app:my secret pw@127.0.0.1:5432/zuperior")
run spacepw 0 --config /dev/null --env-file /dev/null --print-config
expect spacepw "postgresql://app:\*\*\*@127.0.0.1:5432/zuperior"
expect_not spacepw "secret pw"

# MARKET_DATA_SYMBOLS_PATH naming a .env by mistake: each line by its number, never its text.
extra_env=(MARKET_DATA_SYMBOLS_PATH=good.env)
run symbols_env 1 --config /dev/null --env-file /dev/null
expect symbols_env "from: good.env:4$"
expect_not symbols_env "$secret"
expect_not symbols_env "$dbpass"
expect_not symbols_env "JWT_SECRET="

# NaN passed every range check of a number.
extra_env=(JWT_SECRET="$secret" DATABASE_URL="postgresql://u:p@127.0.0.1:5432/db" ZUPERIOR_MARKET_SIM_RATE=nan)
run simnan 1 --config /dev/null --env-file /dev/null
expect simnan '"nan" is not a finite number'

# An empty ZUPERIOR_ENV_FILE= is unset (./.env when present, none here), not a required ".env".
extra_env=(JWT_SECRET="$secret" DATABASE_URL="postgresql://u:p@127.0.0.1:5432/db" ZUPERIOR_ENV_FILE=)
run emptyenvfile 0 --config /dev/null

# A usage error is exit 2 and points at the help of the command that was being parsed.
extra_env=()
run usage 2 --config /dev/null --no-such-flag
grep -q "Run 'zuperior envcheck --help' for usage" usage.err || fail "usage: $(cat usage.err)"
env -i PATH="$PATH" "$bin" ratelimit inspect ip:127.0.0.1 >usage2.out 2>usage2.err
grep -q "Run 'zuperior ratelimit inspect --help' for usage" usage2.err || fail "usage2: $(cat usage2.err)"

if [ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ]; then
  extra_env=(JWT_SECRET="$secret" DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL")
  run probe 0 --config /dev/null --env-file /dev/null --probe --format json
  python3 -c "
import json; r=json.load(open('probe.out'))
p={x['name']:x for x in r['probes']}
assert p['postgresql']['ok'] and 'PostgreSQL' in p['postgresql']['detail'], p
assert p['redis']['ok'], p
assert p['postgresql']['latency_ms'] >= 0
" || fail "probe: $(cat probe.out)"
  expect_not probe "zuperior:zuperior@"
  closed=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  extra_env=(JWT_SECRET="$secret" DATABASE_URL="postgresql://u:$dbpass@127.0.0.1:$closed/x" REDIS_URL="redis://:$dbpass@127.0.0.1:$closed/0")
  run probe_down 1 --config /dev/null --env-file /dev/null --probe --probe-timeout 2s
  expect probe_down "^error *probe postgresql"
  expect probe_down "^error *probe redis"
  expect_not probe_down "$dbpass"
  # A Redis that accepts and never answers: the probe ends at --probe-timeout and says so.
  python3 "$src/tests/integration/common/mute_server.py" 15 >mute.port &
  mute_pid=$!
  for _ in $(seq 300); do [ -s mute.port ] && break; sleep 0.1; done
  extra_env=(JWT_SECRET="$secret" DATABASE_URL="$DATABASE_URL" REDIS_URL="redis://127.0.0.1:$(cat mute.port)/0")
  run probe_mute 1 --config /dev/null --env-file /dev/null --probe --probe-timeout 1s
  expect probe_mute "probe redis .*no answer within 1000 ms"
  kill "$mute_pid" 2>/dev/null
  wait "$mute_pid" 2>/dev/null
  # Servers that answer but take no writes were "ok": a read-only PostgreSQL session (as on a
  # standby) and a Redis out of memory with noeviction (its own, so the shared one is untouched).
  . "$src/scripts/lib/services.sh"  # redis_start_free
  mkdir -p oomredis
  redis_start_free oom_port "$work/oomredis" --maxmemory 1 --maxmemory-policy noeviction || fail "oom redis did not start"
  case "$DATABASE_URL" in *\?*) sep='&' ;; *) sep='?' ;; esac
  extra_env=(JWT_SECRET="$secret" DATABASE_URL="${DATABASE_URL}${sep}options=-c%20default_transaction_read_only%3Don"
    REDIS_URL="redis://127.0.0.1:$oom_port/0")
  run probe_nowrite 1 --config /dev/null --env-file /dev/null --probe
  expect probe_nowrite "error   probe postgresql .*read-only: default_transaction_read_only is on"
  expect probe_nowrite "error   probe redis .*refuses writes: OOM"
  kill "$(cat oomredis/redis.pid)" 2>/dev/null
else
  fail "DATABASE_URL/REDIS_URL not set: run through scripts/test"
fi

[ "$failures" = 0 ] && echo "envcheck: all checks passed"
exit $((failures > 0))
