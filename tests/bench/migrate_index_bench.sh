#!/usr/bin/env bash
# How long `zuperior migrate up` takes on an empty database, and — with N rows in "User" (default
# 1,000,000) — how long the "User" index migration (0002, CREATE INDEX CONCURRENTLY) takes and the
# longest gap a concurrent writer saw between two consecutive inserts into "User" meanwhile.
#   tests/bench/migrate_index_bench.sh [ROWS]
# Uses $ZUPERIOR_TEST_PG_URL (a superuser URL) when set, else starts a throwaway PostgreSQL.
# Needs the binary: $ZUPERIOR_BIN or build/cmd/zuperior.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
rows="${1:-1000000}"
bin="${ZUPERIOR_BIN:-$root/build/cmd/zuperior}"
[ -x "$bin" ] || { echo "no zuperior binary at $bin (set ZUPERIOR_BIN)" >&2; exit 2; }
state=""
if [ -z "${ZUPERIOR_TEST_PG_URL:-}" ]; then
  . "$root/scripts/lib/services.sh"
  state="$(mktemp -d /tmp/zuperior-bench.XXXXXX)"
  services_start "$state" >/dev/null
fi
pg="$ZUPERIOR_TEST_PG_URL"
db="bench_migrate_$$"
url="${pg%/*}/$db"
writer=""
cleanup() {
  [ -n "$writer" ] && kill "$writer" 2>/dev/null || true
  psql "$pg" -qtAX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  if [ -n "$state" ]; then services_stop "$state"; rm -rf "$state"; fi
}
trap cleanup EXIT
q() { psql "$url" -qtAX -v ON_ERROR_STOP=1 -c "$1"; }
mig() { env -i PATH="$PATH" "$bin" migrate "$@" --config /dev/null --database-url "$url" --dir "$root/migrations" --quiet; }
ms() { date +%s%3N; }

psql "$pg" -qtAX -c "CREATE DATABASE $db" >/dev/null
t0=$(ms); mig up; t1=$(ms)
echo "migrate up, empty database, all migrations: $((t1 - t0)) ms"

psql "$pg" -qtAX -c "DROP DATABASE $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
mig up --to 1
t0=$(ms)
q "INSERT INTO \"User\" (id, \"clientId\", email, password, status, \"createdAt\", \"lastLoginAt\")
   SELECT 'u' || g, 'c' || g, 'user' || g || '@example.com', '\$2b\$10\$hash', (ARRAY['active','active','active','suspended'])[1 + g % 4],
          now() - g * interval '1 second', CASE WHEN g % 3 = 0 THEN NULL ELSE now() - g * interval '1 minute' END
   FROM generate_series(1, $rows) g" >/dev/null
q "VACUUM ANALYZE \"User\"" >/dev/null
t1=$(ms)
echo "loaded $rows rows into \"User\" in $((t1 - t0)) ms"
q "CREATE UNLOGGED TABLE bench_writes (n int, at timestamptz NOT NULL DEFAULT clock_timestamp())" >/dev/null
# The writer: one autocommit INSERT into "User" after another, each followed by a timestamp row.
( seq 1 10000000 | awk '{ printf "INSERT INTO \"User\" (id, \"clientId\", email, password) VALUES (%cw%d%c, %cwc%d%c, %cw%d@example.com%c, %ch%c); INSERT INTO bench_writes (n) VALUES (%d);\n", 39, $1, 39, 39, $1, 39, 39, $1, 39, 39, 39, $1 }' \
    | PGAPPNAME=bench_writer psql "$url" -qX >/dev/null 2>&1 ) &
writer=$!
sleep 2
mig up --to 2
sleep 1
# Ending the writer's session ends psql, and with it the generator feeding it.
q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'bench_writer'" >/dev/null
kill "$writer" 2>/dev/null || true
wait "$writer" 2>/dev/null || true
writer=""
q "SELECT 'index migration 0002 (3 indexes on \"User\", CONCURRENTLY): ' || execution_ms || ' ms' FROM zuperior_schema_history WHERE version = 2"
q "WITH h AS (SELECT applied_at - execution_ms * interval '1 ms' AS s, applied_at AS e FROM zuperior_schema_history WHERE version = 2),
        w AS (SELECT at, at - lag(at) OVER (ORDER BY n) AS gap FROM bench_writes)
   SELECT 'writer during the build: ' || count(*) || ' inserts, longest gap between inserts '
          || coalesce(round(extract(epoch FROM max(gap)) * 1000, 1)::text, '-') || ' ms, median ' ||
          coalesce(round((extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY gap)) * 1000)::numeric, 2)::text, '-') || ' ms'
   FROM w, h WHERE w.at BETWEEN h.s AND h.e"
q "SELECT 'writer outside the build: ' || count(*) || ' inserts, longest gap ' || coalesce(round(extract(epoch FROM max(gap)) * 1000, 1)::text, '-') || ' ms'
   FROM (SELECT at, at - lag(at) OVER (ORDER BY n) AS gap FROM bench_writes) w,
        (SELECT applied_at - execution_ms * interval '1 ms' AS s, applied_at AS e FROM zuperior_schema_history WHERE version = 2) h
   WHERE w.at < h.s OR w.at > h.e"
q "SELECT 'indexes valid: ' || bool_and(indisvalid) FROM pg_index WHERE indrelid = '\"User\"'::regclass"
