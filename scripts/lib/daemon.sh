# Helpers for scripts that start `zuperior serve --port 0` in the background.
#   daemon_port LOG   # prints the port the daemon logged ("listening on HOST:PORT"), waiting up
#                     # to 10 s; prints nothing and fails if it never appeared
daemon_port() {
  local log="$1" port=""
  for _ in $(seq 100); do
    port="$(grep -oP 'listening on [^ ]*:\K[0-9]+' "$log" 2>/dev/null || true)"
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.1
  done
  return 1
}
