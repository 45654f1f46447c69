#!/usr/bin/env bash
# Real-time layer figures on this machine (issue 6, "Speed and memory"): one `zuperior serve` with
# WORKERS network threads, its market feed on Redis pub/sub (`zuperior:market`), and a light C++
# load generator (tests/bench/realtime/realtime_load.cpp: RECEIVERS threads of SOCKETS authenticated
# WebSocket clients, each subscribed to 3 of 20 symbols, plus one publisher thread PUBLISHing
# ticks evenly spread at RATE per symbol per second). For each RATE it starts a fresh server and
# prints connect time, refused, memory per idle socket, delivered messages/s, delivery latency
# p50/p99/p99.9 (tick ts -> receipt: as the generator read it, and as it arrived in the client's
# socket by the kernel's receive timestamp), exact loss, backlog trend, and server/generator CPU.
# Asserts nothing.
#   tests/bench/realtime.sh [SOCKETS] [RATES] [SECONDS] [WORKERS]
#   defaults: 10000 "5 10" 10 2 (10,000 sockets x 3 x 10/s = 300,000 messages/s offered)
# After each rate, unless CALIBRATE=0, the same traffic with no server in it
# (tests/bench/realtime/loopback_floor.cpp: WORKERS threads write one sendmsg of three 100-byte
# frames to each of SOCKETS loopback sockets per burst, another process reads them): the latency
# no server can beat on this machine, printed as "floor:". It is meaningful for PUBLISH=burst,
# whose system calls it reproduces.
# Environment: BUILD_DIR (default build-bench, configured as Release if missing), ZUPERIOR_BIN
# (default $BUILD_DIR/cmd/zuperior), PUBLISH=burst (all 20 symbols tick together, like the sim
# feed; default: ticks evenly spread), REVOKE=N (after each rate, the server CPU one logout's revocation
# costs with SOCKETS open: N announced over SECONDS against as long idle; use rate 0 for a quiet server), PERF_OUT (perf record the server), REDIS_URL (default: throwaway Redis + PostgreSQL from
# scripts/lib/services.sh), RECEIVERS (threads reading the generator's sockets, default 1: one
# thread reading a whole burst adds its own queueing to the latency, which 10,000 separate clients
# would not), GEN_NICE (the generator's niceness, default 10: see below), SYSCALLS_OUT=file (`perf stat` of the server's system calls by type; it slows the
# server, so its latency figures do not count).
# All clients come from 127.0.0.1, so the bench raises the per-address limits for its server:
# server.max_connections(_per_ip) 100000 and realtime.connect_rate 1000000/1s (defaults: see
# configs/zuperior.yaml). Everything else is the default configuration.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "$src" && realpath -m "${BUILD_DIR:-build-bench}")"
sockets="${1:-10000}"
rates="${2:-5 10}"
seconds="${3:-10}"
workers="${4:-2}"
if [ ! -f "$build/build.ninja" ]; then
  CCACHE_BASEDIR="$src" CCACHE_NOHASHDIR=true cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
bin="${ZUPERIOR_BIN:-$build/cmd/zuperior}"
build_targets() { ninja -C "$build" -j2 "$@" >"$build/realtime-bench-build.log" 2>&1 || {
  tail -20 "$build/realtime-bench-build.log" >&2
  exit 2
}; }
[ -n "${ZUPERIOR_BIN:-}" ] || build_targets zuperior
build_targets zuperior_auth zuperior_net zuperior_core
lib() { find "$build/lib/$1" -maxdepth 1 -name "libzuperior_$1.a" | head -1; }
gen="$build/tests/bench/realtime_load"
mkdir -p "$(dirname "$gen")"
# Compiled here rather than in CMake so the benchmark never slows the normal build.
if [ ! -x "$gen" ] || [ "$src/tests/bench/realtime/realtime_load.cpp" -nt "$gen" ] ||
  [ "$src/tests/bench/realtime/recv_stamped.hpp" -nt "$gen" ]; then
  ${CXX:-c++} -std=c++20 -O2 -DNDEBUG -DBOOST_ASIO_SEPARATE_COMPILATION -DBOOST_BEAST_SEPARATE_COMPILATION \
    -DBOOST_ASIO_DISABLE_BOOST_COROUTINE -DBOOST_ASIO_NO_DEPRECATED -I"$src/lib" \
    "$src/tests/bench/realtime/realtime_load.cpp" -o "$gen" "$(lib auth)" "$(lib net)" "$(lib core)" \
    -lfmt -lhiredis -lssl -lcrypto -lpthread
fi
floor="$build/tests/bench/loopback_floor"
if [ ! -x "$floor" ] || [ "$src/tests/bench/realtime/loopback_floor.cpp" -nt "$floor" ] ||
  [ "$src/tests/bench/realtime/recv_stamped.hpp" -nt "$floor" ]; then
  ${CXX:-c++} -std=c++20 -O2 -DNDEBUG "$src/tests/bench/realtime/loopback_floor.cpp" -o "$floor" -lpthread
