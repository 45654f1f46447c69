"""A hostile or broken target for `zuperior loadtest`: answers HTTP and Engine.IO/Socket.IO wrongly.

Binds a free loopback port, prints it on one line, then serves every connection in MODE until
SECONDS (default 30) have passed.
    python3 impostor_server.py MODE [SECONDS] >port.txt &

HTTP modes (every request gets the same bad answer):
  garbage        bytes that are not HTTP
  status0        "HTTP/1.1 000 Zero": a status line with an impossible code
  interim        "100 Continue" and nothing else (the connection stays open)
  interim_ok     "103 Early Hints" then a real 200
  huge_header    a 200 whose head is 20 MB
  huge_body      a 200 with a 40 MB body
  short_body     Content-Length: 100, 3 bytes, close
  bad_chunk      chunked encoding with a chunk size that is not hex
  http10         HTTP/1.0 without a length, the body ends at close
  trickle        a valid 200 sent one byte every 0.5 s
  double         two 200s for every request
  reset          accept, then reset the connection (RST)
Login modes (POST /apis/auth/login; other paths answer 200 {}):
  login_null, login_number, login_object, login_crlf, login_deep   the token is null, 42, {...},
                 a string with CR LF in it, or 100,000 nested arrays
Socket.IO long-polling modes (every GET on /socket.io/ answers the same open packet):
  sio_poll_bad_sid   a sid with spaces and CR LF (it goes into the polling URLs)
  sio_poll_bad_open  an open packet that is not JSON
Socket.IO modes (WebSocket on /socket.io/; plain HTTP paths answer 200 {}):
  sio_refused    the upgrade is answered 400
  sio_bad_open   the Engine.IO open packet is not JSON
  sio_bad_types  the open packet's fields have the wrong types (sid a number, pingInterval a string)
  sio_huge_len   0.3 s after the CONNECT answer, a frame header announcing 2^64-1 bytes
  sio_big_len    0.3 s after the CONNECT answer, a frame header announcing 1 GiB, then silence
  sio_together   101 + open packet in one write, then the CONNECT answer and three events in one
                 write (a correct server may coalesce them; every event must be counted)
  sio_close      a close frame 0.3 s after the CONNECT answer
  sio_junk       0.3 s after the CONNECT answer, three text frames that are not Engine.IO packets
  sio_forged     0.3 s after the CONNECT answer, three market:update ticks with a ts in the future,
                 a ts of 1e300 and a seq of -1: ticks nobody published
  sio_fragmented 0.3 s after the CONNECT answer, three events each split into a text frame and two
                 continuation frames, with a ping between fragments (RFC 6455 allows both)
  sio_masked     0.3 s after the CONNECT answer, one event in a masked frame (a client must fail
                 the connection on one, RFC 6455 5.1)
  sio_big        0.3 s after the CONNECT answer, a 2 MB "snapshot" event in two fragments, then a
                 small event: a client must not keep 4 MB of buffers for the rest of its life
  sio_names      0.3 s after the CONNECT answer, an event whose name holds an escape sequence, then
                 200 events with distinct names
"""
import base64
import hashlib
import json
import socket
import struct
import sys
import threading
import time

mode = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0


def read_head(conn, buf=b""):
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None, b""
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def read_request(conn, buf):
    head, rest = read_head(conn, buf)
    if head is None:
        return None, None, b""
    length = 0
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    while len(rest) < length:
        data = conn.recv(65536)
        if not data:
            break
        rest += data
    return head, rest[:length], rest[length:]


def ok(body=b"{}", extra=""):
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s" % (
        extra.encode(), len(body), body)


def frame(payload, opcode=1, fin=True):
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes([b0, n]) + payload
    if n < 65536:
        return bytes([b0, 126]) + struct.pack(">H", n) + payload
    return bytes([b0, 127]) + struct.pack(">Q", n) + payload


