#!/usr/bin/env python3
"""Drives a real `zuperior serve` over HTTP: auth flows, validation, limits, Redis loss, PostgreSQL
loss, drain on SIGTERM and `zuperior health` exit codes. Started by run.sh."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time

BIN = os.environ["ZUPERIOR_BIN"]
WORK = os.environ["ZUPERIOR_TEST_HTTP_WORK"]
DB_URL = os.environ["ZUPERIOR_TEST_HTTP_DB"]
REDIS_PORT = int(os.environ["ZUPERIOR_TEST_HTTP_REDIS_PORT"])
SECRET = "it-Zu9#kq2Lr8vX1mN4pQ7sT0wY3bC6eF5hJ"
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if cond:
        print(f"ok   {what}")
    else:
        print(f"FAIL {what}")
        failures.append(what)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])


def redis_pid(port):
    """The process id the Redis server on `port` reports (INFO server), or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5) as c:
            c.settimeout(1)
            c.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            data = b""
            while b"process_id:" not in data or not re.search(rb"process_id:\d+\r\n", data):
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    m = re.search(rb"process_id:(\d+)\r\n", data)
    return int(m.group(1)) if m else None


def start_redis():
    """redis-server on REDIS_PORT, waited for until it answers as this child (INFO's process_id), so
    the suite never talks to another server. One that could not bind (the port held for a moment by
    another socket, as when Redis is restarted mid-test) is started again, for up to 10 s."""
    deadline = time.time() + 10
    while True:
        p = subprocess.Popen(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", WORK], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while p.poll() is None and time.time() < deadline:
            if redis_pid(REDIS_PORT) == p.pid:
                return p
            time.sleep(0.05)
        if p.poll() is None:
            p.kill()
            raise RuntimeError(f"redis-server on port {REDIS_PORT} did not answer")
        if time.time() >= deadline:
            raise RuntimeError(f"redis-server could not listen on port {REDIS_PORT} (exit {p.returncode})")
        time.sleep(0.2)


def daemon_env(extra_env=None):
    """The suite's daemon environment: its databases, secret and limits, no stray ZUPERIOR_*."""
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("ZUPERIOR_") and k not in ("ZUPERIOR_BIN",):
            del env[k]
    env.update({
        "DATABASE_URL": DB_URL,
        "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "JWT_SECRET": SECRET,
        "NODE_ENV": "test",
        "ZUPERIOR_SERVER_TRUSTED_PROXIES": "127.0.0.1",
        "ZUPERIOR_SERVER_MAX_BODY_SIZE": "64KiB",
        "ZUPERIOR_SERVER_MAX_HEADER_SIZE": "8KiB",
        "ZUPERIOR_AUTH_BCRYPT_COST": "4",
        "ZUPERIOR_SERVER_CORS_ORIGINS": "http://app.example",
    })
    env.update(extra_env or {})
    return env


class Daemon:
    def __init__(self, name, extra_env=None, args=(), config="/dev/null", nofile=None):
        env = daemon_env(extra_env)
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None
        self.log_path = os.path.join(WORK, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "serve", "--port", "0", "--workers", "2", "--env-file", "/dev/null",
                                      "--config", config, *args], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=WORK, preexec_fn=limit)
        self.port = None
        deadline = time.time() + 20
        while time.time() < deadline and self.port is None:
            if self.proc.poll() is not None:
                break
            with open(self.log_path) as f:
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", f.read())
                if m:
                    self.port = int(m.group(1))
            time.sleep(0.05)
        if self.port is None:
            with open(self.log_path) as f:
                print(f.read())
            raise RuntimeError(f"daemon {name} did not start")

    def request(self, method, path, body=None, headers=None, timeout=10, source=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                       source_address=(source, 0) if source else None)
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), parsed, data

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def psql(sql):
    url = DB_URL.split("?")[0]
    return subprocess.run(["psql", url, "-qtAc", sql], check=True, capture_output=True, text=True).stdout.strip()


