#!/usr/bin/env bash
# Throughput and latency of the HTTP layer on loopback, with wrk (figures printed, nothing asserted).
#   tests/bench/http.sh [BIN]            # BIN defaults to build/cmd/zuperior
# Environment: DURATION (10s), CONNECTIONS (100), THREADS (2), WORKERS (2),
#   ROUTES ("/livez /apis/time /apis/health /apis/accounts"),
#   PERF_DIR (unset; when set, `perf record -g` profiles the daemon during each route into DIR/<route>.data),
#   PERF_CALLGRAPH (perf's call-graph option, default "-g"; e.g. "--call-graph dwarf" for callers in libc),
#   CALIBRATE (default 1: when nginx is installed, the same wrk run against nginx answering a fixed
#   200 with 2 workers, printed last with its CPU per request: the ceiling of loopback HTTP on this
#   machine, which differs between machines far more than our own figures do).
# Starts its own throwaway PostgreSQL and Redis (scripts/lib/services.sh), migrates, registers a
# user with one MT5 account and reads /apis/accounts with its JWT: an authenticated, rate-limited
# (standard tier, in Redis) read served from the Redis cache after the first request. The tiers are
# raised so that wrk measures the limiter's cost rather than 429s. The access log is off so the
# figures measure the server, not stdout.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-${ZUPERIOR_BIN:-$src/build/cmd/zuperior}}"
duration="${DURATION:-10s}"
conns="${CONNECTIONS:-100}"
threads="${THREADS:-2}"
workers="${WORKERS:-2}"
routes="${ROUTES:-/livez /apis/time /apis/health /apis/accounts}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

# shellcheck source=../../scripts/lib/services.sh
. "$src/scripts/lib/services.sh"
# shellcheck source=../../scripts/lib/daemon.sh
. "$src/scripts/lib/daemon.sh"
svc="$(mktemp -d /tmp/zuperior-bench-svc.XXXXXX)"
log="$(mktemp /tmp/zuperior-bench.XXXXXX.log)"
pid=""
ngx_dir=""
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  [ -n "$ngx_dir" ] && { nginx -c "$ngx_dir/nginx.conf" -s stop 2>/dev/null || true; rm -rf "$ngx_dir"; }
  services_stop "$svc" >/dev/null 2>&1 || true
  rm -rf "$svc" "$log"
}
trap cleanup EXIT
services_start "$svc" >/dev/null
export JWT_SECRET="${JWT_SECRET:-bench-Zu9#kq2Lr8vX1mN4pQ7sT0wY3bC6eF5hJ}"
export NODE_ENV=test ZUPERIOR_LOG_ACCESS_LOG=false ZUPERIOR_LOG_LEVEL=warn
export ZUPERIOR_RATELIMIT_STANDARD=1000000000/1m ZUPERIOR_RATELIMIT_GENEROUS=1000000000/1m
"$bin" migrate up --env-file /dev/null --dir "$src/migrations" >/dev/null
"$bin" serve --port 0 --workers "$workers" --config /dev/null --env-file /dev/null --log-level info >"$log" 2>&1 &
pid=$!
port="$(daemon_port "$log")" || { cat "$log" >&2; echo "daemon did not start" >&2; exit 2; }
base="http://127.0.0.1:$port"
token="$(curl -fsS -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com","password":"Bench-Passw0rd!","name":"Bench"}' "$base/apis/auth/register" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
psql "$ZUPERIOR_TEST_DB_URL" -qtAc "INSERT INTO \"MT5Account\" (\"id\",\"accountId\",\"userId\")
  SELECT 'bench-acc', '500001', id FROM \"User\" WHERE email = 'bench@example.com'" >/dev/null
curl -fsS -H "Authorization: Bearer $token" "$base/apis/accounts" >/dev/null  # fills the cache
sleep 2.5  # first health results
echo "zuperior serve: $workers workers on 127.0.0.1:$port; wrk -t$threads -c$conns -d$duration (same machine, $(nproc) cores);" \
  "$("$bin" --version 2>/dev/null | head -1)"