def fragments(payload, parts=3):
    """One text message as a text frame and continuation frames (FIN only on the last), a ping between."""
    payload = payload.encode()
    step = -(-len(payload) // parts)
    chunks = [payload[i:i + step] for i in range(0, len(payload), step)]
    out = b""
    for i, c in enumerate(chunks):
        out += frame(c, opcode=1 if i == 0 else 0, fin=i == len(chunks) - 1)
        if i == 0:
            out += frame(b"p", opcode=9)
    return out


def read_frame(conn, buf):
    def need(k):
        nonlocal buf
        while len(buf) < k:
            data = conn.recv(65536)
            if not data:
                raise EOFError
            buf += data
    need(2)
    n = buf[1] & 0x7F
    pos = 2
    if n == 126:
        need(4)
        n = struct.unpack(">H", buf[2:4])[0]
        pos = 4
    elif n == 127:
        need(10)
        n = struct.unpack(">Q", buf[2:10])[0]
        pos = 10
    need(pos + 4 + n)
    key = buf[pos:pos + 4]
    data = bytes(b ^ key[i % 4] for i, b in enumerate(buf[pos + 4:pos + 4 + n]))
    return data.decode("utf-8", "replace"), buf[pos + 4 + n:]


OPEN = '0{"sid":"impostor","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'


def websocket(conn, head, rest):
    if mode == "sio_refused":
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    key = ""
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "sec-websocket-key":
            key = v.strip()
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    upgrade = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
              b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    opening = {"sio_bad_open": "0{not json", "sio_bad_types": '0{"sid":5,"pingInterval":"soon","pingTimeout":null}'}
    conn.sendall(upgrade + frame(opening.get(mode, OPEN)))
    buf = rest
    packet, buf = read_frame(conn, buf)  # the client's CONNECT (40…)
    answer = frame('40{"sid":"impostor-sio"}')
    attack = {
        "sio_huge_len": bytes([0x81, 127]) + b"\xff" * 8 + b'42["' + b"x" * 64,
        "sio_big_len": bytes([0x81, 127]) + struct.pack(">Q", 1 << 30) + b"x" * 64,
        "sio_close": frame(struct.pack(">H", 1000), opcode=8),
        "sio_junk": frame("hello") + frame("4x") + frame(""),
        "sio_forged": frame('42["market:update",{"symbol":"EURUSD","ts":9000000000000000000,"seq":1}]') +
        frame('42["market:update",{"symbol":"EURUSD","ts":1e300,"seq":2}]') +
        frame('42["market:update",{"symbol":"EURUSD","ts":%d,"seq":-1}]' % int(time.time() * 1e6)),
    }
    masked_payload = b'42["market:update",{"n":1}]'
    attack["sio_fragmented"] = b"".join(fragments('42["market:update",{"n":%d}]' % i) for i in range(3))
    attack["sio_masked"] = bytes([0x81, 0x80 | len(masked_payload)]) + b"\0\0\0\0" + masked_payload
    attack["sio_big"] = fragments('42["snapshot","%s"]' % ("x" * (2 << 20)), parts=2) + frame('42["market:update",{}]')
    attack["sio_names"] = frame('42["\x1b[2J",{}]') + b"".join(frame('42["e%d",{}]' % i) for i in range(200))
    if mode == "sio_together":
        events = b"".join(frame('42["market:update",{"n":%d}]' % i) for i in range(3))
        conn.sendall(answer + events)
    else:
        conn.sendall(answer)
    if mode in attack:  # once the client is past the CONNECT answer and has its acks
        threading.Timer(0.3, conn.sendall, [attack[mode]]).start()
    # Answer the emits' acks, ignore the rest.
    try:
        while True:
            packet, buf = read_frame(conn, buf)
            if packet.startswith("42") and packet[2:3].isdigit():
                ack_id = packet[2:].split("[", 1)[0]
                conn.sendall(frame("43%s[{\"ok\":true}]" % ack_id))
    except (EOFError, OSError):
        pass


LOGIN = {
    "login_null": b'{"token":null}',
    "login_number": b'{"token":42}',
    "login_object": b'{"token":{"jwt":"abc"}}',
    "login_crlf": b'{"token":"abc\\r\\nX-Injected: 1"}',
    "login_deep": b'{"token":' + b"[" * 100000 + b"]" * 100000 + b"}",
}


def http_answer(conn, head):
    path = head.split(" ")[1] if " " in head else "/"
    if mode.startswith("login_"):
        return ok(LOGIN[mode]) if path.startswith("/apis/auth/login") else ok()
    if mode.startswith("sio_poll_") and path.startswith("/socket.io/"):
        # The long-polling handshake's open packet: a sid that would break the request line, or not JSON.
        opening = {"sio_poll_bad_sid": '0{"sid":"a b HTTP/1.1\\r\\nX-Injected: 1","pingInterval":25000,"pingTimeout":20000}',
                   "sio_poll_bad_open": "0{not json"}
        return ok(opening[mode].encode())
    if mode.startswith("sio_"):
        return ok()
    if mode == "garbage":
        return b"\x00\xff\xfeSSH-2.0-garbage\r\n\x01\x02\x03"
    if mode == "status0":
        return b"HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok"
    if mode == "interim":
        return b"HTTP/1.1 100 Continue\r\n\r\n"
    if mode == "interim_ok":
        return b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + ok()
    if mode == "huge_header":
        return b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (20 << 20) + b"\r\nContent-Length: 2\r\n\r\nok"
    if mode == "huge_body":
        return ok(b"b" * (40 << 20))
    if mode == "short_body":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"
    if mode == "bad_chunk":
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
    if mode == "trickle":
        return ok()
    if mode == "double":
        return ok() + ok(b'{"again":true}')
    if mode == "http10":
        return b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nno length here"
    raise SystemExit("unknown mode " + mode)


def serve(conn):
    try:
        if mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        buf = b""
        while True:
            head, _, buf = read_request(conn, buf)
            if head is None:
                return
            if "upgrade: websocket" in head.lower():
                return websocket(conn, head, buf)
            answer = http_answer(conn, head)
            if mode == "trickle":
                for b in answer:
                    conn.sendall(bytes([b]))
                    time.sleep(0.5)
                continue
            conn.sendall(answer)
            if mode in ("short_body", "http10", "garbage", "bad_chunk"):
                return
            if mode == "interim":
                time.sleep(seconds)
                return
    except (OSError, EOFError, ValueError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(128)
print(listener.getsockname()[1], flush=True)
listener.settimeout(0.2)
end = time.time() + seconds
while time.time() < end:
    try:
        c, _ = listener.accept()
    except OSError:
        continue
    c.settimeout(None)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