def health_cli(port, *extra):
    r = subprocess.run([BIN, "health", "--url", f"http://127.0.0.1:{port}", "--env-file", "/dev/null",
                        "--config", "/dev/null", *extra], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout


def wait_health(d, want, seconds=10):
    deadline = time.time() + seconds
    st = body = None
    while time.time() < deadline:
        st, _, body, _ = d.request("GET", "/apis/health")
        if (st == 200) == want:
            return st, body
        time.sleep(0.2)
    return st, body


def ip(n):
    return {"X-Forwarded-For": f"203.0.113.{n}"}


def jwt(payload, secret=SECRET):
    """An HS256 token with this payload, signed as the daemon signs."""
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def out_of_descriptors():
    """A hard open-files limit below what server.max_connections needs: said at start; when accept
    fails for want of descriptors the log says so once per 10 s (it said it 20 times a second per
    worker), /metrics counts it, and the daemon serves again once connections close."""
    d = Daemon("nofile", nofile=64)
    try:
        with open(d.log_path) as f:
            start_log = f.read()
        check(re.search(r"open files limit 64 is below the \d+ that server.max_connections", start_log),
              "a hard open-files limit below the connection cap's needs is warned about at start")
        held = []
        for _ in range(120):
            try:
                held.append(socket.create_connection(("127.0.0.1", d.port), 2))
            except OSError:
                break
        time.sleep(3)  # 60 retries per listener at 50 ms
        with open(d.log_path) as f:
            said = [ln for ln in f if "accept failed" in ln]
        for h in held:
            h.close()
        check(len(said) == 1 and "Too many open files" in said[0],
              f"out of descriptors for 3 s: one log line, not one per retry ({len(said)} lines)")
        st = None
        deadline = time.time() + 5
        while time.time() < deadline and st != 200:
            try:
                st, _, _, raw = d.request("GET", "/metrics", timeout=2)
            except OSError:
                time.sleep(0.2)
        m = re.search(rb"\nzuperior_http_accept_errors_total (\d+)", raw or b"") if st == 200 else None
        check(m and int(m.group(1)) >= 40, f"failed accepts counted in /metrics ({m.group(1) if m else None})")
        check(d.stop() == 0, "the daemon that ran out of descriptors still drains and exits 0")
    finally:
        if d.proc.poll() is None:
            d.proc.kill()


def proxy_connection_cap():
    """server.max_connections_per_ip counts a client's own connections; a trusted proxy's carry many
    clients, so it is held only to the total cap (2,000 users behind one nginx filled the per-IP cap
    and the next were refused). Clients connect from 127.0.0.1, the proxy from 127.0.0.2."""
    d = Daemon("proxy-cap", {"ZUPERIOR_SERVER_TRUSTED_PROXIES": "127.0.0.2",
                             "ZUPERIOR_SERVER_MAX_CONNECTIONS_PER_IP": "2",
                             "ZUPERIOR_SERVER_MAX_HEADER_SIZE": "256KiB"})

    def hold(source, n):
        conns, got = [], []
        for _ in range(n):
            h = socket.create_connection(("127.0.0.1", d.port), 5, source_address=(source, 0))
            h.settimeout(5)
            conns.append(h)
            try:
                h.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
                got.append(h.recv(4096)[:12])
            except OSError:
                got.append(b"")
        for h in conns:
            h.close()
        return got

    try:
        got = hold("127.0.0.1", 3)
        check(got[:2] == [b"HTTP/1.1 200"] * 2 and got[2] == b"HTTP/1.1 503",
              f"per-IP cap of 2: a client's third connection gets 503 ({got})")
        time.sleep(0.3)
        got = hold("127.0.0.2", 6)
        check(got == [b"HTTP/1.1 200"] * 6, f"a trusted proxy's six connections are all served ({got})")

        # A client far over its cap: each worker answers at most 64 refusals at a time (503 and a
        # lingering close of up to 1.5 s); the rest are closed at once. Answering every one let a
        # single client hold as many descriptors as it could open in 1.5 s.
        time.sleep(0.3)
        held = [socket.create_connection(("127.0.0.1", d.port), 5, source_address=("127.0.0.1", 0))
                for _ in range(400)]
        answered = silent = 0
        for h in held:
            h.settimeout(1)
            try:
                data = h.recv(64)
            except OSError:
                data = b""
            if data.startswith(b"HTTP/1.1 503"):
                answered += 1
            else:
                silent += 1
        for h in held:
            h.close()
        check(0 < answered <= 2 * 64 and silent >= 400 - 2 * 64 - 2,
              f"400 connections over the cap: at most 64 answered per worker, the rest closed ({answered} answered, {silent} not)")
        time.sleep(2)
        got = hold("127.0.0.1", 1)
        check(got == [b"HTTP/1.1 200"], f"the client is served again once under its cap ({got})")

        # A header field longer than Beast's 64 KiB per field, allowed by a 256 KiB
        # server.max_header_size: 431, not a connection dropped with an error logged.
        def exchange(data, wait):
            """Sends raw bytes on a new connection; the first answer bytes within `wait` seconds."""
            h = socket.create_connection(("127.0.0.1", d.port), 5)
            h.sendall(data)
            h.settimeout(wait)
            try:
                got = h.recv(4096)
            except OSError:
                got = b""
            h.close()
            return got

        answer = exchange(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 5)
        check(answer.startswith(b"HTTP/1.1 431"), f"a 70,000-byte header value: 431 ({answer[:40]})")
        # The same in a chunked body's trailer section: it threw out of the worker's loop (an error
        # line per request, no answer). The trailer section is held under 64 KiB: 400.
        answer = exchange(b"POST /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
                          b"X-Big: " + b"a" * 70000 + b"\r\n\r\n", 5)
        check(answer.startswith(b"HTTP/1.1 400"), f"a 70,000-byte trailer field: 400 ({answer[:40]})")
        with open(d.log_path) as f:
            log = f.read()
            check("field value too large" not in log and "error worker" not in log,
                  "the 70,000-byte header and trailer log no connection or worker error")

        # Expect: 100-continue from an HTTP/1.0 client is ignored (RFC 9110 10.1.1): no interim line.
        early = exchange(b"POST /apis/auth/login HTTP/1.0\r\nHost: x\r\nExpect: 100-continue\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n", 1)
        check(b"100 Continue" not in early, f"HTTP/1.0 with Expect: 100-continue gets no 100 Continue ({early[:40]})")
        check(d.stop() == 0, "the proxy-cap daemon exits 0 on SIGTERM")
    finally:
        if d.proc.poll() is None:
            d.proc.kill()


def log_reader_gone():
    """serve's log is often a pipe (| tee, a container's log driver): when its reader went away, the
    next log line raised SIGPIPE and killed the daemon (exit 141). A lost log must not stop it."""
    p = subprocess.Popen([BIN, "serve", "--port", "0", "--workers", "2", "--env-file", "/dev/null", "--config",
                          "/dev/null"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=daemon_env(), cwd=WORK)
    port = None
    deadline = time.time() + 20
    while port is None and time.time() < deadline:
        line = p.stdout.readline().decode(errors="replace")
        if not line:
            break
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
    p.stdout.close()  # the reader goes away; every request below logs a line into the broken pipe
    codes = []
    if port:
        for _ in range(3):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/apis/time")
                codes.append(c.getresponse().status)
                c.close()
            except OSError as e:
                codes.append(str(e))
    alive = p.poll() is None
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = -9
    check(port is not None and codes == [200] * 3 and alive and rc == 0,
          f"log pipe closed: still serving, exit 0 on SIGTERM (codes {codes}, alive {alive}, rc {rc})")


def sighup_reload():
    """SIGHUP re-reads the files and applies the reloadable keys (rate-limit tiers, the access log)
    while serving; a broken file is refused and the running configuration kept."""
    cfg = os.path.join(WORK, "reload.yaml")
    with open(cfg, "w") as f:
        f.write("ratelimit:\n  generous: 3/1m\nlog:\n  access_log: false\n")
    d = Daemon("reload", {"ZUPERIOR_LOG_FORMAT": "json"}, config=cfg)
    try:
        st, h, _, _ = d.request("GET", "/apis/time", headers=ip(201))
        check(st == 200 and h.get("x-ratelimit-limit") == "3", f"before SIGHUP: the file's generous tier ({h.get('x-ratelimit-limit')})")
        with open(cfg, "w") as f:
            f.write("ratelimit:\n  generous: 7/1m\nlog:\n  access_log: true\n")
        d.proc.send_signal(signal.SIGHUP)
        limit = None
        deadline = time.time() + 5
        while time.time() < deadline and limit != "7":
            time.sleep(0.1)
            _, h, _, _ = d.request("GET", "/apis/time", headers=ip(202))
            limit = h.get("x-ratelimit-limit")
        check(limit == "7", f"after SIGHUP: the new tier applies without a restart ({limit})")
        d.request("GET", "/apis/time", headers={"X-Request-Id": "reload-probe-1", **ip(203)})
        log = ""
        deadline = time.time() + 5  # info lines reach the file within a second (flush_every)
        while time.time() < deadline and "reload-probe-1" not in log:
            time.sleep(0.2)
            with open(d.log_path) as f:
                log = f.read()
        check("reload-probe-1" in log, "after SIGHUP: the access log is on")
        # In JSON format an access line is an object with the request's fields, not one message string.
        entry = next((json.loads(l) for l in log.splitlines() if "reload-probe-1" in l), {})
        check(entry.get("msg") == "access" and entry.get("request_id") == "reload-probe-1" and entry.get("method") == "GET"
              and entry.get("route") == "/apis/time" and entry.get("status") == 200 and isinstance(entry.get("bytes"), int)
              and isinstance(entry.get("duration_ms"), float) and entry.get("identity") == "ip:203.0.113.203"
              and entry.get("level") == "info" and entry.get("ts", "").endswith("Z"),
              f"JSON access line carries its fields ({entry})")
        def not_json(line):
            try:
                return not isinstance(json.loads(line), dict)
            except ValueError:
                return True
        odd = [l for l in log.splitlines() if l.strip() and not_json(l)]
        check(not odd, f"every JSON log line is a JSON object ({odd[:2]})")
        # log.level is reloadable: a refused token is logged at debug, with its request's id, only
        # once SIGHUP has applied "debug"; the debug lines also name the request they belong to.
        bad = {"Authorization": "Bearer not.a.token", **ip(206)}
        st, _, _, _ = d.request("GET", "/apis/accounts", headers={"X-Request-Id": "level-probe-1", **bad})
        check(st == 401, f"a bad token is refused ({st})")
        with open(cfg, "w") as f:
            f.write("ratelimit:\n  generous: 7/1m\nlog:\n  access_log: true\n  level: debug\n")
        d.proc.send_signal(signal.SIGHUP)
        refused, deadline, n = [], time.time() + 5, 1
        while time.time() < deadline and not refused:
            time.sleep(0.1)
            n += 1
            d.request("GET", "/apis/accounts",  # a fresh address each time: 7/1m is the tier's limit
                      headers={"X-Request-Id": f"level-probe-{n}", **bad, **ip(207 + n % 45)})
            with open(d.log_path) as f:
                refused = [json.loads(l) for l in f if "token refused" in l]
        check(refused and all(e.get("level") == "debug" for e in refused)
              and all(re.match(r"\[level-probe-([0-9]+)\] token refused", e.get("msg", "")) for e in refused)
              and not any("level-probe-1]" in e.get("msg", "") for e in refused),
              f"SIGHUP to log.level debug: debug lines appear from then on, each with its request id ({refused[:2]})")
        with open(cfg, "w") as f:
            f.write("ratelimit:\n  generous: lots\n")
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        st, h, _, _ = d.request("GET", "/apis/time", headers=ip(204))
        with open(d.log_path) as f:
            log = f.read()
        check(st == 200 and h.get("x-ratelimit-limit") == "7" and "reload failed" in log,
              f"a broken file on SIGHUP: refused, the running tiers kept ({st} {h.get('x-ratelimit-limit')})")
        # ratelimit.key_prefix is not reloadable: applied, it reset every window at once (a fresh
        # strict tier for logins). The tiers reload, the prefix waits for a restart.
        with open(cfg, "w") as f:
            f.write("ratelimit:\n  generous: 5/1m\n  key_prefix: other-prefix\n")
        d.proc.send_signal(signal.SIGHUP)
        limit, deadline = None, time.time() + 5
        while time.time() < deadline and limit != "5":
            time.sleep(0.1)
            _, h, _, _ = d.request("GET", "/apis/time", headers=ip(205))
            limit = h.get("x-ratelimit-limit")
        keys = subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "--scan", "--pattern", "other-prefix*"],
                              capture_output=True, text=True).stdout.split()
        with open(d.log_path) as f:
            log = f.read()
        check(limit == "5" and not keys and "key_prefix changed" in log,
              f"SIGHUP with a new ratelimit.key_prefix: tiers reloaded, the prefix kept until a restart ({limit}, {keys[:3]})")
        check(d.stop() == 0, "reloaded daemon exits 0 on SIGTERM")
    finally:
        if d.proc.poll() is None:
            d.proc.kill()


