// Server-Sent Events in Debian's Chromium: the browser's own EventSource against a real
// herald-server (GET /sse), requests POSTed to the stream's path, and a drop after which the
// browser reconnects by itself with Last-Event-ID and misses nothing, duplicates nothing.

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { serverAndBrowser, startServer } from "./lib/harness.mjs";

const T = { timeout: 60000 };
const env = serverAndBrowser();

// A TCP proxy in front of herald-server whose connections the test can cut (a network
// drop the browser sees as such).
async function startProxy(port) {
  const sockets = new Set();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(port, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  return {
    http: `http://127.0.0.1:${proxy.address().port}`,
    cut: () => sockets.forEach((s) => s.destroy()),
    close: () => new Promise((resolve) => { proxy.close(resolve); sockets.forEach((s) => s.destroy()); }),
  };
}

// A page on `origin` (the server's by default) with an EventSource collecting frames in
// window.frames_.
async function openStream(query, origin = env.server.http) {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  await page.goto(origin + "/");
  await page.evaluate((q) => {
    window.frames_ = [];
    window.opens = 0;
    window.es = new EventSource("/sse?" + q);
    window.es.onopen = () => window.opens++;
    window.es.onmessage = (e) => {
      const f = JSON.parse(e.data);
      f.eventId = e.lastEventId;
      window.frames_.push(f);
    };
  }, query);
  await page.waitForFunction(() => window.frames_.some((f) => f.op === "welcome"));
  return { page, context };
}

const inboxSeqs = (page) =>
  page.evaluate(() => window.frames_.filter((f) => f.op === "notification" && f.stream.startsWith("inbox:")).map((f) => f.seq));

test("EventSource: notifications as events, an ack POSTed to the stream's path, a reply on the stream", T, async () => {
  const { page, context } = await openStream("userId=eva");
  for (let i = 1; i <= 3; i++) await env.server.toUser("eva", { i });
  await page.waitForFunction(() => window.frames_.filter((f) => f.op === "notification").length === 3);
  assert.deepEqual(await inboxSeqs(page), [1, 2, 3]);
  const last = await page.evaluate(() => window.frames_.at(-1).eventId);
  assert.match(last, /^3\.\d+$/);
  const status = await page.evaluate(async () => {
    const post = window.frames_.find((f) => f.op === "sse").post;
    const send = (frame) =>
      fetch(post, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(frame) });
    const acked = await send({ op: "ack", seq: 3 });
    await send({ op: "history", stream: "inbox:eva", limit: 2, rid: "h1" });
    return acked.status;
  });
  assert.equal(status, 202);
  await page.waitForFunction(() => window.frames_.some((f) => f.op === "history" && f.rid === "h1"));
  // The ack reached the store: a new session continues after 3.
  const { page: second, context: c2 } = await openStream("userId=eva");
  const cursor = await second.evaluate(() => window.frames_.find((f) => f.op === "welcome").cursor);
  assert.equal(cursor, 3);
  await c2.close();
  await context.close();
});

test("EventSource: after a drop the browser resumes with Last-Event-ID - inbox and topic, nothing twice", T, async () => {
  await env.server.toTopic("room:9", { before: true });
  const proxy = await startProxy(env.server.port);
  const { page, context } = await openStream("userId=ivo&topics=room:9", proxy.http);
  await env.server.toUser("ivo", { n: 1 });
  await env.server.toTopic("room:9", { n: 1 });
  await page.waitForFunction(() => window.frames_.filter((f) => f.op === "notification").length === 2);
  // The stream breaks; what is published before the browser reconnects (1 s: the stream's
  // retry) must come after the reconnect.
  proxy.cut();
  for (let i = 2; i <= 3; i++) {
    await env.server.toUser("ivo", { n: i });
    await env.server.toTopic("room:9", { n: i });
  }
  await page.waitForFunction(() => window.opens >= 2, null, { timeout: 20000 });
  await page.waitForFunction(() => window.frames_.filter((f) => f.op === "notification").length === 6);
  // No acks were sent: without Last-Event-ID the inbox would replay from 0.
  assert.deepEqual(await inboxSeqs(page), [1, 2, 3]);
  const topic = await page.evaluate(() =>
    window.frames_.filter((f) => f.op === "notification" && f.stream === "topic:room:9").map((f) => f.seq));
  assert.deepEqual(topic, [2, 3, 4]);
  await context.close();
  await proxy.close();
});

test("EventSource: an id the server refuses at reconnect is cleared, and the browser's next attempt opens", T, async () => {
  // With at most 2 topics per session, a stream opened with topics=a that left a and joined
  // b and c holds an id naming b and c: with the URL's a that is 3 at the reconnect.
  const small = await startServer(["--max-session-topics", "2"]);
  const proxy = await startProxy(small.port);
  const { page, context } = await openStream("userId=uma&topics=a", proxy.http);
  await page.evaluate(async () => {
    const post = window.frames_.find((f) => f.op === "sse").post;
    const send = (frame) =>
      fetch(post, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(frame) });
    await send({ op: "unsubscribe", topic: "a" });
    await send({ op: "subscribe", topic: "b" });
    await send({ op: "subscribe", topic: "c" });
  });
  await page.waitForFunction(() => window.frames_.some((f) => f.op === "subscribed" && f.topic === "c"));
  const held = await page.evaluate(() => window.frames_.filter((f) => f.eventId).at(-1).eventId);
  assert.match(held, /,b@\d+\.\d+,c@\d+\.\d+$/);
  proxy.cut();
  // The reconnect with that id is refused (1002) and the close event clears the id; the
  // browser's next attempt goes without it and is welcomed, joined to the URL's topic.
  await page.waitForFunction(() => window.frames_.filter((f) => f.op === "welcome").length === 2, null, { timeout: 20000 });
  const closes = await page.evaluate(() =>
    window.frames_.filter((f) => f.op === "close").map((f) => [f.code, f.eventId]));
  assert.deepEqual(closes, [[1002, ""]]);
  await page.waitForFunction(() => {
    const last = window.frames_.findLastIndex((f) => f.op === "welcome");
    return window.frames_.slice(last).some((f) => f.op === "subscribed" && f.topic === "a");
  });
  await context.close();
  await proxy.close();
  await small.stop();
});
