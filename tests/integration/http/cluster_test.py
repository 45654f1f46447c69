#!/usr/bin/env python3
"""Data access of `zuperior serve` across instances, started by run.sh after http_test.py:
(a) PostgreSQL refused or silent → the database routes answer 503 within a bound, never hang,
    /livez stays 200 and /apis/health reports degraded; PostgreSQL going away under a running
    daemon (every connection cut, then refused) and coming back → 503 while away, then served
    again and healthy without a restart, the outage logged one line per event;
(b) two daemons sharing one Redis: the strict tier's limit holds for the pair (exactly `limit`
    successes in total), with rate-limit headers on every answer;
(c) the GET /apis/accounts read-through cache: the second read is a hit (also from the other
    instance), an account update on the bus drops the stale answer, Redis down falls through to
    PostgreSQL.
Reuses http_test.py's helpers (Daemon, check, psql); its own redis-server on its own port."""
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import http_test as h

REDIS = ["redis-cli", "-h", "127.0.0.1", "-p", str(h.REDIS_PORT)]


def metric(d, name, labels):
    """The value of one sample of /metrics (0 when absent)."""
    _, _, _, raw = d.request("GET", "/metrics")
    want = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    for line in raw.decode().splitlines():
        if line.startswith(name + want + " "):
            return float(line.split()[-1])
    return 0.0


def cache_counts(d):
    return {r: metric(d, "zuperior_cache_requests_total", {"result": r}) for r in ("hit", "miss", "error")}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def timed(d, method, path, **kw):
    t0 = time.time()
    st, hd, body, _ = d.request(method, path, **kw)
    return st, hd, body, time.time() - t0