def main():
    redis = start_redis()
    # At debug level: the most the daemon ever logs is checked for secrets at the end.
    d = Daemon("main", {"ZUPERIOR_LOG_LEVEL": "debug", "ZUPERIOR_SERVER_INTERNAL_NETWORKS": "127.0.0.0/8,10.0.0.0/8"})
    try:
        # probes and health
        st, _, body, _ = d.request("GET", "/livez")
        check(st == 200, "GET /livez 200")
        st, _, body, _ = d.request("GET", "/readyz")
        check(st == 200, "GET /readyz 200 while running")
        st, body = wait_health(d, True)
        check(st == 200 and body["status"] == "healthy" and body["checks"] == {"database": "healthy", "redis": "healthy", "bus": "healthy", "api": "healthy"},
              f"GET /apis/health healthy in the seed's shape ({body})")
        check("ageMs" in body["details"]["database"], "health results say how old they are")
        st, h, body, _ = d.request("GET", "/apis/time")
        check(st == 200 and "serverTime" in body and "x-request-id" in h, "GET /apis/time with X-Request-Id")
        st, h, _, _ = d.request("GET", "/apis/time", headers={"X-Request-Id": "trace-abc.123"})
        check(h.get("x-request-id") == "trace-abc.123", "client X-Request-Id honoured")
        rc, out = health_cli(d.port)
        check(rc == 0 and "healthy" in out, f"zuperior health exit 0 when healthy (rc={rc})")
        # The man page offers asking the probes by path: their own words at 200 are healthy too.
        for path, word in (("/readyz", "ready"), ("/livez", "ok")):
            r = subprocess.run([BIN, "health", "--url", f"http://127.0.0.1:{d.port}{path}", "--env-file", "/dev/null",
                                "--config", "/dev/null"], capture_output=True, text=True, timeout=30)
            check(r.returncode == 0 and word in r.stdout, f"zuperior health --url ...{path} exit 0 ({r.returncode} {r.stdout!r})")
        # A second daemon on a port in use exits 2. Its workers' SO_REUSEPORT used to let it join the
        # first one's listeners and silently take part of their connections.
        r = subprocess.run([BIN, "serve", "--port", str(d.port), "--workers", "2", "--env-file", "/dev/null",
                            "--config", "/dev/null"], env=daemon_env(), cwd=WORK, capture_output=True, text=True,
                           timeout=30)
        check(r.returncode == 2 and "Address already in use" in r.stdout + r.stderr,
              f"serve on a port in use exits 2 ({r.returncode} {(r.stdout + r.stderr)[-300:]!r})")
        # A required key that validation also refuses is one error, said once (it was listed twice).
        env = daemon_env()
        del env["JWT_SECRET"]
        r = subprocess.run([BIN, "serve", "--port", "0", "--env-file", "/dev/null", "--config", "/dev/null"], env=env,
                           cwd=WORK, capture_output=True, text=True, timeout=30)
        check(r.returncode == 2 and r.stderr.count("JWT_SECRET is not set") == 1 and "(1 error;" in r.stderr,
              f"serve without JWT_SECRET: exit 2, said once ({r.returncode} {r.stderr[-300:]!r})")
        rc, out = health_cli(d.port, "--format", "json")
        check(rc == 0 and json.loads(out)["status"] == "healthy", "zuperior health --format json")

        # errors and limits of the HTTP layer
        st, _, body, _ = d.request("GET", "/nope")
        check(st == 404 and body == {"success": False, "message": "Not found"}, "unknown route 404 in the seed's error shape")
        st, h, _, _ = d.request("DELETE", "/apis/time")
        check(st == 405 and "GET" in h.get("allow", ""), "wrong method 405 with Allow")
        st, h, _, _ = d.request("OPTIONS", "/apis/auth/login", headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"})
        check(st == 204 and h.get("access-control-allow-origin") == "http://app.example", "CORS preflight for a configured origin")
        st, h, _, _ = d.request("GET", "/apis/time", headers={"Origin": "http://evil.example"})
        check("access-control-allow-origin" not in h, "no CORS headers for a foreign origin")
        st, _, body, _ = d.request("POST", "/apis/auth/register", body="{\"email\": ", headers={"Content-Type": "application/json", **ip(1)})
        check(st == 400 and body["message"] == "Malformed JSON body", f"malformed JSON 400 ({st} {body})")
        st, _, body, _ = d.request("POST", "/apis/auth/register", body="email=a", headers={"Content-Type": "application/x-www-form-urlencoded", **ip(1)})
        check(st == 415 and body["success"] is False, f"wrong content type 415 ({st})")
        st, h413, body, _ = d.request("POST", "/apis/auth/register", body="{\"x\":\"" + "a" * 70000 + "\"}",
                                      headers={"Content-Type": "application/json", "Origin": "http://app.example", **ip(1)})
        check(st == 413 and body["success"] is False, f"oversize body 413 ({st})")
        check(h413.get("access-control-allow-origin") == "http://app.example",
              f"the 413 carries the CORS headers, or a browser shows a CORS failure instead ({h413})")
        st, _, body, _ = d.request("GET", "/apis/time", headers={"X-Big": "b" * 9000})
        check(st == 431, f"huge header 431 ({st})")
        # raw garbage: 400 and the daemon keeps serving
        s = socket.create_connection(("127.0.0.1", d.port), 5)
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        reply = s.recv(4096)
        s.close()
        check(reply.startswith(b"HTTP/1.1 400"), f"malformed request line 400 ({reply[:20]!r})")
        # a request cut short by the client's half-close is a bad request, not a timeout
        s = socket.create_connection(("127.0.0.1", d.port), 5)
        s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        s.shutdown(socket.SHUT_WR)
        reply = s.recv(4096)
        s.close()
        check(reply.startswith(b"HTTP/1.1 400"), f"request head cut by a half-close: 400 ({reply[:20]!r})")
        # RFC 9112: HTTP/1.1 needs exactly one Host (HTTP/1.0 none); absolute-form targets are accepted
        for raw, want, what in [(b"GET /livez HTTP/1.1\r\n\r\n", b"HTTP/1.1 400", "HTTP/1.1 without Host: 400"),
                                (b"GET /livez HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"HTTP/1.1 400", "two Host fields: 400"),
                                (b"GET /livez HTTP/1.0\r\n\r\n", b"HTTP/1.0 200", "HTTP/1.0 without Host: 200"),
                                (b"GET http://x/livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"HTTP/1.1 200", "absolute-form target: 200"),
                                (b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"HTTP/1.1 204", "OPTIONS *: 204"),
                                (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", b"HTTP/1.1 400", "CONNECT host:port: 400"),
                                (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 400", "GET *: 400")]:
            s = socket.create_connection(("127.0.0.1", d.port), 5)
            s.sendall(raw)
            reply = s.recv(4096)
            s.close()
            check(reply.startswith(want), f"{what} ({reply[:20]!r})")
        # after CONNECT's 400 the connection closes: what the client sends next is tunnel bytes, not HTTP
        s = socket.create_connection(("127.0.0.1", d.port), 5)
        s.settimeout(5)
        s.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        reply = b""
        try:
            while chunk := s.recv(4096):
                reply += chunk
            closed = True
        except socket.timeout:
            closed = False
        s.close()
        check(reply.startswith(b"HTTP/1.1 400") and b"Connection: close" in reply and closed,
              f"CONNECT: 400 and the connection closes ({reply[:20]!r}, closed={closed})")
        # RFC 9112 6.1 framing: a body whose length is unknown (Transfer-Encoding without a final
        # chunked) is a 400 and a close before any of it is read; the bytes after the head were
        # taken for a second request (two answers on one connection: the smuggling pattern). A
        # coding we do not decode (gzip before chunked) is a 501; chunked alone is served.
        login = b"POST /apis/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Forwarded-For: 203.0.113.77\r\n"
        for head, body, want, what in [
                (b"Transfer-Encoding: identity\r\n", b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 400", "identity"),
                (b"Transfer-Encoding: chunked, identity\r\n", b"0\r\n\r\n", b"HTTP/1.1 400", "chunked not last"),
                (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", b"HTTP/1.1 400", "chunked twice"),
                (b"Transfer-Encoding: gzip, chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n", b"HTTP/1.1 501", "gzip before chunked"),
                (b"Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\nGET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 b"HTTP/1.1 400", "chunked alone (the login's validation 400, then the next request)")]:
            s = socket.create_connection(("127.0.0.1", d.port), 5)
            s.settimeout(5)
            s.sendall(login + head + b"\r\n" + body)
            reply = b""
            try:
                while chunk := s.recv(4096):
                    reply += chunk
            except (socket.timeout, ConnectionResetError):
                pass
            s.close()
            answers = reply.count(b"HTTP/1.1 ")
            if what.startswith("chunked alone"):
                ok = reply.startswith(want) and b"Validation error" in reply and answers == 2
            else:
                ok = reply.startswith(want) and answers == 1 and b"Connection: close" in reply
            check(ok, f"Transfer-Encoding {what}: {want.decode()} ({answers} answers, {reply[:40]!r})")
        s = socket.create_connection(("127.0.0.1", d.port), 5)
        s.sendall(b"POST /apis/auth/login HTTP/1.0\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        reply = s.recv(4096)
        s.close()
        check(reply.startswith(b"HTTP/1.1 400"), f"HTTP/1.0 with Transfer-Encoding: 400 ({reply[:20]!r})")
        # A chunk-size line or a trailer section that never ends: Beast limits neither, and the
        # session's read buffer grew with every byte (400 MB in 2.5 s from one connection) until
        # request_timeout. Now the buffer is bounded (63 KiB during a body): a 400 after at most
        # that much, the connection closed, and the server's memory where it was.
        rss_before = rss_kb(d.proc.pid)
        for tail, what in [(b"1;e=", "chunk extension"), (b"0\r\nX-Trailer: ", "trailer")]:
            s = socket.create_connection(("127.0.0.1", d.port), 5)
            s.settimeout(5)
            s.sendall(login + b"Transfer-Encoding: chunked\r\n\r\n" + tail)
            reply, sent = b"", 0
            try:
                while sent < (64 << 20) and not reply:
                    s.sendall(b"a" * 65536)
                    sent += 65536
                    r, _, _ = select.select([s], [], [], 0)
                    if r:
                        reply = s.recv(4096)
            except (ConnectionResetError, BrokenPipeError, socket.timeout):
                pass
            try:
                reply += s.recv(4096) if not reply else b""
            except (ConnectionResetError, socket.timeout):
                pass
            s.close()
            check(reply.startswith(b"HTTP/1.1 400") and sent < (4 << 20),
                  f"endless {what}: 400 after {sent >> 10} KiB sent ({reply[:20]!r})")
        rss_after = rss_kb(d.proc.pid)
        check(rss_after - rss_before < 32 * 1024, f"endless chunk line/trailer: RSS {rss_before} -> {rss_after} KiB")
        # the daemon's threads are named for top -H, perf and gdb
        names = set()
        for t in os.listdir(f"/proc/{d.proc.pid}/task"):
            with open(f"/proc/{d.proc.pid}/task/{t}/comm") as f:
                names.add(f.read().strip())
        check({"http-w0", "db-0", "health-database", "health-redis"} <= names, f"thread names: {sorted(names)}")
        # methods Beast does not know share one metrics label: labelled by their own text, every
        # distinct method added a series to /metrics for good
        for i in range(3):
            s = socket.create_connection(("127.0.0.1", d.port), 5)
            s.sendall(b"ZZWEIRD%d /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)
            s.recv(4096)
            s.close()
        st, _, _, raw = d.request("GET", "/metrics")
        check(b"ZZWEIRD" not in raw and b'method="OTHER"' in raw, "unknown methods counted under method=\"OTHER\" in /metrics")
        st, _, _, _ = d.request("GET", "/livez")
        check(st == 200, "still serving after bad requests")

        # validation: every error at once
        st, _, body, _ = d.request("POST", "/apis/auth/register", body={"email": "not-an-email", "password": "short"}, headers=ip(2))
        fields = sorted({e["field"] for e in (body or {}).get("errors", [])})
        check(st == 400 and body["message"] == "Validation error" and fields == ["email", "password"] and len(body["errors"]) >= 4,
              f"register validation: all field errors at once ({body})")
        st, _, body, _ = d.request("POST", "/apis/auth/login", body={"email": "not-an-email", "password": "short"}, headers=ip(2))
        check(st == 400 and body["message"] == "Validation error" and body["success"] is False
              and body["errors"] == [{"field": "email", "message": "Invalid email address"},
                                     {"field": "password", "message": "Password must be at least 8 characters"}],
              f"login validation: the seed's loginSchema errors, both at once ({body})")
        st, _, body, _ = d.request("POST", "/apis/auth/login", body={"email": 42}, headers=ip(2))
        check(st == 400 and sorted(e["field"] for e in body["errors"]) == ["email", "password"],
              f"login validation: a wrong type and a missing field are both reported ({body})")

        # An absurdly long address is a validation error (it once passed, was stored, and its token
        # overflowed Beast's 64 KB Set-Cookie field: a 500 after the row was written).
        st, _, body, _ = d.request("POST", "/apis/auth/register", body={"email": "a" * 60000 + "@example.com", "password": "Passw0rd!x"}, headers=ip(2))
        check(st == 400 and [e["field"] for e in body.get("errors", [])] == ["email"], f"60 KB e-mail: 400 validation error ({st})")

        # register / duplicate / login / me
        pw = "Passw0rd!x"
        st, h, a, _ = d.request("POST", "/apis/auth/register", body={"email": "Alice@Example.com", "password": pw, "name": "Alice"}, headers=ip(3))
        check(st == 201 and a["user"]["email"] == "alice@example.com" and a["token"], f"register 201 with user and token ({st})")
        check("httponly" in h.get("set-cookie", "").lower() and "samesite=lax" in h.get("set-cookie", "").lower(), "register sets the httpOnly token cookie")
        check("x-ratelimit-limit" in h and "ratelimit-policy" in h, "auth responses carry rate-limit headers")
        check("password" not in a["user"], "no password hash in responses")
        st, _, body, _ = d.request("POST", "/apis/auth/register", body={"email": "alice@example.com", "password": pw}, headers=ip(4))
        check(st == 409 and body["success"] is False, f"duplicate email 409 ({st})")
        st, _, b, _ = d.request("POST", "/apis/auth/register", body={"email": "bob@example.com", "password": pw}, headers=ip(4))
        check(st == 201, "second user registered")
        st, h, body, _ = d.request("POST", "/apis/auth/login", body={"email": "alice@example.com", "password": pw}, headers=ip(5))
        check(st == 200 and body["token"] and body["user"]["lastLoginAt"], f"login 200 with lastLoginAt ({st})")
        token_a = body["token"]
        st1, _, wrong, _ = d.request("POST", "/apis/auth/login", body={"email": "alice@example.com", "password": "Wrong0rd!x"}, headers=ip(6))
        st2, _, unknown, _ = d.request("POST", "/apis/auth/login", body={"email": "nobody@example.com", "password": "Wrong0rd!x"}, headers=ip(6))
        check(st1 == 401 and st2 == 401 and wrong == unknown, "same 401 for wrong password and unknown email")
        st, _, me, _ = d.request("GET", "/apis/auth/me", headers={"Authorization": f"Bearer {token_a}"})
        check(st == 200 and me["user"]["email"] == "alice@example.com", "me with Bearer token")
        st, _, me, _ = d.request("GET", "/apis/auth/me", headers={"Cookie": f"token={token_a}"})
        check(st == 200, "me with the cookie")
        st, _, _, _ = d.request("GET", "/apis/auth/me")
        check(st == 401, "me without a token 401")
        tampered = token_a[:-2] + ("AA" if token_a[-2:] != "AA" else "BB")
        st, _, _, _ = d.request("GET", "/apis/auth/me", headers={"Authorization": f"Bearer {tampered}"})
        check(st == 401, "tampered token 401")
        hdr = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
        st, _, _, _ = d.request("GET", "/apis/auth/me", headers={"Authorization": f"Bearer {hdr}.{token_a.split('.')[1]}."})
        check(st == 401, "alg none refused")
        now = int(time.time())
        st, _, _, _ = d.request("GET", "/apis/auth/me", headers={"Authorization": "Bearer " + jwt({"sub": a["user"]["id"], "iat": now - 7200, "exp": now - 3600})})
        check(st == 401, "expired token (well signed) 401")
        st, _, _, _ = d.request("GET", "/apis/auth/me", headers={"Authorization": "Bearer " + jwt({"iat": now, "exp": now + 3600})})
        check(st == 401, "token without sub (well signed) 401")
        st, _, _, _ = d.request("GET", "/apis/auth/me", headers={"Authorization": "Bearer " + jwt({"sub": a["user"]["id"], "iat": now})})
        check(st == 401, "token without exp (well signed) 401")
        st, _, me, _ = d.request("GET", "/apis/auth/me", headers={"Authorization": "Bearer " + jwt({"sub": a["user"]["id"], "iat": now, "exp": now + 60})})
        check(st == 200 and me["user"]["email"] == "alice@example.com", "a well-signed token with sub and exp is accepted (so the refusals above are for exp and sub)")
        # A refused token still counts against the standard tier, by address: guessing is limited too.
        st, h, _, _ = d.request("GET", "/apis/auth/me", headers={"Authorization": f"Bearer {tampered}", **ip(150)})
        st2, h2, _, _ = d.request("GET", "/apis/accounts", headers=ip(150))
        check(st == 401 and st2 == 401 and h.get("x-ratelimit-limit") == "100" and
              int(h2.get("x-ratelimit-remaining", -1)) == int(h.get("x-ratelimit-remaining", -1)) - 1,
              f"401s count against the address's standard tier ({h.get('x-ratelimit-remaining')} then {h2.get('x-ratelimit-remaining')})")

        # accounts: only the caller's
        id_a, id_b = a["user"]["id"], b["user"]["id"]
        psql(f"INSERT INTO \"MT5Account\" (\"id\",\"accountId\",\"userId\",\"balance\") VALUES ('m1','1001','{id_a}',150.5),('m2','2001','{id_b}',99)")
        st, _, acc, _ = d.request("GET", "/apis/accounts", headers={"Authorization": f"Bearer {token_a}"})
        ids = [x["accountId"] for x in acc["accounts"]] if acc else []
        check(st == 200 and ids == ["1001"] and acc["accounts"][0]["balance"] == 150.5, f"accounts: A sees only A's ({ids})")
        st, _, _, _ = d.request("GET", "/apis/accounts")
        check(st == 401, "accounts without a token 401")

        # inactive user and the audit trail
        # A's answer is cached now (and read back from the cache: same body); B's read must not get it.
        st, _, acc2, _ = d.request("GET", "/apis/accounts", headers={"Authorization": f"Bearer {token_a}"})
        check(st == 200 and acc2 == acc, f"accounts: A's second read (from the cache) is A's ({acc2})")
        st, _, accb, _ = d.request("GET", "/apis/accounts", headers={"Authorization": f"Bearer {b['token']}"})
        idsb = [x["accountId"] for x in accb["accounts"]] if accb else []
        check(st == 200 and idsb == ["2001"], f"B's accounts read (and cached) before the suspension: B's only ({st}, {idsb})")
        st, _, accb2, _ = d.request("GET", "/apis/accounts", headers={"Authorization": f"Bearer {b['token']}"})
        check(st == 200 and accb2 == accb, f"B's cached accounts are B's ({accb2})")
        psql(f"UPDATE \"User\" SET \"status\"='suspended' WHERE \"id\"='{id_b}'")
        # The tokens a user got before being suspended no longer read anything. The cached accounts
        # answer is served without asking the database, so nothing saw the suspension there; /me
        # sees it, and drops that answer (it went on being served 200 until its TTL).
        st, _, body, _ = d.request("GET", "/apis/auth/me", headers={"Authorization": f"Bearer {b['token']}"})
        st2, _, body2, _ = d.request("GET", "/apis/accounts", headers={"Authorization": f"Bearer {b['token']}"})
        check(st == 403 and st2 == 403 and body["message"] == body2["message"] == "Account is not active",
              f"a suspended user's token: me and then the cached accounts 403 ({st}, {st2})")
        st, _, _, _ = d.request("POST", "/apis/auth/login", body={"email": "bob@example.com", "password": pw}, headers=ip(7))
        check(st == 403, f"inactive user 403 ({st})")
        actions = psql(f"SELECT string_agg(\"action\", ',' ORDER BY \"createdAt\") FROM \"ActivityLog\" WHERE \"userId\"='{id_a}'")
        check(actions.startswith("register") and "login" in actions and "login_failed" in actions, f"ActivityLog rows ({actions})")
        st, _, other, _ = d.request("POST", "/apis/auth/login", body={"email": "alice@example.com", "password": pw}, headers=ip(8))
        token_a2 = other["token"] if st == 200 else ""
        check(st == 200 and token_a2 != token_a, f"a second login gives another token ({st})")
        st, h, _, _ = d.request("POST", "/apis/auth/logout", headers={"Authorization": f"Bearer {token_a}"})
        check(st == 200 and "max-age=0" in h.get("set-cookie", "").lower(), "logout clears the cookie")
        # Logout revokes the token itself, not only the cookie: a copy of it is refused from then on
        # (a stolen token no longer outlives the session), while the user's other tokens still work.
        st, _, _, _ = d.request("GET", "/apis/auth/me", headers={"Authorization": f"Bearer {token_a}"})
        st2, _, _, _ = d.request("GET", "/apis/accounts", headers={"Cookie": f"token={token_a}"})
        check(st == 401 and st2 == 401, f"the logged-out token is refused: me and accounts 401 ({st}, {st2})")
        st, _, me, _ = d.request("GET", "/apis/auth/me", headers={"Authorization": f"Bearer {token_a2}"})
        check(st == 200 and me["user"]["email"] == "alice@example.com", f"the user's other token still works ({st})")
        st, _, _, _ = d.request("POST", "/apis/auth/logout", headers={"Authorization": f"Bearer {token_a}"})
        check(st == 200, f"logging out twice is fine ({st})")
        jti = json.loads(base64.urlsafe_b64decode(token_a.split(".")[1] + "=="))["jti"]
        score = subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ZSCORE", "revoked-tokens", jti], capture_output=True,
                               text=True, timeout=10).stdout.strip()
        exp = json.loads(base64.urlsafe_b64decode(token_a.split(".")[1] + "=="))["exp"]
        check(score and int(float(score)) == exp + 30, f"the revocation is kept in Redis until the token expires (+ leeway) ({score}, exp {exp})")
        revoked_gauge = [l for l in d.request("GET", "/metrics")[3].decode().splitlines() if l.startswith("zuperior_auth_revoked_tokens ")]
        check(revoked_gauge == ["zuperior_auth_revoked_tokens 1"], f"revoked tokens in /metrics ({revoked_gauge})")

        # strict limit: exactly 10 per window per IP, then 429 with headers and the seed's body
        codes, last = [], None
        for i in range(12):
            st, h, body, _ = d.request("POST", "/apis/auth/login", body={"email": f"x{i}@example.com", "password": "Wrong0rd!x"}, headers=ip(50))
            codes.append(st)
            last = (st, h, body)
        check(codes[:10] == [401] * 10 and codes[10:] == [429, 429], f"strict tier: 10 allowed then 429 ({codes})")
        st, h, body = last
        check(h.get("x-ratelimit-remaining") == "0" and int(h.get("retry-after", "0")) >= 1 and body.get("retryAfter") and body["message"].startswith("Too many requests"),
              "429 has X-RateLimit-*, Retry-After and the seed's body")
        codes = [d.request("POST", "/apis/auth/login", body={"email": "victim@example.com", "password": "Wrong0rd!x"}, headers=ip(60 + i))[0] for i in range(12)]
        check(codes.count(429) == 2, f"strict tier also per e-mail across IPs ({codes})")
        # IPv6: one subscriber holds a /64 and could take a fresh address for every attempt; the
        # limit counts the network (server.ipv6_prefix, 64), not the address.
        codes = [d.request("POST", "/apis/auth/login", body={"email": f"v6-{i}@example.com", "password": "Wrong0rd!x"},
                           headers={"X-Forwarded-For": f"2001:db8:7:7::{i + 1:x}"})[0] for i in range(12)]
        check(codes == [401] * 10 + [429, 429], f"strict tier per IPv6 /64, not per address ({codes})")
        st = d.request("POST", "/apis/auth/login", body={"email": "v6-other@example.com", "password": "Wrong0rd!x"},
                       headers={"X-Forwarded-For": "2001:db8:7:8::1"})[0]
        check(st == 401, f"strict tier: the next /64 is another client ({st})")
        # Two X-Forwarded-For lines are one list, in order: a proxy that adds its own line
        # (HAProxy's option forwardfor) puts the address it saw last. Reading the first line only
        # believed the client's own, a fresh address on every attempt.
        codes = []
        for i in range(12):
            payload = json.dumps({"email": f"xff-lines-{i}@example.com", "password": "Wrong0rd!x"}).encode()
            s = socket.create_connection(("127.0.0.1", d.port), 5)
            s.settimeout(5)
            s.sendall(b"POST /apis/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                      b"X-Forwarded-For: 198.51.100.%d\r\nX-Forwarded-For: 192.0.2.81\r\nContent-Length: %d\r\n\r\n"
                      % (100 + i, len(payload)) + payload)
            reply = s.recv(64)
            s.close()
            codes.append(int(reply[9:12]) if reply.startswith(b"HTTP/1.1 ") else 0)
        check(codes == [401] * 10 + [429, 429], f"strict tier: X-Forwarded-For over two lines counts the last ({codes})")

        # metrics
        st, _, _, raw = d.request("GET", "/metrics")
        text = raw.decode()
        check(st == 200 and 'zuperior_http_requests_total{route="/apis/auth/login",method="POST",status="4xx"}' in text
              and "zuperior_http_request_duration_seconds_bucket" in text and "zuperior_db_pool_size" in text
              and "process_resident_memory_bytes" in text, "/metrics has requests, latency, pool and process figures")
        check('zuperior_http_request_duration_seconds_count{route="/apis/auth/login",status="4xx"}' in text
              and 'zuperior_http_request_duration_seconds_count{route="/apis/auth/login",status="2xx"}' in text,
              "latency histogram per route and status class")
        errors_401 = [l for l in text.splitlines() if l.startswith('zuperior_http_errors_total{route="/apis/auth/login",code="401"} ')]
        check(errors_401 and float(errors_401[0].split()[-1]) >= 10, f"each error status counted per route ({errors_401})")

        # Redis lost: still serving, health degraded; back to healthy when it returns
        redis.terminate()
        redis.wait()
        st, body = wait_health(d, False)
        check(st == 503 and body["status"] == "degraded" and body["checks"]["redis"] == "unhealthy",
              f"Redis down: health 503 degraded ({st})")
        # Why, only for internal clients: the error text names hosts and addresses. A public
        # client (through the trusted proxy) gets the same status without it, and no /metrics.
        _, _, inside, _ = d.request("GET", "/apis/health")
        st_pub, _, outside, _ = d.request("GET", "/apis/health", headers=ip(77))
        check(inside["details"]["redis"].get("error") and st_pub == 503 and
              outside["checks"] == inside["checks"] and "error" not in outside["details"]["redis"],
              f"health: the error text for internal clients only ({inside['details']['redis']}, {outside['details']['redis']})")
        st_pub, _, _, _ = d.request("GET", "/metrics", headers=ip(77))
        st_in, _, _, _ = d.request("GET", "/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
        check(st_pub == 403 and st_in == 200, f"/metrics: 403 for a public client, 200 for an internal one ({st_pub}, {st_in})")
        # From 127.0.0.2 (internal, not a trusted proxy): its own requests are internal; with an
        # X-Forwarded-For it is a proxy nobody trusts, whose clients' addresses are unknown.
        st_direct, _, _, _ = d.request("GET", "/metrics", source="127.0.0.2")
        st_fwd, _, _, _ = d.request("GET", "/metrics", headers={"X-Forwarded-For": "10.1.2.3"}, source="127.0.0.2")
        st_garbage, _, _, _ = d.request("GET", "/metrics", headers={"X-Forwarded-For": "10.1.2.3:5678"})
        check(st_direct == 200 and st_fwd == 403 and st_garbage == 403,
              f"/metrics: a forwarded request is internal only through a trusted proxy, with a readable chain ({st_direct}, {st_fwd}, {st_garbage})")
        # The trusted proxy on 127.0.0.1 forwarding a client on its own host (a local agent): the
        # client's address is known, 127.0.0.1, and internal (it was refused as "unknown").
        st_self, _, _, _ = d.request("GET", "/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        check(st_self == 200, f"/metrics: a trusted proxy forwarding its own address is internal ({st_self})")
        # The bus check runs on its own schedule: it reports the subscriber down within an interval.
        deadline = time.time() + 6
        while time.time() < deadline and body.get("checks", {}).get("bus") != "unhealthy":
            time.sleep(0.2)
            st, _, body, _ = d.request("GET", "/apis/health")
        check(body.get("checks", {}).get("bus") == "unhealthy", f"Redis down: the pub/sub bus reported down ({body})")
        rc, _ = health_cli(d.port)
        check(rc == 1, f"zuperior health exit 1 when degraded (rc={rc})")
        t0 = time.time()
        rc, _ = health_cli(d.port, "--wait", "1500ms")
        took = time.time() - t0
        check(rc == 1 and 1.2 < took < 10, f"zuperior health --wait gives up after the wait, still degraded: exit 1 ({rc}, {took:.1f}s)")
        st, _, _, _ = d.request("GET", "/apis/time")
        check(st == 200, "Redis down: requests still served")
        st, _, _, _ = d.request("POST", "/apis/auth/login", body={"email": "alice@example.com", "password": pw}, headers=ip(90))
        check(st == 200, f"Redis down: login still works, limited locally ({st})")
        # ... and limited it is: the strict tier's 10 per address, counted by this instance alone.
        codes = [d.request("POST", "/apis/auth/login", body={"email": f"y{i}@example.com", "password": "Wrong0rd!x"},
                           headers=ip(91))[0] for i in range(11)]
        check(codes == [401] * 10 + [429], f"Redis down: the local limiter still refuses the 11th login ({codes})")
        local_limited = [l for l in d.request("GET", "/metrics")[3].decode().splitlines()
                         if l.startswith('zuperior_ratelimit_decisions_total{tier="strict",outcome="limited",source="local"}')]
        check(local_limited and float(local_limited[0].split()[-1]) >= 1,
              f"Redis down: the refusal is counted as the local limiter's in /metrics ({local_limited})")
        redis = start_redis()
        # `health --wait` is what a deploy step runs while a dependency comes back: it polls until healthy.
        t0 = time.time()
        rc, _ = health_cli(d.port, "--wait", "20s")
        check(rc == 0 and time.time() - t0 < 20, f"zuperior health --wait returns 0 once Redis is back ({rc}, {time.time() - t0:.1f}s)")
        st, body = wait_health(d, True, 15)
        check(st == 200, f"Redis back: healthy again ({st})")

        # Redis that answers but refuses writes (out of memory with noeviction; a read-only replica
        # gives the same kind of error): PING said healthy while every rate limit fell back to this
        # instance alone, and nothing was logged.
        def redis_cli(*args):
            return subprocess.run(["redis-cli", "-p", str(REDIS_PORT), *args], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        redis_cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
        redis_cli("CONFIG", "SET", "maxmemory", "1")
        codes = [d.request("GET", "/apis/accounts", headers={"Authorization": f"Bearer {token_a2}"})[0] for _ in range(3)]
        check(codes == [200] * 3, f"Redis refusing writes: requests still served, limited locally ({codes})")
        st, body = wait_health(d, False)
        check(st == 503 and "refuses writes: OOM" in body["details"]["redis"].get("error", ""),
              f"Redis refusing writes: health 503 says why ({st}, {body.get('details', {}).get('redis')})")
        with open(d.log_path) as f:
            warned = f.read().count("ratelimit: Redis refused the rate-limit counters (OOM")
        check(warned == 1, f"Redis refusing writes: said once in the log, not per request ({warned})")
        redis_cli("CONFIG", "SET", "maxmemory", "0")
        st, body = wait_health(d, True, 15)
        check(st == 200, f"Redis accepting writes again: healthy ({st})")

        # A read-only PostgreSQL (a standby after a failover, or default_transaction_read_only):
        # SELECT 1 said healthy, and every login and registration was a 500 "Internal server error".
        dbname = DB_URL.split("?")[0].rsplit("/", 1)[1]
        kick = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'zuperior'"
        psql(f"ALTER DATABASE {dbname} SET default_transaction_read_only = on")
        psql(kick)
        time.sleep(0.3)
        st, _, body, _ = d.request("POST", "/apis/auth/register", body={"email": "ro@example.com", "password": "Secret-pa-12!",
                                                                        "name": "Ro"}, headers=ip(93))
        st2, _, body2, _ = d.request("POST", "/apis/auth/login", body={"email": "alice@example.com", "password": pw},
                                     headers=ip(93))
        check(st == 503 and st2 == 503 and body["message"] == body2["message"] == "Database unavailable",
              f"read-only database: register and login 503, not 500 ({st} {body}, {st2} {body2})")
        deadline = time.time() + 10
        while True:
            st, _, body, _ = d.request("GET", "/apis/health")
            if "read-only" in body["details"]["database"].get("error", "") or time.time() > deadline:
                break
            time.sleep(0.2)
        check(st == 503 and "read-only" in body["details"]["database"].get("error", ""),
              f"read-only database: health 503 says why ({st}, {body.get('details', {}).get('database')})")
        # Reads still work, and leave read-only connections in the pool (one per pool thread that ran one).
        bob = {"Authorization": f"Bearer {token_a2}"}  # (Bob is suspended by now)
        ro_reads = [None] * 16
        def read_me(i):
            ro_reads[i] = d.request("GET", "/apis/auth/me", headers=bob)[0]
        readers = [threading.Thread(target=read_me, args=(i,)) for i in range(16)]
        for t in readers:
            t.start()
        for t in readers:
            t.join()
        check(ro_reads == [200] * 16, f"read-only database: reads still served ({ro_reads})")
        subprocess.run(["psql", DB_URL.split("?")[0], "-qtA", "-c", "SET default_transaction_read_only = off", "-c",
                        f"ALTER DATABASE {dbname} RESET default_transaction_read_only"], check=True, capture_output=True)
        # Writable again (a failover's end), the old connections not kicked: a write that meets a
        # read-only connection is run again on a new one, so no client sees the stale connections.
        writes = [d.request("POST", "/apis/auth/register", body={"email": f"after-ro-{i}@example.com", "password": pw},
                            headers={"X-Forwarded-For": f"198.51.100.{i + 1}"})[0] for i in range(20)]
        check(writes == [201] * 20, f"database writable again: no write fails on a stale read-only connection ({writes})")
        with open(d.log_path) as f:
            retried = f.read().count("a pooled connection is read-only; retrying on a new connection")
        check(1 <= retried <= 16, f"each stale read-only connection retried once and replaced ({retried} retries)")
        psql(kick)
        st, body = wait_health(d, True, 15)
        st2, _, _, _ = d.request("POST", "/apis/auth/login", body={"email": "alice@example.com", "password": pw},
                                 headers=ip(94))
        check(st == 200 and st2 == 200, f"database writable again: healthy, login 200 ({st}, {st2})")
        # The health check's own connection closed by the server (a restart, pg_terminate_backend)
        # is not the database's health: the check reconnects once instead of reporting it.
        psql(kick)
        time.sleep(2.5)  # one check interval
        st, _, body, _ = d.request("GET", "/apis/health")
        check(st == 200, f"health check's connection terminated: still healthy ({st}, {body['details']['database']})")

        # drain: a request half-sent when SIGTERM arrives still gets its answer, then exit 0
        s = socket.create_connection(("127.0.0.1", d.port), 5)
        payload = b'{"email":"alice@example.com","password":"Passw0rd!x"}'
        s.sendall(b"POST /apis/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Forwarded-For: 203.0.113.99\r\nContent-Length: "
                  + str(len(payload)).encode() + b"\r\n\r\n" + payload[:10])
        time.sleep(0.2)
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        st, _, _, _ = (None, None, None, None)
        try:
            c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=2)
            c.request("GET", "/readyz")
            st = c.getresponse().status
        except OSError:
            st = "refused"
        check(st in (503, "refused"), f"draining: readiness 503 or no new connections ({st})")
        s.sendall(payload[10:])
        s.settimeout(10)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        s.close()
        check(reply.startswith(b"HTTP/1.1 200") and b"Connection: close" in reply, f"in-flight request completed during drain ({reply[:15]!r})")
        rc = d.proc.wait(30)
        check(rc == 0, f"exit 0 after drain (rc={rc})")
        rc, out = health_cli(d.port)
        check(rc == 2 and "unreachable (connect: Connection refused)" in out,
              f"zuperior health exit 2 when unreachable, with a plain reason ({rc}, {out!r})")
        check("/usr/include" not in out and "[system:" not in out, f"no Boost source location in the reason ({out!r})")
        # --timeout bounds every step: a peer that never accepts (full backlog) and one that accepts
        # but never answers both give exit 2 within about the timeout, not the kernel's SYN retries.
        mute = socket.socket()
        mute.bind(("127.0.0.1", 0))
        mute.listen(1)
        full = socket.socket()
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        fillers = []
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(full.getsockname())
            except BlockingIOError:
                pass
            fillers.append(c)
        for sock, step in ((mute, "read"), (full, "connect")):
            t0 = time.time()
            rc, out = health_cli(sock.getsockname()[1], "--timeout", "1s")
            took = time.time() - t0
            check(rc == 2 and f"{step}: no answer within 1000 ms" in out and took < 5,
                  f"zuperior health --timeout 1s against a silent peer ({step}): exit 2 in {took:.1f}s ({rc}, {out!r})")
        for c in fillers + [mute, full]:
            c.close()
        # ...and the name lookup: getaddrinfo cannot be cancelled, and a dead resolver takes
        # resolv.conf's timeouts (it waited them out). A stand-in getaddrinfo that sleeps 30 s,
        # preloaded, plays the dead resolver.
        shim_c = os.path.join(WORK, "slow_gai.c")
        with open(shim_c, "w") as f:
            # Names under .invalid never answer; every other lookup (address literals too) is real.
            f.write("#define _GNU_SOURCE\n#include <dlfcn.h>\n#include <netdb.h>\n#include <string.h>\n"
                    "#include <unistd.h>\n"
                    "int getaddrinfo(const char *n, const char *s, const struct addrinfo *h, struct addrinfo **r) {\n"
                    "  if (n && strstr(n, \".invalid\")) { sleep(30); return EAI_AGAIN; }\n"
                    "  int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =\n"
                    "      dlsym(RTLD_NEXT, \"getaddrinfo\");\n"
                    # Names under .twoaddr.test have two addresses, the first with nothing listening.
                    "  if (n && strstr(n, \".twoaddr.test\")) {\n"
                    "    struct addrinfo *a = 0, *b = 0, *e;\n"
                    "    int rc = real(\"127.0.0.9\", s, h, &a);\n"
                    "    if (rc) return rc;\n"
                    "    if ((rc = real(\"127.0.0.1\", s, h, &b))) return rc;\n"
                    "    for (e = a; e->ai_next; e = e->ai_next) {}\n"
                    "    e->ai_next = b; *r = a; return 0;\n"
                    "  }\n"
                    "  return real(n, s, h, r);\n}\n")
        shim = os.path.join(WORK, "slow_gai.so")
        if subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, shim_c, "-ldl"]).returncode == 0:
            t0 = time.time()
            r = subprocess.run([BIN, "health", "--url", "http://dead-resolver.invalid:1", "--timeout", "1s",
                                "--env-file", "/dev/null", "--config", "/dev/null"], capture_output=True, text=True,
                               timeout=30, env={**os.environ, "LD_PRELOAD": shim})
            took = time.time() - t0
            check(r.returncode == 2 and "resolve: no answer within 1000 ms" in r.stdout and took < 5,
                  f"zuperior health --timeout 1s with a resolver that never answers: exit 2 in {took:.1f}s "
                  f"({r.returncode}, {r.stdout!r})")
            # The other clients' lookups are bounded too: ratelimit test by its --timeout (both
            # probes), loadtest by its 3 s preflight.
            for cmd, words in ((["ratelimit", "test", "--url", "http://dead-resolver.invalid:1", "--timeout", "1s"],
                                "no answer within 1000 ms"),
                               (["ratelimit", "test", "--url", "http://dead-resolver.invalid:1", "--timeout", "1s",
                                 "--tier", "websocket"], "no answer within 1000 ms"),
                               (["loadtest", "--url", "http://dead-resolver.invalid:1/x", "--rate", "10", "--duration",
                                 "1s"], "no answer within 3000 ms")):
                t0 = time.time()
                r = subprocess.run([BIN] + cmd, capture_output=True, text=True, timeout=60, cwd=WORK,
                                   env={**daemon_env(), "LD_PRELOAD": shim})
                took = time.time() - t0
                check(r.returncode == 2 and "cannot resolve" in r.stderr and words in r.stderr
                      and took < 8, f"zuperior {' '.join(cmd[:2])} with a resolver that never answers: exit 2 in "
                      f"{took:.1f}s ({r.returncode}, {r.stderr[-200:]!r})")
            # loadtest's tick publisher looked its Redis up on the event loop, unbounded: the run
            # ended on time and then waited out the lookup (30 s), without a word on why no tick went.
            scen = os.path.join(WORK, "dead_publisher.yaml")
            target = socket.socket()  # the daemon is gone: a listener that accepts and stays mute
            target.bind(("127.0.0.1", 0))
            target.listen(16)
            with open(scen, "w") as f:
                f.write(f"name: dead-publisher\ntarget: http://127.0.0.1:{target.getsockname()[1]}\n"
                        "socketio: {connections: 1, hold: 2s, connect_timeout: 1s}\n"
                        "publisher: {redis: 'redis://dead-resolver.invalid:6379/0', symbols: [EURUSD], rate: 10}\n")
            t0 = time.time()
            r = subprocess.run([BIN, "loadtest", "-s", scen], capture_output=True, text=True, timeout=60, cwd=WORK,
                               env={**daemon_env(), "LD_PRELOAD": shim})
            took = time.time() - t0
            target.close()
            out = r.stdout + r.stderr
            check("publisher: cannot resolve dead-resolver.invalid: no answer within 3000 ms" in out and took < 15
                  and "RUN FAILED: the tick publisher failed" in out and "GENERATOR LAGGED" not in out,
                  f"zuperior loadtest whose publisher's Redis never resolves: ends in {took:.1f}s and says why "
                  f"({r.returncode}, {out[-300:]!r})")
            # serve with DATABASE_URL and REDIS_URL naming hosts that never resolve: libpq's and
            # hiredis's own lookups ignore their connect timeouts, and a thread stuck in one held a
            # login for 30 s and a SIGTERM for 39-57 s (the pool's and the health checker's threads
            # are joined at stop). Now every lookup has the connect timeout, and the reason is said.
            nodns = Daemon("nodns", {"LD_PRELOAD": shim, "REDIS_URL": "redis://dead-redis.invalid:6379/0",
                                     "DATABASE_URL": "postgresql://x:y@dead-db.invalid:5432/none?connect_timeout=2",
                                     "ZUPERIOR_REDIS_CONNECT_TIMEOUT": "1s"})
            st, _, _, _ = nodns.request("GET", "/livez")
            check(st == 200, f"names that never resolve: /livez 200 ({st})")
            t0 = time.time()
            st, _, body, _ = nodns.request("POST", "/apis/auth/login",
                                           body={"email": "alice@example.com", "password": "whatever-12"}, headers=ip(92))
            took = time.time() - t0
            check(st == 503 and took < 5, f"database name never resolves: login 503 within the connect timeout "
                                          f"({st}, {took:.1f}s)")
            deadline = time.time() + 10
            body = {}
            while time.time() < deadline:
                st, _, body, _ = nodns.request("GET", "/apis/health")
                det = (body or {}).get("details", {})
                if all("cannot resolve" in det.get(k, {}).get("error", "") for k in ("database", "redis")):
                    break
                time.sleep(0.3)
            check(st == 503 and "cannot resolve dead-db.invalid: no answer within 2000 ms"
                  in body["details"]["database"].get("error", "")
                  and "cannot resolve dead-redis.invalid" in body["details"]["redis"].get("error", ""),
                  f"names that never resolve: health 503 says why ({st}, {body})")
            t0 = time.time()
            rc = nodns.stop()
            took = time.time() - t0
            check(rc == 0 and took < 5, f"names that never resolve: SIGTERM exits 0 in {took:.1f}s ({rc})")
            # A Redis name with two addresses, the first with nothing listening (a dual-stack name
            # for a server on one family): the connection tries the next one. It retried the first
            # forever while health, whose probe tries every address, said healthy.
            two = Daemon("twoaddr", {"LD_PRELOAD": shim, "REDIS_URL": f"redis://redis.twoaddr.test:{REDIS_PORT}/0"})
            up, deadline = [], time.time() + 10
            while time.time() < deadline and not up:
                metrics = two.request("GET", "/metrics")[3].decode()
                up = [l for l in metrics.splitlines() if l.startswith("zuperior_redis_connected{") and l.endswith(" 1")]
                time.sleep(0.2)
            check(up, "a Redis name whose first address refuses: the client connects to the next one")
            two.stop()
            t0 = time.time()
            os.makedirs(os.path.join(WORK, "no_migrations"), exist_ok=True)
            r = subprocess.run([BIN, "migrate", "status", "--dir", "no_migrations", "--env-file", "/dev/null",
                                "--config", "/dev/null"],
                               capture_output=True, text=True, timeout=60, cwd=WORK,
                               env={**daemon_env(), "LD_PRELOAD": shim,
                                    "DATABASE_URL": "postgresql://x:y@dead-db.invalid:5432/none?connect_timeout=2"})
            took = time.time() - t0
            check(r.returncode == 2 and "cannot resolve dead-db.invalid" in r.stderr and took < 5,
                  f"migrate status, database name never resolves: exit 2 in {took:.1f}s ({r.returncode}, "
                  f"{r.stderr[-200:]!r})")
        else:
            check(False, "cc could not build the getaddrinfo stand-in")
        t0 = time.time()
        rc, _ = health_cli(d.port, "--wait", "1s")
        check(rc == 2 and time.time() - t0 > 0.8, f"zuperior health --wait: exit 2 when still unreachable after the wait ({rc})")

        # Something that is not our daemon answers with the fields' types all wrong: `health` reports
        # what it got (by HTTP status) and never dies on the body.
        odd = json.dumps({"status": 5, "checks": {"database": ["x"], "redis": "healthy"},
                          "details": {"database": {"ageMs": "old", "latencyMs": None, "error": {"code": 7}}, "redis": 3},
                          "timestamp": 12}).encode()
        # A body nested 100,000 deep: the report's dump recursed until the stack overflowed (SIGSEGV).
        deep = b'{"status":' + b"[" * 100000 + b"]" * 100000 + b"}"
        for status, want, odd in ((200, 1, odd), (503, 1, odd), (200, 1, deep)):  # 200 needs status "healthy"
            impostor = socket.socket()
            impostor.bind(("127.0.0.1", 0))
            impostor.listen(4)

            def answer_once(ls=impostor, code=status, odd=odd):
                c, _ = ls.accept()
                c.recv(65536)
                c.sendall(f"HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {len(odd)}\r\n"
                          f"Connection: close\r\n\r\n".encode() + odd)
                c.close()

            for fmt in ("text", "json"):
                server = threading.Thread(target=answer_once, daemon=True)
                server.start()
                rc, out = health_cli(impostor.getsockname()[1], "--timeout", "2s", "--format", fmt)
                server.join(5)
                sane = "json.exception" not in out and (("database" in out or odd is deep) if fmt == "text"
                                                        else json.loads(out)["httpStatus"] == status)
                check(rc == want and sane, f"zuperior health --format {fmt}: a body of the wrong types ({len(odd)} bytes), "
                                           f"HTTP {status}: exit {want}, no crash ({rc}, {out[:300]!r})")
            impostor.close()

        # PostgreSQL unreachable: 503 quickly, liveness still 200
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
        dead.close()
        d2 = Daemon("nodb", {"DATABASE_URL": f"postgresql://x:y@127.0.0.1:{dead_port}/none?connect_timeout=2",
                             "ZUPERIOR_SERVER_HEADER_TIMEOUT": "1s", "ZUPERIOR_SERVER_REQUEST_TIMEOUT": "2s",
                             "ZUPERIOR_SERVER_IDLE_TIMEOUT": "1s", "ZUPERIOR_SERVER_MAX_CONNECTIONS": "5"})
        t0 = time.time()
        st, _, body, _ = d2.request("POST", "/apis/auth/login", body={"email": "alice@example.com", "password": pw}, headers=ip(91))
        took = time.time() - t0
        check(st == 503 and body["success"] is False and took < 5, f"PostgreSQL down: login 503 quickly ({st}, {took:.2f}s)")
        st, _, _, _ = d2.request("GET", "/livez")
        check(st == 200, "PostgreSQL down: /livez 200")
        # slowloris: a head still incomplete at server.header_timeout (1 s here) gets 408 and the close
        s = socket.create_connection(("127.0.0.1", d2.port), 5)
        s.settimeout(10)
        t0 = time.time()
        s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        reply = b""
        try:
            # a byte every 200 ms until the answer is there (stop sending then: no reset over it)
            while time.time() - t0 < 8 and not select.select([s], [], [], 0.2)[0]:
                s.sendall(b"a")
            reply = s.recv(4096)
        except OSError:
            pass
        s.close()
        took = time.time() - t0
        check(reply.startswith(b"HTTP/1.1 408") and took < 5, f"slow request head: 408 at the header timeout ({reply[:20]!r}, {took:.1f}s)")
        # a body still incomplete at server.request_timeout (2 s here) gets 408 too, not a bare close
        s = socket.create_connection(("127.0.0.1", d2.port), 5)
        s.settimeout(10)
        t0 = time.time()
        s.sendall(b"POST /apis/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"email\":")
        reply = b""
        try:
            while time.time() - t0 < 8 and not select.select([s], [], [], 0.2)[0]:
                s.sendall(b" ")
            reply = s.recv(4096)
        except OSError:
            pass
        s.close()
        took = time.time() - t0
        check(reply.startswith(b"HTTP/1.1 408") and 1.5 < took < 5,
              f"slow request body: 408 at the request timeout ({reply[:20]!r}, {took:.1f}s)")
        st, _, _, _ = d2.request("GET", "/livez")
        check(st == 200, "after the slow body: the daemon still serves")
        st, body = wait_health(d2, False)
        check(st == 503 and body["checks"]["database"] == "unhealthy", "PostgreSQL down: health degraded")
        # an idle keep-alive connection is closed at server.idle_timeout (1 s here)
        s = socket.create_connection(("127.0.0.1", d2.port), 5)
        s.settimeout(10)
        s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        first = s.recv(4096)
        t0 = time.time()
        rest = b""
        try:
            rest = s.recv(4096)
        except OSError:
            pass
        took = time.time() - t0
        s.close()
        check(first.startswith(b"HTTP/1.1 200") and rest == b"" and 0.8 < took < 4,
              f"idle keep-alive connection closed at the idle timeout ({took:.1f}s)")
        # the total connection cap (server.max_connections = 5 here): the sixth gets 503 and the close
        # The slow-client connections above may still be closing (a lingering close reads a little
        # first): wait until this probe's own connection is the only one open.
        deadline = time.time() + 10
        while time.time() < deadline:
            _, _, _, raw = d2.request("GET", "/metrics")
            if re.search(rb"\nzuperior_http_open_connections 1\n", raw):
                break
            time.sleep(0.1)
        time.sleep(0.3)  # ...and the probe's own connection has been closed on the server's side too

        def hold_five():
            conns = [socket.create_connection(("127.0.0.1", d2.port), 5) for _ in range(5)]
            got = []
            for h in conns:  # each one answered 200, so each is accepted and counted (idle well within 1 s)
                h.settimeout(5)
                h.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
                got.append(h.recv(4096)[:12])
            return conns, got
        held, answers = hold_five()
        if not all(a == b"HTTP/1.1 200" for a in answers):  # a straggler still counted: once more
            for h in held:
                h.close()
            time.sleep(0.5)
            held, answers = hold_five()
        check(all(a == b"HTTP/1.1 200" for a in answers), f"five connections under a cap of 5 are served ({answers})")
        s = socket.create_connection(("127.0.0.1", d2.port), 5)
        s.settimeout(5)
        reply = b""
        try:
            s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = s.recv(4096)
        except OSError:
            pass
        s.close()
        for h in held:
            h.close()
        check(reply.startswith(b"HTTP/1.1 503"), f"over server.max_connections: 503 ({reply[:20]!r})")
        time.sleep(0.3)
        st, _, _, _ = d2.request("GET", "/livez")
        check(st == 200, "after the held connections close, new ones are served again")
        check(d2.stop() == 0, "second daemon exits 0 on SIGTERM")
        out_of_descriptors()
        proxy_connection_cap()
        log_reader_gone()
        sighup_reload()

        # Secrets never reach the logs: the JWT secret, passwords, tokens (whole, or their
        # signature), in any daemon's log of this run, debug level included.
        secrets = {"JWT_SECRET": SECRET, "a password": pw, "a token": token_a,
                   "a token's signature": token_a.rsplit(".", 1)[-1]}
        logs = {}
        for name in os.listdir(WORK):
            if name.endswith(".log"):
                with open(os.path.join(WORK, name), errors="replace") as f:
                    logs[name] = f.read()
        check(sum(len(t) for t in logs.values()) > 10000 and "debug" in logs.get("main.log", ""),
              f"the logs were written, at debug level ({ {k: len(v) for k, v in logs.items()} })")
        leaks = [f"{what} in {name}" for name, text in logs.items() for what, value in secrets.items() if value in text]
        check(not leaks, f"no secret in any daemon log ({leaks})")
    finally:
        for dm in [d] + ([d2] if "d2" in dir() else []):
            if dm.proc.poll() is None:
                dm.proc.kill()
        redis.terminate()
    print(f"{checks - len(failures)}/{checks} checks passed")
    if failures:
        with open(d.log_path) as f:
            print("--- daemon log (tail) ---")
            print("".join(f.readlines()[-40:]))
        sys.exit(1)


if __name__ == "__main__":
    main()
