// The JS client (clients/js/herald.js) under Node 20 against a real herald-server:
// delivery and acks, exactly once in order across forced reconnects and redeliveries, a
// server restart (reset), topics with resume, history / unread / read, refused credentials,
// backoff, tokens. Run: HERALD_SERVER=build/.../herald-server node --test client.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { connect } from "../../clients/js/herald.js";
import { startServer, startJwtServer, nextEvent, until, within, hs256 } from "./lib/harness.mjs";

let server;
const clients = [];

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

// A WebSocket class that records its sockets (to cut them) and can point at a dead port
// (a network outage) while `down` is set.
function trackedWebSocket() {
  const sockets = [];
  const net = { down: false, sockets };
  class Tracked extends WebSocket {
    constructor(url, protocols) {
      super(net.down ? url.replace(/:\d+\//, ":1/") : url, protocols);
      sockets.push(this);
    }
  }
  net.WebSocket = Tracked;
  return net;
}

function open(options) {
  const c = connect({ WebSocket, minDelay: 20, maxDelay: 200, ...options });
  clients.push(c);
  return c;
}

// Collects the notifications a client hands over, by stream.
function collect(client) {
  const got = [];
  client.on("notification", (n) => got.push(n));
  return got;
}

// A raw session's welcome (what the server stored for the user: its ack cursor).
async function welcomeOf(url) {
  const ws = new WebSocket(url);
  try {
    const [msg] = await within(new Promise((r) => ws.once("message", (...a) => r(a))), 5000, "welcome");
    return JSON.parse(String(msg));
  } finally {
    ws.close();
  }
}

function once(emitter, name) {
  return new Promise((resolve) => emitter.once(name, resolve));
}

// Every test is bounded (ctest bounds the whole file too).
const T = { timeout: 30000 };


test("connect, notifications in order, acked (the stored cursor moves)", T, async () => {
  const c = open({ url: server.ws, userId: "ann" });
  const got = collect(c);
  const welcome = await nextEvent(c, "connected");
  assert.equal(welcome.user, "ann");
  assert.equal(welcome.stream, "inbox:ann");
  for (let i = 1; i <= 3; i++) await server.toUser("ann", { i });
  await until(() => got.length === 3, { what: "3 notifications" });
  assert.deepEqual(got.map((n) => n.seq), [1, 2, 3]);
  assert.deepEqual(got.map((n) => n.data.i), [1, 2, 3]);
  assert.equal(got[0].stream, "inbox:ann");
  assert.equal(typeof got[0].id, "string");
  assert.equal(got[0].op, undefined);
  assert.deepEqual(c.position, { seq: 3, epoch: welcome.epoch });
  // The acks reached the store: a new session of ann continues after 3.
  await until(async () => (await welcomeOf(`${server.ws}?userId=ann`)).cursor === 3, { what: "ack cursor 3" });
  c.close();
});

test("200 notifications with the socket cut twice mid-stream: each exactly once, in order", T, async () => {
  const N = 200;
  const net = trackedWebSocket();
  const c = open({ url: server.ws, userId: "bea", WebSocket: net.WebSocket });
  const got = collect(c);
  let connects = 0;
  c.on("connected", () => connects++);
  await nextEvent(c, "connected");
  const publishing = (async () => {
    for (let i = 1; i <= N; i++) await server.toUser("bea", { i });
  })();
  for (const at of [50, 120]) {
    await until(() => got.length >= at, { ms: 20000, what: `${at} notifications` });
    net.sockets.at(-1).terminate(); // no close handshake: the TCP connection just dies
  }
  await publishing;
  await until(() => got.length >= N && connects >= 3, { ms: 20000, what: `${N} notifications` });
  assert.deepEqual(got.map((n) => n.seq), Array.from({ length: N }, (_, i) => i + 1));
  assert.deepEqual(got.map((n) => n.data.i), Array.from({ length: N }, (_, i) => i + 1));
  assert.ok(net.sockets.length >= 3, "it reconnected after each cut");
  c.close();
});

test("redeliveries (attempt > 1) of what was handed over are acked, not handed over again", T, async () => {
  const s = await startServer(["--ack-timeout", "0.2"]);
  try {
    const net = trackedWebSocket();
    const attempts = [];
    const c = open({ url: s.ws, userId: "cid", WebSocket: net.WebSocket, ackDelay: 900 });
    const got = collect(c);
    await nextEvent(c, "connected");
    net.sockets[0].addEventListener("message", (e) => {
      const f = JSON.parse(e.data);
      if (f.op === "notification" && f.attempt > 1) attempts.push(f.seq);
    });
    await s.toUser("cid", { i: 1 });
    await s.toUser("cid", { i: 2 });
    await until(() => attempts.length >= 2, { what: "a redelivery" });
    await until(async () => (await welcomeOf(`${s.ws}?userId=cid`)).cursor === 2, { what: "acked" });
    assert.deepEqual(got.map((n) => n.seq), [1, 2]);
    assert.ok(attempts.every((seq) => seq <= 2));
    c.close();
  } finally {
    await s.stop();
  }
});

test("a restarted server (in-memory store): reset is emitted, delivery continues in the new epoch", T, async () => {
  const s = await startServer();
  try {
    const c = open({ url: s.ws, userId: "dan" });
    const got = collect(c);
    const first = await nextEvent(c, "connected");
    const room = [];
    await c.subscribe("room:dan", (n) => room.push(n.data.i));
    await s.toTopic("room:dan", { i: 1 });
    for (let i = 1; i <= 3; i++) await s.toUser("dan", { i });
    await until(() => got.length === 3 && room.length === 1, { what: "entries before the restart" });
    const down = nextEvent(c, "disconnected");
    const reset = nextEvent(c, "reset", (r) => r.stream === "inbox:dan");
    const roomReset = nextEvent(c, "reset", (r) => r.topic === "room:dan");
    const again = nextEvent(c, "connected", (w) => w.session !== first.session, 20000);
    await s.restart();
    await down;
    const w = await again;
    const r = await reset;
    assert.equal(r.stream, "inbox:dan");
    assert.equal(r.reason, "epoch_changed");
    assert.notEqual(r.epoch, first.epoch);
    assert.equal(w.epoch, r.epoch);
    await s.toUser("dan", { i: 4 });
    await s.toUser("dan", { i: 5 });
    await until(() => got.length === 5, { what: "2 after the restart" });
    assert.deepEqual(got.slice(3).map((n) => [n.seq, n.epoch, n.data.i]), [
      [1, r.epoch, 4],
      [2, r.epoch, 5],
    ]);
    // The topic too: reset, then its new entries.
    assert.equal((await roomReset).reason, "epoch_changed");
    await s.toTopic("room:dan", { i: 2 });
    await until(() => room.length === 2, { what: "topic entry after the restart" });
    assert.deepEqual(room, [1, 2]);
    c.close();
  } finally {
    await s.stop();
  }
});

test("subscribe / unsubscribe a topic on an open session; broadcasts reach on('notification')", T, async () => {
  const c = open({ url: server.ws, userId: "eve" });
  const all = collect(c);
  await nextEvent(c, "connected");
  const room = [];
  const joined = await c.subscribe("room:7", (n) => room.push(n));
  assert.equal(joined.topic, "room:7");
  assert.equal(joined.stream, "topic:room:7");
  await server.toTopic("room:7", { i: 1 });
  await server.publish({ to: { broadcast: true }, type: "all", data: { i: 2 } });
  await until(() => room.length === 1 && all.length === 1, { what: "topic and broadcast" });
  assert.equal(room[0].topic, "room:7");
  assert.equal(all[0].stream, "topic:$broadcast");
  await c.unsubscribe("room:7");
  await server.toTopic("room:7", { i: 3 });
  await server.toUser("eve", { i: 4 }); // a marker: once it is here, room:7's entry would be too
  await until(() => all.some((n) => n.stream === "inbox:eve"), { what: "marker" });
  assert.equal(room.length, 1);
  c.close();
});

test("subscribe before connecting joins on the first session (through topics=)", T, async () => {
  const c = open({ url: server.ws, userId: "fay" });
  const room = [];
  const joined = c.subscribe("room:fay", (n) => room.push(n));
  await joined;
  await server.toTopic("room:fay", { i: 1 });
  await until(() => room.length === 1, { what: "topic entry" });
  c.close();
});

test("history pages, unreadCount, markRead and markAllRead", T, async () => {
  for (let i = 1; i <= 5; i++) await server.toUser("gil", { i });
  const c = open({ url: server.ws, userId: "gil" });
  const got = collect(c);
  await until(() => got.length === 5, { what: "backlog of 5" });
  const page = await c.history("inbox", { limit: 3 });
  assert.equal(page.stream, "inbox:gil");
  assert.deepEqual(page.items.map((i) => i.seq), [5, 4, 3]);
  assert.equal(page.nextBefore, 3);
  const rest = await c.history("inbox", { before: page.nextBefore, limit: 3 });
  assert.deepEqual(rest.items.map((i) => i.seq), [2, 1]);
  assert.equal(rest.nextBefore, 0);
  assert.equal(await c.unreadCount(), 5);
  assert.equal(await c.markRead([1, 2]), 2);
  assert.equal(await c.markRead([2]), 0);
  assert.equal(await c.unreadCount(), 3);
  assert.equal((await c.history()).items.find((i) => i.seq === 1).read, true);
  assert.equal(await c.markAllRead(), 3);
  assert.equal(await c.unreadCount(), 0);
  // A topic's history by its name.
  await server.toTopic("news", { i: 1 });
  assert.equal((await c.history("news")).items.length, 1);
  c.close();
});

test("requests made while disconnected are sent on the next session", T, async () => {
  const net = trackedWebSocket();
  const c = open({ url: server.ws, userId: "hal", WebSocket: net.WebSocket });
  await nextEvent(c, "connected");
  net.down = true;
  const down = nextEvent(c, "disconnected");
  net.sockets[0].terminate();
  await down;
  const pending = c.markAllRead();
  net.down = false;
  assert.equal(await within(pending, 10000, "markAllRead"), 0);
  c.close();
});

test("an invalid userId: error 'unauthorized', no reconnect loop", T, async () => {
  const net = trackedWebSocket();
  const c = open({ url: server.ws, userId: "has space", WebSocket: net.WebSocket });
  const err = await nextEvent(c, "error");
  assert.equal(err.code, "unauthorized");
  assert.equal(err.closeCode, 4001);
  await assert.rejects(c.ready(), (e) => e.code === "closed");
  assert.equal(c.connected, false);
  assert.equal(net.sockets.length, 1);
});

test("a server that is down: reconnect delays grow (jittered, capped), never a tight loop", T, async () => {
  const c = open({ url: "ws://127.0.0.1:1/ws", userId: "ian", minDelay: 40, maxDelay: 320 });
  const delays = [];
  c.on("disconnected", (d) => delays.push(d.delay));
  await until(() => delays.length >= 6, { ms: 15000, what: "6 attempts" });
  c.close();
  const ceilings = [40, 80, 160, 320, 320, 320];
  delays.slice(0, 6).forEach((d, i) => {
    assert.ok(d >= ceilings[i] / 2 && d <= ceilings[i], `attempt ${i}: ${d} ms in [${ceilings[i] / 2}, ${ceilings[i]}]`);
  });
});

test("a topic's position survives a reconnect: missed entries once, none twice", T, async () => {
  const net = trackedWebSocket();
  const c = open({ url: server.ws, userId: "jon", WebSocket: net.WebSocket });
  const room = [];
  await c.subscribe("room:jon", (n) => room.push(n.data.i));
  for (let i = 1; i <= 3; i++) await server.toTopic("room:jon", { i });
  await until(() => room.length === 3, { what: "3 topic entries" });
  net.down = true;
  const down = nextEvent(c, "disconnected");
  net.sockets.at(-1).terminate();
  await down;
  for (let i = 4; i <= 5; i++) await server.toTopic("room:jon", { i });
  const back = nextEvent(c, "connected");
  net.down = false;
  await back;
  assert.match(net.sockets.at(-1).url, /topics=room%3Ajon%40\d+\.\d+/);
  await server.toTopic("room:jon", { i: 6 });
  await until(() => room.length >= 6, { what: "entries 4..6" });
  assert.deepEqual(room, [1, 2, 3, 4, 5, 6]);
  c.close();
});

test("a stored subscription is joined by the server: its entries reach on('notification')", T, async () => {
  const put = await server.request("PUT", "/users/kim/subscriptions/room:kim");
  assert.equal(put.status, 200);
  const c = open({ url: server.ws, userId: "kim" });
  const got = collect(c);
  await nextEvent(c, "connected");
  await server.toTopic("room:kim", { i: 1 });
  await until(() => got.some((n) => n.topic === "room:kim"), { what: "server-side topic entry" });
  c.close();
});

test("a stored subscription added and removed over REST while connected", T, async () => {
  const c = open({ url: server.ws, userId: "liv" });
  const got = collect(c);
  await nextEvent(c, "connected");
  assert.equal((await server.request("PUT", "/users/liv/subscriptions/room:liv")).status, 200);
  await c.subscribe("room:liv"); // resolves on the server's `subscribed` without rid
  await server.toTopic("room:liv", { i: 1 });
  await until(() => got.some((n) => n.topic === "room:liv"), { what: "entry of the stored subscription" });
  assert.equal((await server.request("DELETE", "/users/liv/subscriptions/room:liv")).status, 200);
  // The server left the topic (`unsubscribed` without rid): nothing more from it.
  await server.toTopic("room:liv", { i: 2 });
  await server.toUser("liv", { marker: true }); // frames are ordered: the topic's would be here first
  await until(() => got.some((n) => n.stream === "inbox:liv"), { what: "marker" });
  assert.deepEqual(got.filter((n) => n.topic === "room:liv").map((n) => n.data.i), [1]);
  c.close();
});

test("a topic whose name contains '@' resumes across a reconnect", T, async () => {
  const net = trackedWebSocket();
  const c = open({ url: server.ws, userId: "mo", WebSocket: net.WebSocket, topics: ["team@5"] });
  const got = [];
  await c.subscribe("team@5", (n) => got.push(n.data.i));
  assert.match(net.sockets[0].url, /topics=team%405%40(&|$)/); // "team@5@": no position
  await server.toTopic("team@5", { i: 1 });
  await until(() => got.length === 1, { what: "entry 1" });
  net.down = true;
  const down = nextEvent(c, "disconnected");
  net.sockets.at(-1).terminate();
  await down;
  await server.toTopic("team@5", { i: 2 });
  const back = nextEvent(c, "connected");
  net.down = false;
  await back;
  assert.match(net.sockets.at(-1).url, /topics=team%405%401\.\d+/);
  await until(() => got.length === 2, { what: "entry 2" });
  assert.deepEqual(got, [1, 2]);
  c.close();
});

test("connect({topics}) joins the listed topics through the handshake", T, async () => {
  const c = open({ url: server.ws, userId: "lee", topics: ["room:lee"] });
  const got = collect(c);
  await c.subscribe("room:lee"); // resolves on the server's `subscribed` for the listed topic
  await server.toTopic("room:lee", { i: 1 });
  await until(() => got.some((n) => n.topic === "room:lee"), { what: "listed topic entry" });
  c.close();
});

test("tokens: subprotocol and ?token=, REST with Bearer, a refused token is an error", T, async (t) => {
  const secret = "client-test-secret-0123456789-abcdef";
  const s = await startJwtServer(t, secret);
  if (!s) return;
  try {
    const token = await hs256({ sub: "max", exp: Math.floor(Date.now() / 1000) + 600 }, secret);
    for (const tokenIn of ["protocol", "query"]) {
      const c = open({ url: s.ws, token: () => token, tokenIn });
      const got = collect(c);
      const w = await nextEvent(c, "connected");
      assert.equal(w.user, "max");
      assert.equal(c.user, "max");
      await s.toUser("max", { tokenIn });
      await until(() => got.length === 1, { what: `notification (${tokenIn})` });
      assert.ok((await c.unreadCount()) >= 1);
      c.close();
    }
    // A listed topic the token does not grant: its subscribe() is refused, the rest works.
    const limited = await hs256({ sub: "max", topics: ["room:*"] }, secret);
    const c = open({ url: s.ws, token: limited, topics: ["secret", "room:ok"] });
    const errors = [];
    c.on("error", (e) => errors.push(e.code));
    await assert.rejects(c.subscribe("secret"), (e) => e.code === "forbidden");
    await c.subscribe("room:ok");
    assert.deepEqual(errors, ["forbidden"]);
    c.close();
    const forged = await hs256({ sub: "max" }, secret + "-forged");
    const bad = open({ url: s.ws, token: forged });
    const err = await nextEvent(bad, "error");
    assert.equal(err.code, "unauthorized");
    await assert.rejects(bad.ready(), (e) => e.code === "closed");
  } finally {
    await s.stop();
  }
});
