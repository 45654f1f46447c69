// WebSockets keep counting against the HTTP server's connection caps after the upgrade: with
// server.max_connections_per_ip = 3, three open WebSockets leave no room for a fourth connection
// (refused with 503), and closing one makes room again.
import WebSocket from "ws";

const base = process.env.ZUPERIOR_TEST_PROTO_URL;
const ws = base.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let failures = 0;
const check = (name, ok, detail = "") => {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok || !detail ? "" : `: ${detail}`}`);
  if (!ok) failures++;
};
function open() {
  return new Promise((resolve) => {
    const s = new WebSocket(ws);
    s.on("error", () => {});
    s.once("message", () => resolve({ s, ok: true }));
    s.once("unexpected-response", (_, res) => resolve({ s, ok: false, status: res.statusCode }));
    s.once("close", () => resolve({ s, ok: false }));
  });
}
const held = [];
for (let i = 0; i < 3; i++) held.push(await open());
check("three WebSockets open under a per-address cap of 3", held.every((h) => h.ok));
await sleep(200);
const fourth = await open();
check("a fourth connection is refused while they stay open", !fourth.ok, JSON.stringify({ status: fourth.status }));
const http = await fetch(`${base}/livez`).then((r) => r.status).catch(() => "refused");
check("plain HTTP from that address is refused too (503)", http === 503 || http === "refused", String(http));
held[0].s.close();
await sleep(300);
const again = await open();
check("closing one makes room again", again.ok);
for (const h of [...held, again]) h.s.close();

// Long-polling sessions hold no connection: they have their own per-address cap (the same number).
await sleep(300);  // the WebSockets above give their connection places back
const poll = base + "/socket.io/?EIO=4&transport=polling";
const sids = [];
for (let i = 0; i < 3; i++) {
  const r = await fetch(poll);
  const body = await r.text();
  if (r.status === 200) sids.push(JSON.parse(body.slice(1)).sid);
}
check("three polling sessions open under the cap of 3", sids.length === 3, String(sids.length));
const over = await fetch(poll);
const overBody = await over.json().catch(() => null);
check("a fourth polling session is refused with 403 Forbidden", over.status === 403 && overBody && overBody.code === 4,
  `${over.status} ${JSON.stringify(overBody)}`);
await fetch(`${poll}&sid=${sids[0]}`, { method: "POST", body: "1" });
const after = await fetch(poll);
check("closing one polling session makes room again", after.status === 200, String(after.status));
const afterSid = JSON.parse((await after.text()).slice(1)).sid;
for (const sid of [sids[1], sids[2], afterSid]) await fetch(`${poll}&sid=${sid}`, { method: "POST", body: "1" });

// A session that upgrades from polling to WebSocket holds a connection place from then on and gives
// its polling place back: otherwise every stock client (polling first, then the upgrade) would
// count twice, and an address would reach the polling cap with half as many clients.
await sleep(200);
const hs = await fetch(poll);
const upSid = JSON.parse((await hs.text()).slice(1)).sid;
const up = new WebSocket(`${ws.replace("transport=websocket", "transport=websocket&sid=" + upSid)}`);
up.on("error", () => {});
const upgraded = await new Promise((resolve) => {
  up.once("open", () => up.send("2probe"));
  up.on("message", (m) => {
    if (String(m) === "3probe") {
      up.send("5");
      setTimeout(() => resolve(true), 200);
    }
  });
  up.once("close", () => resolve(false));
  setTimeout(() => resolve(false), 3000);
});
check("a polling session upgrades to WebSocket", upgraded);
const polls = [];
for (let i = 0; i < 3; i++) polls.push((await fetch(poll)).status);
check("after the upgrade, three more polling sessions fit under the polling cap of 3",
  polls.every((st) => st === 200), JSON.stringify(polls));
up.close();
console.log(failures ? `${failures} cap check(s) failed` : "all cap checks passed");
process.exit(failures ? 1 : 0);
