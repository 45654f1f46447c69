#!/usr/bin/env bash
# Integration test of the real-time layer: two `zuperior serve` instances sharing one redis-server
# (our own, on a free port, so it can be restarted mid-test) and a throwaway database, driven by the
# stock socket.io-client from npm (test.mjs). Needs ZUPERIOR_BIN and ZUPERIOR_TEST_PG_URL (scripts/test).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${ZUPERIOR_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}"
: "${ZUPERIOR_BIN:?ZUPERIOR_BIN is not set}"
: "${ZUPERIOR_TEST_PG_URL:?ZUPERIOR_TEST_PG_URL is not set (run through scripts/test)}"

if [ ! -d "$here/node_modules/socket.io-client" ]; then
  (cd "$here" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

work="$(mktemp -d /tmp/zuperior-realtime-test.XXXXXX)"
db="zrt_$$_$RANDOM"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
  psql "$ZUPERIOR_TEST_PG_URL" -qtAc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  if [ "${ZUPERIOR_KEEP_LOGS:-}" = 1 ]; then echo "logs in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

psql "$ZUPERIOR_TEST_PG_URL" -qtAc "CREATE DATABASE $db" >/dev/null
base="${ZUPERIOR_TEST_PG_URL%/*}"
export DATABASE_URL="$base/$db?connection_limit=4&pool_timeout=5&connect_timeout=2"
if ! (cd "$src" && "$ZUPERIOR_BIN" migrate up --env-file /dev/null >"$work/migrate.log" 2>&1); then
  for f in "$src"/migrations/0*.sql; do psql "$base/$db" -q -v ON_ERROR_STOP=1 -f "$f" >/dev/null; done
fi
psql "$base/$db" -q -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO "User" ("id","clientId","email","password") VALUES
  ('user-a','CA1','a@example.com','x'), ('user-b','CB1','b@example.com','x');
INSERT INTO "MT5Account" ("id","accountId","userId") VALUES ('acc-1','1001','user-a'), ('acc-2','2002','user-b');
SQL

. "$src/scripts/lib/services.sh"  # redis_start_free
redis_start_free redis_port "$work"
export ZUPERIOR_TEST_RT_REDIS_PORT="$redis_port"
export ZUPERIOR_TEST_RT_WORK="$work"

export REDIS_URL="redis://127.0.0.1:$redis_port/0"
export JWT_SECRET="realtime-test-secret-0123456789-abcdefghijkl"
export ZUPERIOR_MARKET_FEED=redis
export ZUPERIOR_REALTIME_NAMESPACES=/desk
# The connect-limit check makes 31 connects from 127.0.0.2; a long window keeps its count exact.
export ZUPERIOR_REALTIME_CONNECT_RATE=30/5m
# Account subscriptions checked again every second (a suspended user's open subscription ends).
export ZUPERIOR_REALTIME_ACCOUNT_RECHECK=1s
export NODE_ENV=test
# Each daemon picks its own port (--port 0) and logs it: a port chosen here and bound later could
# be taken in between by another test running in parallel.
for i in 1 2; do
  "$ZUPERIOR_BIN" serve --env-file /dev/null --host 127.0.0.1 --port 0 --workers 2 \
    >"$work/serve$i.log" 2>&1 &
  pids+=($!)
done
# A third instance on the simulated feed (what scripts/dev runs): 20 ticks a second per symbol. Its
# PostgreSQL is unreachable (nothing listens on that port): the feed must not need it, and an
# account subscription there must be refused at once, not hang.
dead_db_port="$(free_port)"
DATABASE_URL="postgresql://nobody:x@127.0.0.1:$dead_db_port/none?connect_timeout=2" \
ZUPERIOR_MARKET_FEED=sim ZUPERIOR_MARKET_SIM_RATE=20 "$ZUPERIOR_BIN" serve --env-file /dev/null --host 127.0.0.1 \
  --port 0 --workers 1 >"$work/serve-sim.log" 2>&1 &
pids+=($!)
# A fourth whose PostgreSQL accepts and never answers (a wedged database), with heartbeats far
# shorter than the ownership check's wait: a pong queued behind that check must not count as late.
python3 "$src/tests/integration/common/mute_server.py" 300 >"$work/mute.port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/mute.port" ] && break; sleep 0.1; done
DATABASE_URL="postgresql://nobody:x@127.0.0.1:$(cat "$work/mute.port")/none?connect_timeout=1" \
ZUPERIOR_MARKET_FEED=sim ZUPERIOR_REALTIME_PING_INTERVAL=300ms ZUPERIOR_REALTIME_PING_TIMEOUT=1s \
ZUPERIOR_RATELIMIT_WEBSOCKET=4/2s ZUPERIOR_REALTIME_MAX_VIOLATIONS=3 \
  "$ZUPERIOR_BIN" serve --env-file /dev/null --host 127.0.0.1 --port 0 --workers 1 >"$work/serve-mute.log" 2>&1 &
pids+=($!)
# shellcheck source=../../../scripts/lib/daemon.sh
. "$src/scripts/lib/daemon.sh"
ports=()
for log in serve1 serve2 serve-sim serve-mute; do
  port="$(daemon_port "$work/$log.log")" || { echo "FAIL: $log did not start:" >&2; cat "$work/$log.log" >&2; exit 1; }
  ports+=("$port")
done
sim_port="${ports[2]}"
mute_port="${ports[3]}"
ports=("${ports[0]}" "${ports[1]}")
for port in "${ports[@]}" "$sim_port" "$mute_port"; do
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/livez" >/dev/null 2>&1 && break; sleep 0.1; done
done
export ZUPERIOR_TEST_RT_SIM_URL="http://127.0.0.1:$sim_port"
export ZUPERIOR_TEST_RT_MUTE_DB_URL="http://127.0.0.1:$mute_port"
export ZUPERIOR_TEST_RT_PORTS="${ports[*]}"
export ZUPERIOR_TEST_RT_PIDS="${pids[*]}"

status=0
node "$here/test.mjs" || status=$?
if [ $status -ne 0 ]; then
  for i in 1 2; do echo "--- serve$i.log (tail)" >&2; tail -n 30 "$work/serve$i.log" >&2 || true; done
fi
exit $status