def silent_postgres():
    """A TCP listener that completes handshakes (backlog) but never answers: a hung database."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def database_down(token):
    # (a1) nothing listens: connection refused.
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    d = h.Daemon("refused", {"DATABASE_URL": f"postgresql://x:y@127.0.0.1:{dead_port}/none?connection_limit=4&pool_timeout=2&connect_timeout=2",
                             "ZUPERIOR_MARKET_ACCOUNTS_TTL": "0"})
    try:
        worst = 0.0
        for i in range(6):
            st, _, body, took = timed(d, "GET", "/apis/auth/me", headers=bearer(token))
            worst = max(worst, took)
            h.check(st == 503 and body == {"success": False, "message": "Database unavailable"},
                    f"PostgreSQL refused: /apis/auth/me #{i} 503 in the seed's error shape ({st} {body})")
        h.check(worst < 3, f"PostgreSQL refused: 503s come quickly (slowest {worst:.2f}s, bound 3s)")
        st, _, body, took = timed(d, "GET", "/apis/accounts", headers=bearer(token))
        h.check(st == 503 and took < 3, f"PostgreSQL refused: /apis/accounts 503 ({st}, {took:.2f}s)")
        st, _, body, took = timed(d, "POST", "/apis/auth/login", body={"email": "carol@example.com", "password": "Passw0rd!x"}, headers=h.ip(120))
        h.check(st == 503 and took < 3, f"PostgreSQL refused: login 503 ({st}, {took:.2f}s)")
        st, _, _, _ = d.request("GET", "/livez")
        h.check(st == 200, "PostgreSQL refused: /livez 200")
        st, body = h.wait_health(d, False)
        h.check(st == 503 and body["status"] == "degraded" and body["checks"]["database"] == "unhealthy"
                and body["checks"]["redis"] == "healthy", f"PostgreSQL refused: /apis/health 503 degraded, database unhealthy ({st})")
        errors = metric(d, "zuperior_db_errors_total", {"kind": "unavailable"})
        h.check(errors >= 1, f"PostgreSQL refused: counted in zuperior_db_errors_total{{kind=unavailable}} ({errors})")
        h.check(d.stop() == 0, "PostgreSQL refused: daemon still exits 0 on SIGTERM")
    finally:
        if d.proc.poll() is None:
            d.proc.kill()

    # (a2) a database that accepts the connection and never answers: bounded by connect_timeout and
    # pool_timeout, never a hang, even for more concurrent requests than the pool has connections.
    hung = silent_postgres()
    port = hung.getsockname()[1]
    d = h.Daemon("silent", {"DATABASE_URL": f"postgresql://x:y@127.0.0.1:{port}/none?connection_limit=2&pool_timeout=2&connect_timeout=2",
                            "ZUPERIOR_MARKET_ACCOUNTS_TTL": "0"})
    try:
        results = []

        def one():
            try:
                results.append(timed(d, "GET", "/apis/auth/me", headers=bearer(token), timeout=30)[::3])
            except OSError as e:
                results.append((str(e), 99))

        threads = [threading.Thread(target=one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        codes = sorted(st for st, _ in results)
        slowest = max((took for _, took in results), default=99)
        h.check(codes == [503] * 6, f"PostgreSQL silent: 6 concurrent requests on a pool of 2 all 503 ({codes})")
        h.check(slowest < 8, f"PostgreSQL silent: answered within connect_timeout + pool_timeout (slowest {slowest:.2f}s, bound 8s)")
        st, _, _, took = timed(d, "GET", "/livez")
        h.check(st == 200 and took < 1, f"PostgreSQL silent: /livez 200 at once ({took:.2f}s)")
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
        hung.close()


class PgProxy:
    """A TCP relay in front of the suite's PostgreSQL that can go away (every relayed connection
    cut, new ones refused) and come back on the same port: a database restart or failover as the
    daemon sees it, without disturbing the PostgreSQL other tests share."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.conns = []
        self.lock = threading.Lock()
        self.listener = None
        self.frozen = False  # relay nothing, close nothing: a network that drops packets silently
        self.up()

    def up(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def down(self):
        ls, self.listener = self.listener, None
        if ls is not None:  # already down (a failed check, then the cleanup)
            try:
                ls.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
            except OSError:
                pass
            ls.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, ls):
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if not self.frozen:
                    b.sendall(data)
        except OSError:
            pass
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def database_restart(token):
    pg_port = int(re.search(r"@[^:/]+:(\d+)/", h.DB_URL).group(1))
    proxy = PgProxy(pg_port)
    url = re.sub(r"@([^:/]+):\d+/", f"@\\1:{proxy.port}/", h.DB_URL, count=1)
    sep = "&" if "?" in url else "?"
    d = h.Daemon("restart", {"DATABASE_URL": f"{url}{sep}connection_limit=4&pool_timeout=2&connect_timeout=2",
                             "ZUPERIOR_MARKET_ACCOUNTS_TTL": "0"})
    try:
        st, _, _, _ = timed(d, "GET", "/apis/auth/me", headers=bearer(token))
        h.check(st == 200, f"PostgreSQL restart: served through the relay before ({st})")
        proxy.down()
        codes, worst = [], 0.0
        for _ in range(4):
            st, _, _, took = timed(d, "GET", "/apis/auth/me", headers=bearer(token))
            codes.append(st)
            worst = max(worst, took)
        h.check(codes == [503] * 4 and worst < 3, f"PostgreSQL restart: 503 while it is away, quickly ({codes}, slowest {worst:.2f}s)")
        st, body = h.wait_health(d, False)
        h.check(st == 503 and body["checks"]["database"] == "unhealthy", f"PostgreSQL restart: health degraded while away ({st})")
        # The first failed check may see the cut connection; the next ones see the refusal, which
        # libpq words over two lines.
        deadline, err = time.time() + 8, ""
        while time.time() < deadline and "refused" not in err:
            err = d.request("GET", "/apis/health")[2]["details"]["database"].get("error", "")
            time.sleep(0.2)
        h.check("refused" in err and "\n" not in err, f"PostgreSQL restart: the health error is the refusal, on one line ({err!r})")
        proxy.up()
        deadline, st = time.time() + 15, None
        while time.time() < deadline:
            st, _, _, _ = timed(d, "GET", "/apis/auth/me", headers=bearer(token))
            if st == 200:
                break
            time.sleep(0.2)
        h.check(st == 200, f"PostgreSQL restart: served again once it is back, same daemon ({st})")
        st, body = h.wait_health(d, True)
        h.check(st == 200, f"PostgreSQL restart: health back to healthy ({st})")
        h.check(d.stop() == 0, "PostgreSQL restart: daemon exits 0 on SIGTERM")
        with open(d.log_path) as f:
            log = f.read()
        stray = [line for line in log.splitlines() if line and not re.match(r"\d{4}-\d\d-\d\dT", line)]
        h.check(not stray, f"PostgreSQL restart: every log line is one timestamped line ({stray[:2]})")
        h.check("unavailable (the database is unavailable" not in log, "PostgreSQL restart: the refusal is not worded twice")
        h.check("connected again" in log, "PostgreSQL restart: the pool logs that it connected again")
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
        proxy.down()


