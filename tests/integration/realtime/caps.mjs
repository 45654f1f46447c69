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
console.log(failures ? `${failures} cap check(s) failed` : "all cap checks passed");
process.exit(failures ? 1 : 0);