fi

work="$(mktemp -d /tmp/zuperior-rt-bench.XXXXXX)"
pid=""
own_services=""
cleanup() {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  if [ -n "$own_services" ]; then services_stop "$work/svc" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${REDIS_URL:-}" ]; then
  # shellcheck source=/dev/null
  . "$src/scripts/lib/services.sh"
  services_start "$work/svc" >/dev/null
  own_services=1
fi
redis_hostport="${REDIS_URL#redis://}"
redis_hostport="${redis_hostport%%/*}"
redis_hostport="${redis_hostport##*@}"
redis_host="${redis_hostport%%:*}"
redis_port="${redis_hostport##*:}"

symbols=(EURUSD GBPUSD USDJPY XAUUSD BTCUSD AUDUSD USDCAD USDCHF NZDUSD EURJPY GBPJPY EURGBP XAGUSD ETHUSD US30 NAS100 SPX500 GER40 UKOIL USOIL)
secret="bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
# The generator (and the floor's reader) run at nice 10 by default: it then takes the CPU the
# server leaves, as 10,000 clients on their own machines would take none of the server's.
# GEN_NICE=0 makes it the server's equal: it then competes for the same two cores mid-burst.
gen_nice="${GEN_NICE:-10}"
ulimit -n "$(ulimit -Hn)"
echo "realtime bench: $sockets sockets, 3 of ${#symbols[@]} symbols each, $workers workers, $(nproc) cores," \
  "${seconds}s per rate, generator at nice $gen_nice, $(basename "$bin") $("$bin" --version 2>/dev/null | head -1)"
for rate in $rates; do
  port="$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"
  JWT_SECRET="$secret" ZUPERIOR_MARKET_FEED=redis ZUPERIOR_MARKET_SYMBOLS="$(
    IFS=,
    echo "${symbols[*]}"
  )" ZUPERIOR_REALTIME_CONNECT_RATE="1000000/1s" \
    ZUPERIOR_SERVER_MAX_CONNECTIONS_PER_IP=100000 ZUPERIOR_SERVER_MAX_CONNECTIONS=100000 \
    ZUPERIOR_LOG_ACCESS_LOG=false REDIS_URL="$REDIS_URL" DATABASE_URL="${DATABASE_URL:-postgresql://bench@127.0.0.1:1/none}" \
    "$bin" serve --env-file /dev/null --host 127.0.0.1 --port "$port" --workers "$workers" --log-level warn \
    >"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/livez" >/dev/null 2>&1 && break; sleep 0.1; done
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "serve did not start:" >&2
    cat "$work/serve.log" >&2
    exit 2
  fi
  sleep 1  # the feed's pub/sub subscription is up
  echo "--- rate $rate ticks/s per symbol: offered $((sockets * 3 * rate)) msg/s (server pid $pid; load average $(cut -d' ' -f1-3 /proc/loadavg))"
  # PERF_OUT=file: profile the server (call graphs) for the whole run, for finding its bottleneck.
  [ -z "${PERF_OUT:-}" ] || perf record -F 499 -g -p "$pid" -o "$PERF_OUT.$rate" -- sleep $((seconds + 9)) >/dev/null 2>&1 &
  [ -z "${SYSCALLS_OUT:-}" ] || perf stat -e 'syscalls:sys_enter_*' -p "$pid" -o "$SYSCALLS_OUT.$rate" -- sleep $((seconds + 9)) >/dev/null 2>&1 &
  nice -n "$gen_nice" "$gen" 127.0.0.1 "$port" "$pid" "$sockets" "$seconds" "$secret" "$redis_host" "$redis_port" "$rate" "${symbols[@]}"
  curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics" || true
  grep -E '^zuperior_(ws_(conflated|dropped|slow_disconnects|connect_refused|messages_out)|feed_ticks)' "$work/metrics" |
    tr '\n' ' ' | sed 's/zuperior_//g; s/_total//g'
  echo
  # The server's own share of the latency: tick ts -> frame handed to the kernel (whole run).
  awk -F'[{}" ]+' '/^zuperior_ws_delivery_lag_seconds_bucket/ { for (i = 1; i < NF; i++) if ($i == "le=") le = $(i + 1);
      n[++k] = $NF; b[k] = le } END { if (!k || !n[k]) exit; printf "server-side lag (ts -> kernel), bucket bounds:";
      split("50 99 99.9", q, " "); for (j = 1; j <= 3; j++) for (i = 1; i <= k; i++) if (n[i] >= n[k] * q[j] / 100) {
      printf " p%s <= %s s", q[j], b[i]; break }; print "" }' "$work/metrics"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
  grep -E 'error|critical' "$work/serve.log" | head -3 || true
  # The floor holds both ends of every connection (two processes): it needs no more descriptors
  # per process than the generator does.
  [ "${CALIBRATE:-1}" = 0 ] || GEN_NICE="$gen_nice" "$floor" "$sockets" "$rate" "$seconds" "$workers"
done
