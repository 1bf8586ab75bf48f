// STOMP 1.2 against a real herald-server with the real @stomp/stompjs client (docs/stomp.md).
//
//   HERALD_SERVER=build/h/examples/server/herald-server node --test tests/clients/stomp.test.mjs
//
// The test starts herald-server itself (--dev-auth, a free loopback port) and stops it by
// its PID at the end. Node 20 has no global WebSocket: stompjs gets the `ws` package's one
// through webSocketFactory.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { Client } from "@stomp/stompjs";
import WebSocket from "ws";

const SERVER = process.env.HERALD_SERVER;
let server;
let base;
let port;
const clients = [];    // deactivated before the server stops
const stompErrors = [];

// Waits for `predicate` over the server's log lines (stderr and stdout), up to `ms`.
function waitForLog(child, predicate, ms) {
  return new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`server did not log in time:\n${log}`)), ms);
    const onData = (chunk) => {
      log += chunk.toString();
      const found = predicate(log);
      if (found !== undefined) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`server exited (${code}):\n${log}`)));
  });
}

before(async () => {
  assert.ok(SERVER, "set HERALD_SERVER to the herald-server binary");
  server = spawn(SERVER, ["--dev-auth", "--store", "memory", "--bind", "127.0.0.1", "--port", "0", "--threads", "2",
                          "--log-level", "info", "--ack-timeout", "1"],
                 { stdio: ["ignore", "pipe", "pipe"] });
  port = await waitForLog(server, (log) => {
    const m = /event=listening .* port=(\d+)/.exec(log);
    return m ? Number(m[1]) : undefined;
  }, 10_000);
  base = `127.0.0.1:${port}`;
});

after(async () => {
  await Promise.all(clients.map((c) => c.deactivate()));
  if (server && server.exitCode === null) process.kill(server.pid, "SIGTERM");
});

async function publish(body) {
  const res = await fetch(`http://${base}/notify`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 202, text);
  return JSON.parse(text);
}

// A queue of values with promise-based takes that fail after a timeout.
class Inbox {
  constructor() { this.items = []; this.waiters = []; }
  push(v) {
    const w = this.waiters.shift();
    if (w) w(v); else this.items.push(v);
  }
  take(ms = 5000) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("nothing arrived in time")), ms);
      this.waiters.push((v) => { clearTimeout(timer); resolve(v); });
    });
  }
}

// A stompjs client for `user`. `onConnect` runs on every (re)connect, like an app's.
function client(user, onConnect) {
  const sockets = [];
  const connects = new Inbox();
  const c = new Client({
    webSocketFactory: () => {
      const ws = new WebSocket(`ws://${base}/stomp`, ["v12.stomp", "v11.stomp", "v10.stomp"]);
      sockets.push(ws);
      return ws;
    },
    connectHeaders: { login: user },
    heartbeatIncoming: 1000,
    heartbeatOutgoing: 1000,
    reconnectDelay: 100,
    debug: () => {},
  });
  c.onConnect = (frame) => { onConnect(c, frame); connects.push(frame); };
  c.onStompError = (frame) => stompErrors.push(`${frame.headers.message}: ${frame.body}`);
  c.activate();
  clients.push(c);
  return { c, sockets, connects };
}

function receipt(c, id) {
  return new Promise((resolve) => c.watchForReceipt(id, resolve));
}

test("connect, subscribe to the inbox, receive a publish, ack it (client-individual)", async () => {
  const messages = new Inbox();
  const { c, sockets, connects } = client("alice", (cl) =>
    cl.subscribe("/user/queue/notifications", (m) => messages.push(m), { ack: "client-individual", receipt: "sub" }));
  const connected = await connects.take();
  assert.equal(connected.headers["user-name"], "alice");
  assert.equal(connected.headers.version, "1.2");
  assert.equal(sockets[0].protocol, "v12.stomp");

  const published = await publish({ to: { users: ["alice"] }, type: "blog.posted", data: { title: "hello" } });
  const m = await messages.take();
  assert.equal(m.headers.destination, "/user/queue/notifications");
  assert.equal(m.headers["herald-id"], published.id);
  assert.equal(m.headers["herald-type"], "blog.posted");
  assert.equal(m.headers["message-id"], "inbox:alice:1");
  assert.equal(m.headers.ack, "inbox:alice:1");
  const body = JSON.parse(m.body);
  assert.equal(body.id, published.id);
  assert.deepEqual(body.data, { title: "hello" });

  const acked = receipt(c, "ack-1");
  m.ack({ receipt: "ack-1" });
  await acked;
  // Acked: not delivered again after the 1 s ack timeout (a later publish arrives first).
  await publish({ to: { users: ["alice"] }, type: "t", data: 2 });
  const next = await messages.take(3000);
  assert.equal(next.headers["herald-seq"], "2");
  assert.notEqual(next.headers.redelivered, "true");
  await c.deactivate();
  assert.deepEqual(stompErrors, []);
});

test("topic subscribe with a receipt, then a topic publish arrives", async () => {
  const messages = new Inbox();
  const { c, connects } = client("bob", () => {});
  await connects.take();
  const joined = receipt(c, "r-news");
  c.subscribe("/topic/news", (m) => messages.push(m), { receipt: "r-news" });
  await joined;
  await publish({ to: { topic: "news" }, type: "news.posted", data: { n: 1 } });
  const m = await messages.take();
  assert.equal(m.headers.destination, "/topic/news");
  assert.equal(m.headers["message-id"], "topic:news:1");
  assert.deepEqual(JSON.parse(m.body).data, { n: 1 });
  await c.deactivate();
  assert.deepEqual(stompErrors, []);
});

test("reconnect: the socket breaks, stompjs reconnects, unacked entries come again", async () => {
  const messages = new Inbox();
  const { c, sockets, connects } = client("carol", (cl) =>
    cl.subscribe("/user/queue/notifications", (m) => messages.push(m), { ack: "client-individual" }));
  await connects.take();
  for (let i = 1; i <= 3; i++) await publish({ to: { users: ["carol"] }, type: "t", data: i });
  const first = [await messages.take(), await messages.take(), await messages.take()];
  assert.deepEqual(first.map((m) => JSON.parse(m.body).data), [1, 2, 3]);
  const acked = receipt(c, "a1");
  first[0].ack({ receipt: "a1" });
  await acked;

  sockets[0].terminate();  // the TCP connection breaks, no close frame
  await connects.take(10_000);
  assert.ok(sockets.length >= 2);

  const seen = new Set([1]);
  while (!(seen.has(2) && seen.has(3))) {
    const m = await messages.take(5000);
    const n = JSON.parse(m.body).data;
    seen.add(n);
    m.ack();
  }
  await publish({ to: { users: ["carol"] }, type: "t", data: 4 });
  for (;;) {
    const m = await messages.take(5000);
    const n = JSON.parse(m.body).data;
    m.ack();
    if (n === 4) break;
    assert.ok(n <= 3, `unexpected ${n}`);  // a redelivery of 1..3 (at least once)
  }
  await c.deactivate();
  assert.deepEqual(stompErrors, []);
});
