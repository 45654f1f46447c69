#!/usr/bin/env bash
# Throughput of lib/cache's async Redis client (pipelined vs one at a time) and lib/db's pool, on one
# io_context. Prints figures; asserts nothing.
#   tests/bench/data.sh [SECONDS_PER_FIGURE] [POOL_SIZE]      (defaults 2 and 8)
# Uses REDIS_URL / ZUPERIOR_TEST_DB_URL when set, else starts throwaway servers (scripts/lib/services.sh).
# Environment: BUILD_DIR (default build-bench under the source tree; configured if missing).
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD_DIR:-$src/build-bench}"
if [ ! -f "$build/build.ninja" ]; then
  CCACHE_BASEDIR="$src" CCACHE_NOHASHDIR=true cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$build" -j2 zuperior_cache zuperior_db zuperior_net zuperior_metrics zuperior_config zuperior_core >/dev/null
lib() { find "$build/lib/$1" -maxdepth 1 -name "libzuperior_$1.a" | head -1; }
out="$build/tests/bench/data_bench"
mkdir -p "$(dirname "$out")"
# Compiled here rather than in CMake so the benchmark never slows the normal build.
${CXX:-c++} -std=c++20 -O2 -DNDEBUG -DBOOST_ASIO_SEPARATE_COMPILATION -DBOOST_ASIO_DISABLE_BOOST_COROUTINE \
  -DBOOST_ASIO_NO_DEPRECATED -DSPDLOG_FMT_EXTERNAL -I"$src/lib" "$src/tests/bench/data/data_bench.cpp" -o "$out" \
  "$(lib cache)" "$(lib db)" "$(lib config)" "$(lib metrics)" "$(lib core)" "$(lib net)" \
  -lhiredis -lpqxx -lpq -lyaml-cpp -lspdlog -lfmt -lssl -lcrypto -lpthread
if [ -z "${REDIS_URL:-}" ] || [ -z "${ZUPERIOR_TEST_DB_URL:-}" ]; then
  # shellcheck source=../../scripts/lib/services.sh
  . "$src/scripts/lib/services.sh"
  state="$(mktemp -d /tmp/zuperior-bench.XXXXXX)"
  trap 'services_stop "$state"; rm -rf "$state"' EXIT
  services_start "$state" >/dev/null
fi
"$out" "$REDIS_URL" "$ZUPERIOR_TEST_DB_URL" "${1:-2}" "${2:-8}"
