#!/usr/bin/env bash
# Integration test of `zuperior serve`: a real daemon on a free port against the throwaway PostgreSQL
# (own database) and its own redis-server (so it can be stopped mid-test), driven over HTTP by
# http_test.py, then cluster_test.py (database down, two instances sharing one Redis, the accounts
# cache) with a redis-server of its own. Needs ZUPERIOR_BIN and ZUPERIOR_TEST_PG_URL (from scripts/test).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${ZUPERIOR_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}"
: "${ZUPERIOR_BIN:?ZUPERIOR_BIN is not set}"
: "${ZUPERIOR_TEST_PG_URL:?ZUPERIOR_TEST_PG_URL is not set (run through scripts/test)}"

work="$(mktemp -d /tmp/zuperior-http-test.XXXXXX)"
db="zhttp_$$_$RANDOM"
redis_pid=""
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  psql "$ZUPERIOR_TEST_PG_URL" -qtAc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql "$ZUPERIOR_TEST_PG_URL" -qtAc "CREATE DATABASE $db" >/dev/null
base="${ZUPERIOR_TEST_PG_URL%/*}"
export DATABASE_URL="$base/$db?connection_limit=8&pool_timeout=5&connect_timeout=2"
if ! (cd "$src" && "$ZUPERIOR_BIN" migrate up --env-file /dev/null >"$work/migrate.log" 2>&1); then
  echo "note: 'zuperior migrate up' unavailable or failed; applying migrations with psql" >&2
  cat "$work/migrate.log" >&2 || true
  for f in "$src"/migrations/0*.sql; do psql "$base/$db" -q -v ON_ERROR_STOP=1 -f "$f" >/dev/null; done
fi

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
export ZUPERIOR_TEST_HTTP_WORK="$work"
export ZUPERIOR_TEST_HTTP_DB="$DATABASE_URL"
rc=0
ZUPERIOR_TEST_HTTP_REDIS_PORT="$(free_port)" python3 "$here/http_test.py" || rc=1
ZUPERIOR_TEST_HTTP_REDIS_PORT="$(free_port)" python3 "$here/cluster_test.py" || rc=1
exit $rc