# The daemon's own CPU per request (user+system from /proc, so the kernel's TCP work is included)
# says what one dedicated core would serve; wrk shares the same two cores during the run.
cpu_ticks() { awk '{print $14 + $15}' "/proc/${1:-$pid}/stat"; }
# The hypervisor's steal (all cores, /proc/stat) during a run: on a shared VM it is what makes the
# same binary vary from run to run, so every row shows it.
steal_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t; exit}' /proc/stat; }
redis_pid="$(cat "$svc/redis/redis.pid")"
hz="$(getconf CLK_TCK)"
printf '%-15s %10s %9s %9s %9s %7s %10s %11s %10s %6s\n' route req/s p50 p99 max non2xx "cpu/req" "req/s/core" "redis/req" steal
for route in $routes; do
  auth=()
  [ "$route" = /apis/accounts ] && auth=(-H "Authorization: Bearer $token")
  perf_pid=""
  if [ -n "${PERF_DIR:-}" ]; then
    mkdir -p "$PERF_DIR"
    perf record -q -F 1999 ${PERF_CALLGRAPH:--g} -p "$pid" -o "$PERF_DIR/$(tr -c 'a-z0-9\n' _ <<<"${route#/}").data" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  before="$(cpu_ticks)"
  rbefore="$(cpu_ticks "$redis_pid")"
  sbefore="$(steal_ticks)"
  out="$(wrk -t"$threads" -c"$conns" -d"$duration" --latency "${auth[@]}" "$base$route")"
  after="$(cpu_ticks)"
  rafter="$(cpu_ticks "$redis_pid")"
  safter="$(steal_ticks)"
  [ -n "$perf_pid" ] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
  total="$(awk '/requests in/ {print $1}' <<<"$out")"
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  max="$(awk '/Latency/ && !/Distribution/ {print $4; exit}' <<<"$out")"
  non2xx="$(awk '/Non-2xx/ {print $4}' <<<"$out")"
  cpu_us="$(awk -v a="$after" -v b="$before" -v hz="$hz" -v n="$total" 'BEGIN { if (n > 0) printf "%.1f", (a - b) / hz * 1e6 / n; else print "-" }')"
  redis_us="$(awk -v a="$rafter" -v b="$rbefore" -v hz="$hz" -v n="$total" 'BEGIN { if (n > 0) printf "%.1f", (a - b) / hz * 1e6 / n; else print "-" }')"
  per_core="$(awk -v c="$cpu_us" 'BEGIN { if (c + 0 > 0) printf "%.0f", 1e6 / c; else print "-" }')"
  steal="$(awk -v a="$safter" -v b="$sbefore" 'BEGIN { split(a, x, " "); split(b, y, " "); t = x[2] - y[2]
    if (t > 0) printf "%.1f%%", 100 * (x[1] - y[1]) / t; else print "-" }')"
  printf '%-15s %10s %9s %9s %9s %7s %8sus %11s %8sus %6s\n' "$route" "$rps" "$p50" "$p99" "$max" "${non2xx:-0}" "$cpu_us" "$per_core" "$redis_us" "$steal"
done
curl -fsS "$base/metrics" | grep -E '^zuperior_cache_requests_total' | sed 's/^/  /'
rss_kb="$(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
hwm_kb="$(awk '/VmHWM/ {print $2}' /proc/$pid/status)"
echo "resident memory: now $((rss_kb / 1024)) MiB, peak $((hwm_kb / 1024)) MiB"

# Calibration: what a minimal server (nginx, fixed 200) does under the same wrk run on this machine.
if [ "${CALIBRATE:-1}" = 1 ]; then
  if command -v nginx >/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
    ngx_dir="$(mktemp -d /tmp/zuperior-bench-nginx.XXXXXX)"
    ngx_port="$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"
    cat >"$ngx_dir/nginx.conf" <<NGX
worker_processes $workers;
pid $ngx_dir/nginx.pid;
error_log $ngx_dir/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$ngx_port reuseport;
    location / { return 200 '{"status":"ok"}'; }
  }
}
NGX
    nginx -c "$ngx_dir/nginx.conf"
    sleep 0.3
    ngx_workers="$(pgrep -P "$(cat "$ngx_dir/nginx.pid")" | tr '\n' ' ')"
    ngx_ticks() { local t=0 w; for w in $ngx_workers; do t=$((t + $(cpu_ticks "$w"))); done; echo "$t"; }
    before="$(ngx_ticks)"
    out="$(wrk -t"$threads" -c"$conns" -d"$duration" --latency "http://127.0.0.1:$ngx_port/")"
    after="$(ngx_ticks)"
    total="$(awk '/requests in/ {print $1}' <<<"$out")"
    cpu_us="$(awk -v a="$after" -v b="$before" -v hz="$hz" -v n="$total" 'BEGIN { if (n > 0) printf "%.1f", (a - b) / hz * 1e6 / n; else print "-" }')"
    printf 'calibration: nginx (%s workers, fixed 200) %s req/s, p50 %s, p99 %s, cpu/req %sus on this machine\n' "$workers" \
      "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="50%" {print $2}' <<<"$out")" \
      "$(awk '$1=="99%" {print $2}' <<<"$out")" "$cpu_us"
  else
    echo "calibration: nginx is not installed (apt-get install nginx-light) - no machine ceiling printed"
  fi
fi
