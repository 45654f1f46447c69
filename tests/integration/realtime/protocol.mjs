// Engine.IO v4 / Socket.IO v5 conformance of `zuperior serve --protocol-test-mode`: the behaviour
// the public protocol test suites expect of a server under test (handshakes, errors, heartbeats,
// close, upgrade, payload encoding, namespaces, events, acks, binary attachments, malformed
// packets), checked with raw HTTP and WebSocket frames rather than a client library. One line per
// check; exit 1 if any failed.
import net from "node:net";
import WebSocket from "ws";

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const base = process.env.ZUPERIOR_TEST_PROTO_URL;
const wsBase = base.replace("http", "ws");
const EIO = `${base}/socket.io/?EIO=4&transport=polling`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let failures = 0;
const check = (name, ok, detail = "") => {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok || !detail ? "" : `: ${detail}`}`);
  if (!ok) failures++;
};

// A WebSocket whose messages queue up, so none is missed between awaits.
function ws(path) {
  const s = new WebSocket(`${wsBase}${path}`);
  s.binaryType = "nodebuffer";
  s.queue = [];
  s.waiters = [];
  s.closed = new Promise((r) => s.once("close", () => r(true)));
  s.on("error", () => {});
  s.on("message", (data, isBinary) => {
    const m = isBinary ? Buffer.from(data) : data.toString();
    if (m === "2" && s.autoPong) return s.send("3");
    const w = s.waiters.shift();
    if (w) w(m);
    else s.queue.push(m);
  });
  return s;
}
function next(s, ms = 2000) {
  if (s.queue.length) return Promise.resolve(s.queue.shift());
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    s.waiters.push((m) => {
      clearTimeout(t);
      resolve(m);
    });
  });
}
const closedWithin = (s, ms = 2000) => Promise.race([s.closed, sleep(ms).then(() => false)]);

async function pollingSession(path = "/socket.io/") {
  const r = await fetch(`${base}${path}?EIO=4&transport=polling`);
  const text = await r.text();
  return JSON.parse(text.substring(1)).sid;
}
// A polling session with a poll pending, then the probe WebSocket: sends 2probe, reads the answer
// and what the pending poll got. The caller sends "5" (or not).
async function probedUpgrade(path) {
  const sid = await pollingSession(path);
  const pending = fetch(`${base}${path}?EIO=4&transport=polling&sid=${sid}`).then((r) => r.text());
  const s = ws(`${path}?EIO=4&transport=websocket&sid=${sid}`);
  s.autoPong = true;
  await new Promise((r) => s.once("open", r));
  s.send("2probe");
  const probe = await next(s);
  const released = await Promise.race([pending, sleep(2000).then(() => "(still pending)")]);
  return { sid, s, probe, released };
}
async function sioSocket(nspPayload = "40") {
  const s = ws("/socket.io/?EIO=4&transport=websocket");
  s.autoPong = true;
  await next(s);  // Engine.IO open
  s.send(nspPayload);
  await next(s);  // CONNECT reply
  await next(s);  // "auth" event
  return s;
}

async function engineIO() {
  // --- handshake, polling
  {
    const r = await fetch(EIO);
    const text = await r.text();
    let v = {};
    try { v = JSON.parse(text.substring(1)); } catch { /* checked below */ }
    check("polling handshake: 200 and an open packet", r.status === 200 && text[0] === "0", `${r.status} ${text}`);
    check("polling handshake: exactly sid, upgrades, pingInterval, pingTimeout, maxPayload",
      JSON.stringify(Object.keys(v).sort()) === JSON.stringify(["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]), text);
    check("polling handshake: values", typeof v.sid === "string" && JSON.stringify(v.upgrades) === '["websocket"]' &&
      v.pingInterval === PING_INTERVAL && v.pingTimeout === PING_TIMEOUT && v.maxPayload === 1000000, text);
  }
  for (const [what, q, code] of [
    ["missing EIO", "transport=polling", 5], ["EIO=abc", "EIO=abc&transport=polling", 5], ["EIO=3", "EIO=3&transport=polling", 5],
    ["missing transport", "EIO=4", 0], ["transport=abc", "EIO=4&transport=abc", 0]]) {
    const r = await fetch(`${base}/socket.io/?${q}`);
    const body = await r.json().catch(() => ({}));
    check(`polling handshake with ${what}: 400 with code ${code}`, r.status === 400 && body.code === code && typeof body.message === "string",
      `${r.status} ${JSON.stringify(body)}`);
  }
  for (const method of ["POST", "PUT"]) {
    const r = await fetch(EIO, { method });
    const body = await r.json().catch(() => ({}));
    check(`polling handshake with ${method}: 400`, r.status === 400 && (method !== "POST" || body.code === 2), `${r.status} ${JSON.stringify(body)}`);
  }
  {
    const r = await fetch(`${EIO}&sid=nope`);
    const body = await r.json().catch(() => ({}));
    check("unknown sid: 400 with code 1 'Session ID unknown'", r.status === 400 && body.code === 1 && body.message === "Session ID unknown",
      `${r.status} ${JSON.stringify(body)}`);
  }

  // --- handshake, WebSocket
  {
    const s = ws("/socket.io/?EIO=4&transport=websocket");
    const m = await next(s);
    let v = {};
    try { v = JSON.parse(m.substring(1)); } catch { /* checked below */ }
    check("websocket handshake: open packet without upgrades", m[0] === "0" && JSON.stringify(v.upgrades) === "[]" &&
      v.pingInterval === PING_INTERVAL && v.pingTimeout === PING_TIMEOUT && v.maxPayload === 1000000, m);
    s.close();
  }
  // RFC 6455: a Sec-WebSocket-Key that is not the base64 of 16 bytes gets 400 (Beast alone said 101).
  for (const key of ["", "short", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=!", "dGhlIHNhbXBsZSBub25jZQ=="]) {
    const status = await new Promise((resolve) => {
      const c = net.connect(new URL(base).port, "127.0.0.1");
      c.on("error", () => resolve("error"));
      c.once("data", (d) => { resolve(d.toString().split(" ")[1]); c.destroy(); });
      c.write(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
    });
    const want = key === "dGhlIHNhbXBsZSBub25jZQ==" ? "101" : "400";
    check(`websocket key ${JSON.stringify(key)}: ${want}`, status === want, status);
  }
  for (const q of ["transport=websocket", "EIO=abc&transport=websocket", "EIO=4", "EIO=4&transport=abc"]) {
    const s = ws(`/socket.io/?${q}`);
    check(`websocket with ${q}: refused`, await closedWithin(s));
  }

  // --- heartbeat
  {
    const sid = await pollingSession();
    let ok = true;
    let detail = "";
    for (let i = 0; i < 3 && ok; i++) {
      const poll = await (await fetch(`${EIO}&sid=${sid}`)).text();
      const push = await fetch(`${EIO}&sid=${sid}`, { method: "POST", body: "3" });
      const pushText = await push.text();
      ok = poll === "2" && push.status === 200 && pushText === "ok";
      detail = `${poll} ${push.status} ${pushText}`;
    }
    check("polling: the server pings, pongs are accepted", ok, detail);
  }
  {
    const sid = await pollingSession();
    // The public suite polls right at pingInterval + pingTimeout after the handshake.
    await sleep(PING_INTERVAL + PING_TIMEOUT);
    const r = await fetch(`${EIO}&sid=${sid}`);
    check("polling: no pong closes the session at pingInterval + pingTimeout", r.status === 400, `${r.status} ${await r.text()}`);
  }
  {
    const s = ws("/socket.io/?EIO=4&transport=websocket");
    await next(s);
    let ok = true;
    for (let i = 0; i < 3 && ok; i++) {
      ok = (await next(s, PING_INTERVAL + 500)) === "2";
      s.send("3");
    }
    check("websocket: the server pings, pongs keep it open", ok && s.readyState === WebSocket.OPEN);
    s.close();
  }
  {
    const s = ws("/socket.io/?EIO=4&transport=websocket");
    await next(s);
    check("websocket: no pong closes the session", await closedWithin(s, PING_INTERVAL + PING_TIMEOUT + 1000));
  }

  // --- bad input that ends a session
  {
    const s = ws("/socket.io/?EIO=4&transport=websocket");
    await next(s);
    s.send("abc");
    check("websocket: an invalid packet format closes the session", await closedWithin(s));
  }
  {
    const sid = await pollingSession();
    const bad = await fetch(`${EIO}&sid=${sid}`, { method: "POST", body: "abc" });
    const after = await fetch(`${EIO}&sid=${sid}`);
    check("polling: an invalid packet format is a 400 and ends the session", bad.status === 400 && after.status === 400,
      `${bad.status} ${after.status}`);
  }
  {
    // Two polls at once are a broken client: the first gets the close packet, the rest 400.
    const sid = await pollingSession();
    const first = fetch(`${EIO}&sid=${sid}`);
    await sleep(100);  // the first poll is pending on the server (and the first ping is not due before 300 ms)
    const second = await fetch(`${EIO}&sid=${sid}`);
    const f = await first;
    const ftext = await f.text();
    const third = await fetch(`${EIO}&sid=${sid}`);
    check("polling: a duplicate poll is refused and closes the session", f.status === 200 && ftext === "1" &&
      second.status === 400 && third.status === 400, `${f.status} ${ftext} ${second.status} ${third.status}`);
  }

  // --- close
  {
    const sid = await pollingSession();
    const [poll, push] = await Promise.all([fetch(`${EIO}&sid=${sid}`), fetch(`${EIO}&sid=${sid}`, { method: "POST", body: "1" })]);
    const text = await poll.text();
    check("polling: a close packet ends the pending poll with a noop", poll.status === 200 && text === "6" && push.status === 200, `${poll.status} ${text}`);
    const again = await fetch(`${EIO}&sid=${sid}`);
    check("polling: the closed session is gone", again.status === 400);
  }
  {
    // The GET sent together with the close may be handled after it (two connections, two workers).
    const sid = await pollingSession();
    const push = await fetch(`${EIO}&sid=${sid}`, { method: "POST", body: "1" });
    const poll = await fetch(`${EIO}&sid=${sid}`);
    const text = await poll.text();
    check("polling: a poll that crosses the close still gets the noop", push.status === 200 && poll.status === 200 && text === "6", `${poll.status} ${text}`);
    const more = await fetch(`${EIO}&sid=${sid}`, { method: "POST", body: "4late" });
    const again = await fetch(`${EIO}&sid=${sid}`);
    check("polling: after that the session is gone", more.status === 400 && again.status === 400, `${more.status} ${again.status}`);
  }
  {
    const s = ws("/socket.io/?EIO=4&transport=websocket");
    await next(s);
    s.send("1");
    check("websocket: a close packet closes the connection", await closedWithin(s));
  }

  // --- upgrade
  {
    const { sid, s, probe, released } = await probedUpgrade("/socket.io/");
    s.send("5");
    check("upgrade: 2probe answered with 3probe", probe === "3probe", probe);
    check("upgrade: the pending poll is released with a noop", released === "6", released);
    // Right after "5" (the server may not have read it yet), as the public suite does it.
    const poll = await fetch(`${EIO}&sid=${sid}`);
    check("upgrade: polling requests with the same sid are refused afterwards", poll.status === 400, `${poll.status}`);
    const s2 = ws(`/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    check("upgrade: a second websocket with the same sid is refused", await closedWithin(s2));
    // A Socket.IO CONNECT without a token over the upgraded socket: its answer comes back on it.
    s.send("40");
    let reply = await next(s);
    while (reply === "2") reply = await next(s);  // a heartbeat may come first
    check("upgrade: the upgraded websocket carries messages both ways", /^4[04]\{/.test(reply ?? ""), reply);
    s.close();
  }

  {
    // "2probe" and "5" sent back to back, then a poll at once: the poll and the WebSocket race on two
    // connections, and the poll must still be refused once the upgrade is done.
    const sid = await pollingSession();
    const s = ws(`/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    await new Promise((r) => s.once("open", r));
    s.send("2probe");
    s.send("5");
    const poll = await fetch(`${EIO}&sid=${sid}`);
    check("upgrade: 2probe and 5 back to back, then a poll: refused", poll.status === 400, `${poll.status} ${await poll.text()}`);
    s.close();
  }
  {
    // A poll sent after 3probe, before "5", is answered with a noop.
    const sid = await pollingSession();
    const s = ws(`/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    await new Promise((r) => s.once("open", r));
    s.send("2probe");
    const probe = await next(s);
    const poll = await fetch(`${EIO}&sid=${sid}`);
    const text = await poll.text();
    check("upgrade: a poll sent after 3probe gets a noop", probe === "3probe" && poll.status === 200 && text === "6",
      `${probe} ${poll.status} ${text}`);
    s.send("5");
    s.close();
  }

  // --- payloads on the raw Engine.IO echo endpoint
  {
    const url = `${base}/engine.io/?EIO=4&transport=polling`;
    const sid = JSON.parse((await (await fetch(url)).text()).substring(1)).sid;
    const push = await fetch(`${url}&sid=${sid}`, { method: "POST", body: "4hello\x1e4€ world\x1ebAQID" });
    const poll = await (await fetch(`${url}&sid=${sid}`)).text();
    check("polling: packets joined by the record separator, binary as base64, echoed in order",
      push.status === 200 && poll === "4hello\x1e4€ world\x1ebAQID", JSON.stringify(poll));
    // 500 KB: over server.max_body_size (64 KiB here), within maxPayload, which the client was told.
    const mid = await fetch(`${url}&sid=${sid}`, { method: "POST", body: "4" + "y".repeat(500000) });
    const echoed = await (await fetch(`${url}&sid=${sid}`)).text();
    check("polling: a payload within maxPayload is taken, whatever the API's body limit",
      mid.status === 200 && echoed.length === 500001, `${mid.status} ${echoed.length}`);
    const big = await fetch(`${url}&sid=${sid}`, { method: "POST", body: "4" + "x".repeat(1000001) });
    check("polling: a payload over maxPayload is refused", big.status === 413 || big.status === 400, `${big.status}`);
    const bad = await fetch(`${url}&sid=${sid}`, { method: "POST", body: "9nonsense" });
    check("polling: an undecodable payload is a 400", bad.status === 400, `${bad.status}`);
  }
  {
    const s = ws("/engine.io/?EIO=4&transport=websocket");
    s.autoPong = true;
    await next(s);
    s.send("4text ✓");
    const t = await next(s);
    s.send(Buffer.from([1, 2, 3]));
    const b = await next(s);
    check("websocket echo: text and binary messages come back as sent",
      t === "4text ✓" && Buffer.isBuffer(b) && b.equals(Buffer.from([1, 2, 3])), `${t} ${b}`);
    // The server reads a new message in small steps and the rest of a long one in large ones.
    const long = "4" + "0123456789abcdef".repeat(20000);
    s.send(long);
    const l = await next(s);
    check("websocket echo: a 320 KB message comes back intact", l === long, `${l?.length}`);
    const pieces = ["4frag", "mented ", "message"];
    pieces.forEach((p, i) => s.send(p, { fin: i === pieces.length - 1 }));
    const f = await next(s);
    check("websocket echo: a message sent in three frames comes back whole", f === "4fragmented message", f);
    s.send("4" + "y".repeat(1000001));
    check("websocket: a message over maxPayload closes the connection", await closedWithin(s));
  }
  {
    // The upgrade on the raw endpoint too, then messages over the upgraded WebSocket.
    const { s, probe, released } = await probedUpgrade("/engine.io/");
    s.send("5");
    s.send("4hello");
    const echo = await next(s);
    check("/engine.io/ upgrade: 3probe, the pending poll released, then the WebSocket echoes",
      probe === "3probe" && released === "6" && echo === "4hello", `${probe} ${released} ${echo}`);
    s.close();
  }
}