def database_silent(token):
    """PostgreSQL's network drops packets silently (no reset) while a statement runs: the request
    gets 503 after pool_timeout + connect_timeout + statement_timeout + 2 s instead of waiting for ever (the
    pool thread stays in libpq until the connection fails)."""
    pg_port = int(re.search(r"@[^:/]+:(\d+)/", h.DB_URL).group(1))
    proxy = PgProxy(pg_port)
    url = re.sub(r"@([^:/]+):\d+/", f"@\\1:{proxy.port}/", h.DB_URL, count=1).split("?")[0]
    d = h.Daemon("silent-net", {"DATABASE_URL": f"{url}?connection_limit=1&pool_timeout=1&connect_timeout=1",
                                "ZUPERIOR_DATABASE_STATEMENT_TIMEOUT": "1s", "ZUPERIOR_MARKET_ACCOUNTS_TTL": "0"})
    try:
        st, _, _, _ = timed(d, "GET", "/apis/auth/me", headers=bearer(token))
        h.check(st == 200, f"silent network: served through the relay before ({st})")
        proxy.frozen = True
        try:
            st, _, body, took = timed(d, "GET", "/apis/auth/me", headers=bearer(token), timeout=20)
        except OSError as e:
            st, body, took = str(e), None, 20
        h.check(st == 503 and 4 <= took < 7, f"silent network: 503 after pool + connect + statement timeout + 2 s, not a hang "
                                             f"({st}, {took:.2f}s, {body})")
        # SIGTERM now: the drain is quick, then the teardown joins the pool thread still in libpq
        # (the relay answers the keepalives). A second signal exits at once; it was swallowed.
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(1.5)
        stuck = d.proc.poll() is None
        d.proc.send_signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = None
        h.check(stuck and rc == 1, f"silent network: a second SIGTERM during the teardown exits at once, status 1 "
                                   f"(stuck before it: {stuck}, exit {rc})")
    finally:
        proxy.down()  # the relayed connection closes: the pool thread gets out of libpq
        if d.proc.poll() is None:
            d.proc.kill()


