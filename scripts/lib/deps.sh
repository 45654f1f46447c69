# Installs what building, running and testing zuperior needs on Debian 12 (as root, with apt).
# Skips apt entirely when everything is already there, so repeated runs are fast.

zuperior_packages=(
  build-essential cmake ninja-build ccache pkg-config git python3
  libboost1.81-all-dev libpqxx-dev libhiredis-dev nlohmann-json3-dev libyaml-cpp-dev
  libspdlog-dev libfmt-dev catch2 libcli11-dev libssl-dev libcrypt-dev libjemalloc-dev
  postgresql postgresql-client redis-server redis-tools
  clang-format nodejs npm curl procps
)

install_deps() {
  local missing=()
  local p
  for p in "${zuperior_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Node may come from elsewhere (nvm, nodesource); any node >= 18 with npm will do.
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    local keep=()
    for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || keep+=("$p"); done
    missing=("${keep[@]}")
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "deps: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the packaged servers we just installed; we use our own throwaway ones. Servers that
  # were there before (the machine's own) are left alone.
  local svc
  for svc in redis-server postgresql; do
    if printf '%s\n' "${missing[@]}" | grep -qx "$svc\(-[0-9]*\)\?"; then
      $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
  done
}

build_zuperior() {
  local root="$1" build="$2" type="${3:-RelWithDebInfo}"
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$type" >/dev/null
  ninja -C "$build" -j"$(nproc)"
}
