# Throwaway PostgreSQL and Redis on random loopback ports, for scripts/dev and scripts/test.
# Source this file, then:
#   services_start DIR   # starts both under DIR; exports the variables below
#   services_stop DIR    # stops both (safe to call twice; used from traps)
# Exports: ZUPERIOR_TEST_PG_URL (superuser URL), ZUPERIOR_TEST_REDIS_URL, DATABASE_URL, REDIS_URL,
#          ZUPERIOR_TEST_PG_PORT, ZUPERIOR_TEST_REDIS_PORT.
# PostgreSQL refuses to run as root: when we are root it runs as the `postgres` user.

pg_bin_dir() {
  # The newest installed major version (the glob's order put 13 before 15; migrate's tests need 14+).
  local d
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  echo "services: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  return 1
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# redis_start PORT DIR [ARGS...]: a daemonized redis-server on 127.0.0.1:PORT, its pidfile and log
# in DIR, waited for until that process answers (INFO's process_id), so a caller never talks to
# another server holding the port. Returns 1 when it exits first (the port was taken) or never answers.
redis_start() {
  local port="$1" dir="$2" i pid
  shift 2
  rm -f "$dir/redis.pid"
  : >"$dir/redis.log"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" || return 1
  for i in $(seq 1 100); do
    pid="$(cat "$dir/redis.pid" 2>/dev/null || true)"
    if [ -n "$pid" ]; then
      [ "$(redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" = "$pid" ] &&
        return 0
      kill -0 "$pid" 2>/dev/null || return 1
    fi
    grep -q "Could not create server TCP listening socket" "$dir/redis.log" 2>/dev/null && return 1
    sleep 0.1
  done
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  return 1
}

# redis_start_free VAR DIR [ARGS...]: redis_start on a free port, trying five ports (one can be taken
# between free_port and the bind); the port in VAR.
redis_start_free() {
  local var="$1" dir="$2" try port
  shift 2
  for try in 1 2 3 4 5; do
    port="$(free_port)"
    if redis_start "$port" "$dir" "$@"; then
      printf -v "$var" '%s' "$port"
      return 0
    fi
  done
  echo "redis-server did not start on a free port:" >&2
  tail -n 5 "$dir/redis.log" >&2 2>/dev/null
  return 1
}

as_pg_user() {
  if [ "$(id -u)" = 0 ]; then
    # From /: runuser keeps the caller's directory, and PostgreSQL 15's initdb and pg_ctl change
    # back into it after looking for their own binary, which fails in a directory postgres cannot
    # enter (a checkout under /root): "program postgres is needed by initdb but was not found".
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

services_start() {
  local dir="$1"
  local bin
  bin="$(pg_bin_dir)" || return 1
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local pgdata="$dir/pg" pgsock="$dir/pgsock"
  rm -rf "$pgdata" "$pgsock" "$dir/redis"
  mkdir -p "$pgsock" "$dir/redis"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    # postgres must be able to reach $dir: when it cannot, every parent gets the search bit (not
    # the read bit), and the script says which ones it changed.
    if ! (cd / && runuser -u postgres -- test -x "$dir") 2>/dev/null; then
      local p="$dir" changed=""
      while [ "$p" != "/" ]; do
        if [ -z "$(find "$p" -maxdepth 0 -perm -o+x 2>/dev/null)" ]; then
          chmod o+x "$p" 2>/dev/null && changed="$changed $p"
        fi
        p="$(dirname "$p")"
      done
      [ -z "$changed" ] || echo "services: gave others the search bit (o+x) on$changed so the postgres user can reach $dir" >&2
    fi
    mkdir -p "$pgdata" && chown postgres "$pgdata" "$pgsock"
  fi
  ZUPERIOR_TEST_PG_PORT="$(free_port)"
  as_pg_user "$bin/initdb" -D "$pgdata" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { echo "services: initdb failed:" >&2; cat "$dir/initdb.log" >&2; return 1; }
  as_pg_user "$bin/pg_ctl" -D "$pgdata" -l "$pgsock/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $ZUPERIOR_TEST_PG_PORT -k '$pgsock' -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null \
    || { echo "services: PostgreSQL did not start:" >&2; cat "$pgsock/postgres.log" >&2; return 1; }
  as_pg_user "$bin/psql" -h 127.0.0.1 -p "$ZUPERIOR_TEST_PG_PORT" -U postgres -d postgres -qtA \
    -c "CREATE ROLE zuperior LOGIN PASSWORD 'zuperior' CREATEDB" -c "CREATE DATABASE zuperior OWNER zuperior" >/dev/null \
    || { echo "services: could not create the zuperior database" >&2; return 1; }

  # scripts/test's Redis has no KEYS command: the daemon must never block Redis with it (SCAN only),
  # and a test that passes there proves it. scripts/dev's keeps it for people at redis-cli.
  local no_keys=()
  [ -n "${ZUPERIOR_SERVICES_NO_KEYS:-}" ] && no_keys=(--rename-command KEYS "")
  redis_start_free ZUPERIOR_TEST_REDIS_PORT "$dir/redis" "${no_keys[@]}" \
    || { echo "services: redis-server did not start" >&2; return 1; }

  export ZUPERIOR_TEST_PG_PORT ZUPERIOR_TEST_REDIS_PORT
  export ZUPERIOR_TEST_PG_URL="postgresql://postgres@127.0.0.1:$ZUPERIOR_TEST_PG_PORT/postgres"
  export ZUPERIOR_TEST_REDIS_URL="redis://127.0.0.1:$ZUPERIOR_TEST_REDIS_PORT/0"
  export DATABASE_URL="postgresql://zuperior:zuperior@127.0.0.1:$ZUPERIOR_TEST_PG_PORT/zuperior?connection_limit=20&pool_timeout=10"
  export REDIS_URL="$ZUPERIOR_TEST_REDIS_URL"
  # The same database as a plain libpq URL (psql refuses Prisma's query parameters).
  export ZUPERIOR_TEST_DB_URL="postgresql://zuperior:zuperior@127.0.0.1:$ZUPERIOR_TEST_PG_PORT/zuperior"
  echo "services: PostgreSQL on 127.0.0.1:$ZUPERIOR_TEST_PG_PORT, Redis on 127.0.0.1:$ZUPERIOR_TEST_REDIS_PORT (data in $dir)"
}

services_stop() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  dir="$(cd "$dir" && pwd)"
  local bin
  bin="$(pg_bin_dir 2>/dev/null)" || true
  if [ -n "$bin" ] && [ -f "$dir/pg/postmaster.pid" ]; then
    as_pg_user "$bin/pg_ctl" -D "$dir/pg" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -f "$dir/redis/redis.pid" ]; then
    local rpid
    rpid="$(cat "$dir/redis/redis.pid")"
    kill "$rpid" 2>/dev/null || true
    # Stopped means gone, as PostgreSQL's `pg_ctl -w stop` is: wait up to 5 s for Redis to exit (a
    # zombie its parent has not reaped yet has exited).
    for _ in $(seq 50); do
      case "$(ps -o stat= -p "$rpid" 2>/dev/null)" in "" | Z*) break ;; esac
      sleep 0.1
    done
    rm -f "$dir/redis/redis.pid"
  fi
}