def pool_exhausted(token):
    """A lock holds every pooled connection: requests beyond the pool wait pool_timeout, then 503;
    the statements stuck on the lock end at statement_timeout (503); afterwards the pool serves."""
    url = h.DB_URL.split("?")[0] + "?connection_limit=2&pool_timeout=1&connect_timeout=2"
    d = h.Daemon("exhausted", {"DATABASE_URL": url, "ZUPERIOR_DATABASE_STATEMENT_TIMEOUT": "2500ms",
                               "ZUPERIOR_MARKET_ACCOUNTS_TTL": "0"})
    locker = None
    try:
        st, _, _, _ = d.request("GET", "/apis/auth/me", headers=bearer(token))
        h.check(st == 200, f"pool: /apis/auth/me 200 before the lock ({st})")
        locker = subprocess.Popen(["psql", h.DB_URL.split("?")[0], "-qtA", "-c",
                                   'BEGIN; LOCK TABLE "User" IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(5); COMMIT;'],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        results = []

        def one():
            try:
                results.append(timed(d, "GET", "/apis/auth/me", headers=bearer(token), timeout=30)[::3])
            except OSError as e:
                results.append((str(e), 99))

        # Health, asked throughout: its own connection answers, but the requests are failing.
        healths, polling = [], [True]

        def poll_health():
            while polling[0]:
                try:
                    healths.append(d.request("GET", "/apis/health", timeout=5)[2])
                except OSError:
                    pass
                time.sleep(0.1)

        threads = [threading.Thread(target=one) for _ in range(6)]
        poller = threading.Thread(target=poll_health)
        poller.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        # The next check after the timeouts reports them (a check already under way, slow to
        # connect on a busy machine, reports first): two intervals and that check's deadline.
        def exhausted():
            return [b for b in list(healths) if b and b.get("checks", {}).get("database") == "unhealthy"
                    and "pool exhausted" in json.dumps(b)]
        deadline = time.time() + 8
        while not exhausted() and time.time() < deadline:
            time.sleep(0.2)
        polling[0] = False
        poller.join(10)
        exhausted = exhausted()
        h.check(exhausted, f"pool: /apis/health says the database is unhealthy while requests time out on the pool ({healths[-1:]})")
        codes = sorted(st for st, _ in results)
        slowest = max((took for _, took in results), default=99)
        h.check(codes == [503] * 6, f"pool: 6 requests on 2 locked connections all 503 ({codes})")
        h.check(slowest < 6, f"pool: bounded by pool_timeout / statement_timeout (slowest {slowest:.2f}s, bound 6s)")
        timeouts = metric(d, "zuperior_db_errors_total", {"kind": "pool_timeout"})
        stmt = metric(d, "zuperior_db_errors_total", {"kind": "statement_timeout"})
        h.check(timeouts >= 1 and stmt >= 1, f"pool: pool_timeout ({timeouts}) and statement_timeout ({stmt}) counted")
        locker.wait(20)
        st, _, _, _ = d.request("GET", "/apis/auth/me", headers=bearer(token))
        h.check(st == 200, f"pool: serving again once the lock is gone ({st})")
        _, _, _, raw = d.request("GET", "/metrics")
        text = raw.decode()
        want = ["zuperior_db_pool_size 2", 'zuperior_db_pool_connections{state="in_use"}', "zuperior_db_pool_waiting ",
                "zuperior_db_pool_wait_seconds_count", "zuperior_db_query_duration_seconds_count"]
        missing = [w for w in want if w not in text]
        h.check(not missing, f"pool figures on /metrics: size, in use, waiting, wait and query time (missing {missing})")
    finally:
        if locker and locker.poll() is None:
            locker.kill()
        if d.proc.poll() is None:
            d.proc.kill()


def shared_limits():
    a = h.Daemon("limits-a")
    b = h.Daemon("limits-b")
    try:
        codes, headers = [], []
        for i in range(24):
            d = a if i % 2 == 0 else b
            st, hd, body, _ = d.request("POST", "/apis/auth/login", body={"email": f"pair{i}@example.com", "password": "Wrong0rd!x"}, headers=h.ip(77))
            codes.append(st)
            headers.append(hd)
        allowed = sum(1 for c in codes if c != 429)
        h.check(allowed == 10 and all(c in (401, 429) for c in codes),
                f"two instances, one Redis: exactly 10 strict-tier successes in total ({allowed}: {codes})")
        h.check(codes[:10] == [401] * 10, f"the first 10 across both instances were allowed ({codes[:10]})")
        h.check(all(hd.get("x-ratelimit-limit") == "10" and "x-ratelimit-remaining" in hd and "x-ratelimit-reset" in hd
                    and "ratelimit-policy" in hd for hd in headers), "X-RateLimit-* and RateLimit-Policy on every answer of both instances")
        remaining = [int(hd["x-ratelimit-remaining"]) for hd in headers[:10]]
        h.check(remaining == list(range(9, -1, -1)), f"remaining counts down across instances ({remaining})")
        h.check(all(int(hd.get("retry-after", "0")) >= 1 for hd, c in zip(headers, codes) if c == 429), "429s carry Retry-After")
        on_a = metric(a, "zuperior_ratelimit_decisions_total", {"tier": "strict", "outcome": "limited", "source": "redis"})
        on_b = metric(b, "zuperior_ratelimit_decisions_total", {"tier": "strict", "outcome": "limited", "source": "redis"})
        h.check(on_a >= 1 and on_b >= 1 and on_a + on_b == 14, f"both instances limited through Redis ({on_a} + {on_b})")
    finally:
        for d in (a, b):
            if d.proc.poll() is None:
                d.proc.kill()


def me_until(d, token, want, seconds):
    """GET /apis/auth/me with `token` until it answers `want` or `seconds` pass; the last status."""
    deadline = time.time() + seconds
    while True:
        st = d.request("GET", "/apis/auth/me", headers=bearer(token))[0]
        if st == want or time.time() > deadline:
            return st
        time.sleep(0.1)


def logout_everywhere():
    """A logout on one instance revokes the token on all of them, also on one started later and on
    one whose pub/sub link missed the announcement."""
    a = h.Daemon("revoke-a")
    b = h.Daemon("revoke-b")
    c = None
    try:
        pw = "Passw0rd!x"
        st, _, reg, _ = a.request("POST", "/apis/auth/register", body={"email": "erin@example.com", "password": pw}, headers=h.ip(140))
        h.check(st == 201, f"revoke: user registered ({st})")
        t1, uid = reg["token"], reg["user"]["id"]
        st, _, body, _ = b.request("POST", "/apis/auth/login", body={"email": "erin@example.com", "password": pw}, headers=h.ip(141))
        t2 = body["token"] if st == 200 else ""
        h.check(st == 200 and b.request("GET", "/apis/auth/me", headers=bearer(t1))[0] == 200, "revoke: both tokens work on both instances")
        st, _, _, _ = a.request("POST", "/apis/auth/logout", headers=bearer(t1))
        on_a = a.request("GET", "/apis/auth/me", headers=bearer(t1))[0]
        on_b = me_until(b, t1, 401, 3)
        h.check(st == 200 and on_a == 401 and on_b == 401, f"revoke: logged out on A, refused by A and B ({st}, {on_a}, {on_b})")
        h.check(b.request("GET", "/apis/auth/me", headers=bearer(t2))[0] == 200, "revoke: the user's other token still works on B")
        c = h.Daemon("revoke-c")
        h.check(c.request("GET", "/apis/auth/me", headers=bearer(t1))[0] == 401
                and c.request("GET", "/apis/auth/me", headers=bearer(t2))[0] == 200,
                "revoke: an instance started after the logout refuses the token (read from Redis at start)")

        # A revocation whose announcement B missed (its pub/sub link was down): in the set only. B
        # holds revocations in memory (no Redis round trip per request), so it learns of this one
        # when its link comes back and it reads the set again.
        now = int(time.time())
        t3 = h.jwt({"sub": uid, "iat": now, "exp": now + 600, "jti": "missed-while-away"})
        h.check(b.request("GET", "/apis/auth/me", headers=bearer(t3))[0] == 200, "revoke: a forged-jti token (well signed) works")
        subprocess.run(REDIS + ["ZADD", "revoked-tokens", str(now + 630), "missed-while-away"], check=True, capture_output=True)
        subprocess.run(REDIS + ["CLIENT", "KILL", "TYPE", "pubsub"], check=True, capture_output=True)
        st3 = me_until(b, t3, 401, 5)
        h.check(st3 == 401, f"revoke: after its pub/sub link reconnects, B reads the set again and refuses it ({st3})")
    finally:
        for d in (a, b, c):
            if d and d.proc.poll() is None:
                d.proc.kill()


def accounts_cache(redis):
    # statement_timeout 2 s: a dropped answer is fenced (not re-stored) for 2 s + 2 s.
    env = {"ZUPERIOR_DATABASE_STATEMENT_TIMEOUT": "2s"}
    a = h.Daemon("cache-a", env)
    b = h.Daemon("cache-b", env)
    try:
        pw = "Passw0rd!x"
        st, _, reg, _ = a.request("POST", "/apis/auth/register", body={"email": "carol@example.com", "password": pw}, headers=h.ip(130))
        h.check(st == 201, f"cache: user registered ({st})")
        token, uid = reg["token"], reg["user"]["id"]
        h.psql(f"INSERT INTO \"MT5Account\" (\"id\",\"accountId\",\"userId\",\"balance\",\"equity\") VALUES "
               f"('c1','3001','{uid}',500,510),('c2','3002','{uid}',20,20)")
        before = cache_counts(a)
        st, _, first, _ = a.request("GET", "/apis/accounts", headers=bearer(token))
        mid = cache_counts(a)
        st2, _, second, _ = a.request("GET", "/apis/accounts", headers=bearer(token))
        after = cache_counts(a)
        h.check(st == 200 and [x["accountId"] for x in first["accounts"]] == ["3001", "3002"] and first["accounts"][0]["balance"] == 500,
                f"cache: first read from PostgreSQL ({st} {first})")
        h.check(mid["miss"] == before["miss"] + 1 and mid["hit"] == before["hit"], f"cache: first read is a miss ({before} → {mid})")
        h.check(st2 == 200 and second == first and after["hit"] == mid["hit"] + 1, f"cache: second read is a hit with the same answer ({mid} → {after})")
        ttl = int(subprocess.run(REDIS + ["TTL", f"accounts:{uid}"], capture_output=True, text=True).stdout.strip() or -2)
        h.check(0 < ttl <= 60, f"cache: accounts:<userId> stored with the configured TTL ({ttl}s)")
        b_before = cache_counts(b)
        st, _, from_b, _ = b.request("GET", "/apis/accounts", headers=bearer(token))
        h.check(st == 200 and from_b == first and cache_counts(b)["hit"] == b_before["hit"] + 1, "cache: the other instance hits the shared entry")

        # A change made by the MT5 bridge: database first, then the account update on the bus.
        h.psql("UPDATE \"MT5Account\" SET \"balance\"=750.25 WHERE \"accountId\"='3001'")
        st, _, stale, _ = a.request("GET", "/apis/accounts", headers=bearer(token))
        h.check(stale["accounts"][0]["balance"] == 500, "cache: without an update message the cached answer is served (it really is a cache)")
        subprocess.run(REDIS + ["PUBLISH", "zuperior:account", json.dumps({"accountId": "3001", "balance": 750.25})], check=True, capture_output=True)
        fresh = None
        for _ in range(50):
            _, _, got_a, _ = a.request("GET", "/apis/accounts", headers=bearer(token))
            _, _, got_b, _ = b.request("GET", "/apis/accounts", headers=bearer(token))
            if got_a["accounts"][0]["balance"] == 750.25 and got_b["accounts"][0]["balance"] == 750.25:
                fresh = got_a
                break
            time.sleep(0.1)
        h.check(fresh is not None and [x["accountId"] for x in fresh["accounts"]] == ["3001", "3002"],
                "cache: after the account update both instances answer the new balance")
        fence = int(subprocess.run(REDIS + ["TTL", f"accounts-fence:{uid}"], capture_output=True, text=True).stdout.strip() or -2)
        h.check(0 < fence <= 4, f"cache: the dropped answer is fenced for statement_timeout + 2 s ({fence}s)")
        mid = cache_counts(a)
        a.request("GET", "/apis/accounts", headers=bearer(token))
        a.request("GET", "/apis/accounts", headers=bearer(token))
        after = cache_counts(a)
        h.check(after["hit"] == mid["hit"] and after["miss"] == mid["miss"] + 2, f"cache: nothing stored while fenced ({mid} → {after})")
        time.sleep(4.2)
        a.request("GET", "/apis/accounts", headers=bearer(token))
        mid = cache_counts(a)
        _, _, again, _ = a.request("GET", "/apis/accounts", headers=bearer(token))
        h.check(cache_counts(a)["hit"] == mid["hit"] + 1 and again["accounts"][0]["balance"] == 750.25,
                "cache: cached again once the fence is gone, with the new balance")
        other = h.psql(f"SELECT count(*) FROM \"MT5Account\" WHERE \"userId\"='{uid}'")
        h.check(other == "2", "cache: data in PostgreSQL unchanged by reads")

        def redis_cli(*args):
            return subprocess.run(REDIS + list(args), capture_output=True, text=True).stdout.strip()

        def wait_for(cond, seconds=5):
            deadline = time.time() + seconds
            while time.time() < deadline:
                if cond():
                    return True
                time.sleep(0.05)
            return False

        # An update of an account no cached answer lists (the answer expired, and its owner index
        # with it) still fences the account: a read of the old rows under way when the update came
        # cannot store them afterwards. It set no fence at all.
        redis_cli("DEL", f"accounts:{uid}", "account-owner:3001", "account-owner:3002")
        redis_cli("PUBLISH", "zuperior:account", json.dumps({"accountId": "3002", "balance": 21}))
        fenced = wait_for(lambda: redis_cli("EXISTS", "account-fence:3002") == "1")
        ttl = int(redis_cli("TTL", "account-fence:3002") or -2)
        mid = cache_counts(a)
        a.request("GET", "/apis/accounts", headers=bearer(token))
        a.request("GET", "/apis/accounts", headers=bearer(token))
        after = cache_counts(a)
        h.check(fenced and 0 < ttl <= 4 and after["hit"] == mid["hit"] and after["miss"] == mid["miss"] + 2,
                f"cache: an update of an account no answer lists fences it; nothing listing it is stored ({ttl}s, {mid} → {after})")
        time.sleep(4.2)
        # An update naming its owner (userId) drops the owner's answer even when no answer listed
        # the account: a new account shows at once, not at the end of the TTL.
        a.request("GET", "/apis/accounts", headers=bearer(token))
        h.check(redis_cli("EXISTS", f"accounts:{uid}") == "1", "cache: cached again after the account's fence")
        h.psql(f"INSERT INTO \"MT5Account\" (\"id\",\"accountId\",\"userId\",\"balance\") VALUES ('c3','3003','{uid}',5)")
        redis_cli("PUBLISH", "zuperior:account", json.dumps({"accountId": "3003", "userId": uid, "balance": 5}))
        dropped = wait_for(lambda: redis_cli("EXISTS", f"accounts:{uid}") == "0")
        _, _, listed, _ = a.request("GET", "/apis/accounts", headers=bearer(token))
        h.check(dropped and [x["accountId"] for x in listed["accounts"]] == ["3001", "3002", "3003"],
                f"cache: an update naming its userId drops that user's answer: a new account shows at once ({listed})")
        # Updates published while the instances' pub/sub links are down are lost: when a link is
        # back, every cached answer goes (the answer stayed, stale, until its TTL).
        time.sleep(4.2)
        a.request("GET", "/apis/accounts", headers=bearer(token))
        cached = wait_for(lambda: redis_cli("EXISTS", f"accounts:{uid}") == "1")
        h.psql("UPDATE \"MT5Account\" SET \"balance\"=777 WHERE \"accountId\"='3001'")  # its update is "lost"
        redis_cli("CLIENT", "KILL", "TYPE", "pubsub")
        gone = wait_for(lambda: redis_cli("EXISTS", f"accounts:{uid}") == "0")
        _, _, now, _ = a.request("GET", "/apis/accounts", headers=bearer(token))
        h.check(cached and gone and now["accounts"][0]["balance"] == 777,
                f"cache: the cached answers go when the update channel resubscribes ({cached}, {gone}, {now['accounts'][0]['balance']})")

        # Redis down: the read falls through to PostgreSQL, quickly.
        redis.terminate()
        redis.wait()
        h.psql("UPDATE \"MT5Account\" SET \"balance\"=800 WHERE \"accountId\"='3001'")
        st, _, body, took = timed(a, "GET", "/apis/accounts", headers=bearer(token))
        h.check(st == 200 and body["accounts"][0]["balance"] == 800 and took < 3,
                f"cache: Redis down → accounts answered from PostgreSQL ({st}, {took:.2f}s)")
        errs = cache_counts(a)["error"]
        h.check(errs >= 1, f"cache: Redis failures counted as cache errors ({errs})")
    finally:
        for d in (a, b):
            if d.proc.poll() is None:
                d.proc.kill()


def main():
    redis = h.start_redis()
    try:
        a = h.Daemon("token")
        st, _, body, _ = a.request("POST", "/apis/auth/register", body={"email": "dora@example.com", "password": "Passw0rd!x"}, headers=h.ip(110))
        h.check(st == 201, f"token user registered ({st})")
        token = body["token"]
        a.stop()
        database_down(token)
        database_restart(token)
        pool_exhausted(token)
        database_silent(token)
        shared_limits()
        logout_everywhere()
        accounts_cache(redis)
    finally:
        if redis.poll() is None:
            redis.terminate()
    print(f"{h.checks - len(h.failures)}/{h.checks} checks passed")
    if h.failures:
        for name in ("refused", "silent", "restart", "exhausted", "limits-a", "limits-b", "revoke-a", "revoke-b", "revoke-c",
                     "cache-a", "cache-b"):
            try:
                with open(f"{h.WORK}/{name}.log") as f:
                    print(f"--- {name} log (tail) ---")
                    print("".join(f.readlines()[-15:]))
            except OSError:
                pass
        sys.exit(1)


if __name__ == "__main__":
    main()
