// A stand-in for `zuperior serve` while it is being written: a few HTTP routes and a Socket.IO
// endpoint (the stock `socket.io` package) that forwards Redis market ticks to market:<SYMBOL> rooms.
// Usage: node stand_in_server.js PORT_FILE [REDIS_URL [CHANNEL]]
// DROP_SEQ=1 forwards ticks without their seq, like a server (or the simulated feed) that has none.
// FORGE_SEQ=1 also sends, after every 50th tick, a copy whose seq is 1,000,000 ahead: a tick nobody
// published.
// LOSE_TICKS=1 never forwards GBPUSD, and drops every 10th EURUSD tick but sends the tick before it
// again after the next one: losses a duplicate must not cancel, and a symbol never delivered.
const http = require("http");
const { Server } = require("socket.io");
const fs = require("fs");

const [portFile, redisUrl, channel = "zuperior:market"] = process.argv.slice(2);
let forwarded = 0;
let eurusd = 0;
let before = null;  // the EURUSD tick before a dropped one
let resend = null;

const server = http.createServer((req, res) => {
  const send = (status, body) => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.url === "/apis/time") return send(200, { serverTime: new Date().toISOString() });
  if (req.url === "/livez") return send(200, { status: "ok" });
  if (req.url === "/slow") return setTimeout(() => send(200, { slow: true }), 150);
  if (req.url === "/moved") {
    res.writeHead(302, { Location: "/apis/time", "Content-Length": "0" });
    return res.end();
  }
  if (req.url === "/apis/auth/login" && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      try {
        const { email } = JSON.parse(body);
        if (!email || !email.endsWith("@loadtest.invalid")) return send(400, { success: false });
        return send(200, { success: true, token: "tok." + Buffer.from(email).toString("base64url") });
      } catch {
        return send(400, { success: false, message: "bad json" });
      }
    });
    return;
  }
  if (req.url === "/apis/auth/me") {
    const auth = req.headers["authorization"] || "";
    return auth.startsWith("Bearer tok.") ? send(200, { success: true }) : send(401, { success: false });
  }
  if (req.url.startsWith("/socket.io/")) return; // handled by socket.io
  send(404, { success: false, message: "not found" });
});

const io = new Server(server, { transports: ["websocket", "polling"] });
io.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (process.env.REQUIRE_TOKEN && !(token || "").startsWith("tok.")) return next(new Error("unauthorized"));
  next();
});
io.on("connection", (socket) => {
  socket.on("subscribe:market", (symbols, ack) => {
    for (const s of [].concat(symbols || [])) socket.join("market:" + s);
    if (typeof ack === "function") ack({ ok: true });
  });
  // Acknowledged late: past a short ack_timeout.
  socket.on("slow:ack", (_, ack) => {
    if (typeof ack === "function") setTimeout(() => ack({ ok: true }), 500);
  });
});

async function main() {
  if (redisUrl) {
    const { createClient } = require("redis");
    const sub = createClient({ url: redisUrl });
    await sub.connect();
    await sub.subscribe(channel, (message) => {
      try {
        const tick = JSON.parse(message);
        if (process.env.DROP_SEQ) delete tick.seq;
        if (process.env.LOSE_TICKS) {
          if (tick.symbol === "GBPUSD") return;
          if (++eurusd % 10 === 0) {
            resend = before;
            return;
          }
          before = tick;
          io.to("market:EURUSD").emit("market:update", tick);
          if (resend) io.to("market:EURUSD").emit("market:update", resend);
          resend = null;
          return;
        }
        io.to("market:" + tick.symbol).emit("market:update", tick);
        if (process.env.FORGE_SEQ && ++forwarded % 50 === 0)
          io.to("market:" + tick.symbol).emit("market:update", { ...tick, seq: tick.seq + 1000000 });
      } catch {}
    });
  }
  server.listen(0, "127.0.0.1", () => {
    fs.writeFileSync(portFile, String(server.address().port));
  });
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
