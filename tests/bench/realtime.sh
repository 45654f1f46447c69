#!/usr/bin/env bash
# Real-time layer figures on this machine: one `zuperior serve` (simulated feed, 20 symbols) and a
# light C++ load generator (tests/bench/realtime/realtime_load.cpp, one thread) holding SOCKETS
# authenticated WebSocket clients, each subscribed to 3 of the 20 symbols. Prints connect time,
# memory per socket, delivered messages/s and latency percentiles. Asserts nothing.
#   tests/bench/realtime.sh [SOCKETS] [TICKS_PER_SYMBOL_PER_S] [SECONDS] [WORKERS]
#   (defaults 10000 10 10 2: 10,000 x 3 x 10 = 300,000 messages/s offered)
# Environment: BUILD_DIR (default build-bench; configured if missing), ZUPERIOR_BIN (default $BUILD_DIR/zuperior).
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD_DIR:-$src/build-bench}"
sockets="${1:-10000}"
rate="${2:-10}"
seconds="${3:-10}"
workers="${4:-2}"
if [ ! -f "$build/build.ninja" ]; then
  CCACHE_BASEDIR="$src" CCACHE_NOHASHDIR=true cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
bin="${ZUPERIOR_BIN:-$build/zuperior}"
[ -n "${ZUPERIOR_BIN:-}" ] || ninja -C "$build" -j2 zuperior >/dev/null
ninja -C "$build" -j2 zuperior_auth zuperior_net zuperior_core >/dev/null
lib() { find "$build/lib/$1" -maxdepth 1 -name "libzuperior_$1.a" | head -1; }
out="$build/tests/bench/realtime_load"
mkdir -p "$(dirname "$out")"
# Compiled here rather than in CMake so the benchmark never slows the normal build.
${CXX:-c++} -std=c++20 -O2 -DNDEBUG -DBOOST_ASIO_SEPARATE_COMPILATION -DBOOST_BEAST_SEPARATE_COMPILATION \
  -DBOOST_ASIO_DISABLE_BOOST_COROUTINE -DBOOST_ASIO_NO_DEPRECATED -I"$src/lib" \
  "$src/tests/bench/realtime/realtime_load.cpp" -o "$out" "$(lib auth)" "$(lib net)" "$(lib core)" \
  -lfmt -lssl -lcrypto -lpthread

symbols=(EURUSD GBPUSD USDJPY XAUUSD BTCUSD AUDUSD USDCAD USDCHF NZDUSD EURJPY GBPJPY EURGBP XAGUSD ETHUSD US30 NAS100 SPX500 GER40 UKOIL USOIL)
secret="bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
port="$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"
work="$(mktemp -d /tmp/zuperior-rt-bench.XXXXXX)"
JWT_SECRET="$secret" ZUPERIOR_MARKET_FEED=sim ZUPERIOR_MARKET_SIM_RATE="$rate" \
  ZUPERIOR_MARKET_SYMBOLS="$(IFS=,; echo "${symbols[*]}")" ZUPERIOR_REALTIME_CONNECT_RATE="1000000/1s" \
  ZUPERIOR_SERVER_MAX_CONNECTIONS_PER_IP=100000 ZUPERIOR_SERVER_MAX_CONNECTIONS=100000 \
  ZUPERIOR_LOG_ACCESS_LOG=false DATABASE_URL="postgresql://bench@127.0.0.1:1/none" REDIS_URL="redis://127.0.0.1:1/0" \
  "$bin" serve --env-file /dev/null --host 127.0.0.1 --port "$port" --workers "$workers" --log-level warn \
  >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/livez" >/dev/null 2>&1 && break; sleep 0.1; done
echo "zuperior serve (pid $pid, $workers workers), sim feed: ${#symbols[@]} symbols x $rate ticks/s;" \
  "offered $((sockets * 3 * rate)) messages/s to $sockets sockets"
cpu0="$(awk '{print $14+$15}' /proc/$pid/stat)"
t0="$(date +%s.%N)"
"$out" 127.0.0.1 "$port" "$pid" "$sockets" "$seconds" "$secret" "${symbols[@]}"
cpu1="$(awk '{print $14+$15}' /proc/$pid/stat)"
t1="$(date +%s.%N)"
awk -v c0="$cpu0" -v c1="$cpu1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
  'BEGIN{printf "server CPU over the whole run: %.1f s in %.1f s wall (%.0f%% of one core)\n",(c1-c0)/hz,t1-t0,100*(c1-c0)/hz/(t1-t0)}'
curl -fsS "http://127.0.0.1:$port/metrics" | grep -E '^zuperior_ws_(conflated|dropped|slow_disconnects|sockets|messages_out)' || true