async function socketIO() {
  {
    const s = ws("/socket.io/?EIO=4&transport=websocket");
    await next(s);
    s.send("40");
    const c = await next(s);
    const auth = await next(s);
    let h = {};
    try { h = JSON.parse(c.substring(2)); } catch { /* checked below */ }
    check("connect to the main namespace: 40{sid}", c.startsWith("40") && JSON.stringify(Object.keys(h)) === '["sid"]' && typeof h.sid === "string", c);
    check("connect: auth event with {} when no payload", auth === '42["auth",{}]', auth);
    s.close();
  }
  {
    const s = ws("/socket.io/?EIO=4&transport=websocket");
    await next(s);
    s.send('40{"token":"123"}');
    const c = await next(s);
    const auth = await next(s);
    check("connect with a payload: it comes back in auth", c.startsWith("40{") && auth === '42["auth",{"token":"123"}]', `${c} ${auth}`);
    s.close();
  }
  {
    const s = ws("/socket.io/?EIO=4&transport=websocket");
    await next(s);
    s.send("40/custom,");
    const c = await next(s);
    const auth = await next(s);
    check("connect to /custom", c.startsWith("40/custom,{") && JSON.parse(c.substring(10)).sid && auth === '42/custom,["auth",{}]', `${c} ${auth}`);
    s.send('40/custom,{"token":"abc"}');
    s.close();
  }
  {
    const s = ws("/socket.io/?EIO=4&transport=websocket");
    await next(s);
    s.send('40/custom,{"token":"abc"}');
    await next(s);
    const auth = await next(s);
    check("connect to /custom with a payload", auth === '42/custom,["auth",{"token":"abc"}]', auth);
    s.close();
  }
  {
    const s = ws("/socket.io/?EIO=4&transport=websocket");
    await next(s);
    s.send("40/random");
    const m = await next(s);
    check("unknown namespace: CONNECT_ERROR Invalid namespace", m === '44/random,{"message":"Invalid namespace"}', m);
    s.close();
  }
  {
    const s = ws("/socket.io/?EIO=4&transport=websocket");
    await next(s);
    s.send("4abc");
    check("invalid handshake packet closes the connection", await closedWithin(s));
  }
  {
    const s = await sioSocket();
    s.autoPong = false;  // the ping is what this check waits for
    s.send("41");
    // As the reference server: the Engine.IO connection stays (the next frame is the heartbeat).
    const m = await next(s, PING_INTERVAL + 500);
    check("disconnect from the main namespace keeps the Engine.IO connection", m === "2" && s.readyState === WebSocket.OPEN, m);
    s.send("3");
    s.autoPong = true;
    s.send("40");
    const again = await next(s);
    check("a namespace can be connected again on the same connection", again.startsWith('40{"sid":'), again);
    s.close();
  }
  {
    // The namespace may come without the trailing comma when nothing follows it.
    const s = await sioSocket();
    s.send("40/custom");
    const c = await next(s);
    const auth = await next(s);
    s.send("41/custom");
    s.send('42["message","still here"]');
    const m = await next(s);
    check("40/custom and 41/custom without the comma", c.startsWith("40/custom,{") && auth === '42/custom,["auth",{}]' &&
      m === '42["message-back","still here"]', `${c} ${auth} ${m}`);
    s.close();
  }
  {
    const s = await sioSocket();
    s.send("40/custom,");
    await next(s);
    await next(s);
    s.send("41/custom,");
    s.send('42["message","message to main namespace"]');
    const m = await next(s);
    check("leaving /custom keeps the main namespace", m === '42["message-back","message to main namespace"]', m);
    s.close();
  }
  {
    const s = await sioSocket();
    s.send('42["message",1,"2",{"3":[true]}]');
    const m = await next(s);
    check("event echoed as message-back with identical arguments", m === '42["message-back",1,"2",{"3":[true]}]', m);
    s.send('42456["message-with-ack",1,"2",{"3":[false]}]');
    const a = await next(s);
    check("ack carries the arguments and the id", a === '43456[1,"2",{"3":[false]}]', a);
    s.close();
  }
  {
    const s = await sioSocket();
    s.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    s.send(Buffer.from([1, 2, 3]));
    s.send(Buffer.from([4, 5, 6]));
    const p = [await next(s), await next(s), await next(s)];
    check("binary event: placeholders and attachments echoed",
      p[0] === '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]' &&
      Buffer.isBuffer(p[1]) && p[1].equals(Buffer.from([1, 2, 3])) && Buffer.isBuffer(p[2]) && p[2].equals(Buffer.from([4, 5, 6])),
      JSON.stringify(p));
    s.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    s.send(Buffer.from([1, 2, 3]));
    s.send(Buffer.from([4, 5, 6]));
    const q = [await next(s), await next(s), await next(s)];
    check("binary ack: placeholders and attachments returned",
      q[0] === '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]' &&
      Buffer.isBuffer(q[1]) && q[1].equals(Buffer.from([1, 2, 3])) && Buffer.isBuffer(q[2]) && q[2].equals(Buffer.from([4, 5, 6])),
      JSON.stringify(q));
    s.close();
  }
  for (const [what, frame] of [["unknown packet type", "4abc"], ["payload not an array", "42{}"], ["invalid ack id", '42abc["message-with-ack",1]'],
    ["attachment count without a payload", "451-"], ["unterminated JSON", '42["message",']]) {
    const s = await sioSocket();
    s.send(frame);
    check(`malformed packet (${what}) closes the connection`, await closedWithin(s));
  }
  {
    // Over polling too: a Socket.IO connect and an echo in one session.
    const sid = await pollingSession();
    await fetch(`${EIO}&sid=${sid}`, { method: "POST", body: "40" });
    const c = await (await fetch(`${EIO}&sid=${sid}`)).text();
    await fetch(`${EIO}&sid=${sid}`, { method: "POST", body: '42["message","over polling"]' });
    let m = "";
    for (let i = 0; i < 3 && !m.includes("message-back"); i++) m += await (await fetch(`${EIO}&sid=${sid}`)).text();
    check("Socket.IO over polling: connect, auth and echo", c.startsWith("40{") && c.includes('42["auth",{}]') && m.includes('42["message-back","over polling"]'),
      JSON.stringify([c, m]));
    await fetch(`${EIO}&sid=${sid}`, { method: "POST", body: "1" });
  }
}

const alive = async () => (await fetch(`${base}/livez`)).status === 200;
try {
  await engineIO();
  await socketIO();
  check("the daemon still serves after all of the above", await alive());
  // The polls above are counted, but how long each was held is not a latency.
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const polls = metrics.match(/^zuperior_http_requests_total\{route="\/socket\.io\/",method="GET",status="takeover"\} (\d+)/m);
  check("metrics: long-polls counted as takeover requests, kept out of the latency histogram",
    polls && Number(polls[1]) > 10 && !/zuperior_http_request_duration_seconds_count\{route="\/socket\.io\/"/.test(metrics),
    polls ? polls[0] : "no takeover count");
} catch (e) {
  check(`exception: ${e.stack || e}`, false);
}
console.log(failures ? `${failures} protocol check(s) failed` : "all protocol checks passed");
process.exit(failures ? 1 : 0);
