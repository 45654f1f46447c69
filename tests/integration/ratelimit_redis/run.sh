#!/usr/bin/env bash
# Runs integration_ratelimit_redis against $ZUPERIOR_TEST_REDIS_URL, or a private redis-server when unset.
set -euo pipefail
bin="${ZUPERIOR_BUILD_DIR:?}/tests/integration/ratelimit_redis/integration_ratelimit_redis"
[ -x "$bin" ] || { echo "ratelimit_redis: $bin not built" >&2; exit 1; }
if [ -z "${ZUPERIOR_TEST_REDIS_URL:-}" ]; then
  dir="$(mktemp -d /tmp/ratelimit-redis.XXXXXX)"
  . "$(dirname "$0")/../../../scripts/lib/services.sh"  # redis_start_free
  trap 'kill "$(cat "$dir/redis.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$dir"' EXIT
  redis_start_free port "$dir"
  export ZUPERIOR_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
fi
# DB 9 so the keys of this test never meet another test's.
export RATELIMIT_TEST_REDIS_URL="${ZUPERIOR_TEST_REDIS_URL%/*}/9"
exec "$bin"
