#!/usr/bin/env bash
# Engine.IO v4 / Socket.IO v5 conformance: one `zuperior serve --protocol-test-mode` with the
# heartbeat settings the public protocol test suites use, driven by protocol.mjs (raw frames).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../../../scripts/lib/daemon.sh
. "$here/../../../scripts/lib/daemon.sh"
: "${ZUPERIOR_BIN:?ZUPERIOR_BIN is not set}"
if [ ! -d "$here/node_modules/ws" ]; then
  (cd "$here" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
log="$(mktemp /tmp/zuperior-proto.XXXXXX.log)"
export JWT_SECRET="protocol-test-secret-0123456789-abcdefghijkl"
export NODE_ENV=test
# No database is needed; Redis is used when the test scripts provide one.
export DATABASE_URL="${ZUPERIOR_TEST_DB_URL:-postgresql://nobody@127.0.0.1:1/none}"
export REDIS_URL="${ZUPERIOR_TEST_REDIS_URL:-redis://127.0.0.1:1/0}"
# The API's body limit is far below max_payload: polling POSTs are bounded by max_payload alone.
ZUPERIOR_SERVER_MAX_BODY_SIZE=64KiB "$ZUPERIOR_BIN" serve --env-file /dev/null --host 127.0.0.1 --port 0 \
  --workers 2 --protocol-test-mode --ping-interval 300ms --ping-timeout 200ms --max-payload 1000000 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
port="$(daemon_port "$log")" || { cat "$log" >&2; echo "daemon did not start" >&2; exit 1; }
status=0
ZUPERIOR_TEST_PROTO_URL="http://127.0.0.1:$port" node "$here/protocol.mjs" || status=$?
if [ $status -ne 0 ]; then echo "--- serve.log (tail)" >&2; tail -n 30 "$log" >&2; fi
kill -0 $pid 2>/dev/null || { echo "FAIL: the daemon died" >&2; status=1; }

# Connection caps hold for WebSockets too: a second daemon allowing 3 connections per address.
log2="$(mktemp /tmp/zuperior-caps.XXXXXX.log)"
ZUPERIOR_SERVER_MAX_CONNECTIONS_PER_IP=3 "$ZUPERIOR_BIN" serve --env-file /dev/null --host 127.0.0.1 --port 0 \
  --workers 2 --protocol-test-mode >"$log2" 2>&1 &
pid2=$!
trap 'kill $pid $pid2 2>/dev/null || true; wait $pid $pid2 2>/dev/null || true; rm -f "$log" "$log2"' EXIT
port2="$(daemon_port "$log2")" || { cat "$log2" >&2; echo "second daemon did not start" >&2; exit 1; }
ZUPERIOR_TEST_PROTO_URL="http://127.0.0.1:$port2" node "$here/caps.mjs" || status=1
exit $status
