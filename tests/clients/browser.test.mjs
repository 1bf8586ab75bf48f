// The JS client and the demo page in Debian's Chromium (headless, driven by playwright-core)
// against a real herald-server that serves them: the client in a page (import('/herald.js')),
// and the demo click-through (publish from one page, the other shows it live, the badge,
// mark read). Screenshots go to $HERALD_ARTIFACTS (default build/artifacts).

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { serverAndBrowser, startJwtServer, artifacts, hs256 } from "./lib/harness.mjs";

const T = { timeout: 60000 };
const env = serverAndBrowser();

before(async () => {
  await mkdir(artifacts, { recursive: true });
});

// A fresh page on the server's origin; page errors fail the test that reads `errors`.
async function openPage(target = "/") {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(env.server.http + target);
  return { page, errors, close: () => context.close() };
}

test("the client in a page: import('/herald.js'), notifications, a reconnect, history and read", T, async () => {
  const { page, errors, close } = await openPage("/");
  await page.evaluate(async () => {
    const { connect } = await import("/herald.js");
    window.got = [];
    window.events = [];
    const c = connect({ userId: "pia", minDelay: 20, maxDelay: 200 }); // url: this page's /ws
    c.on("notification", (n) => window.got.push(n.seq));
    c.on("connected", () => window.events.push("connected"));
    c.on("disconnected", () => window.events.push("disconnected"));
    window.client = c;
    await c.ready();
  });
  for (let i = 1; i <= 3; i++) await env.server.toUser("pia", { i });
  await page.waitForFunction(() => window.got.length === 3);
  // Cut the session from the page's side; it comes back and misses nothing.
  await page.evaluate(() => window.client.reconnect());
  await page.waitForFunction(() => window.events.filter((e) => e === "connected").length === 2);
  for (let i = 4; i <= 5; i++) await env.server.toUser("pia", { i });
  await page.waitForFunction(() => window.got.length === 5);
  assert.deepEqual(await page.evaluate(() => window.got), [1, 2, 3, 4, 5]);
  const result = await page.evaluate(async () => {
    const c = window.client;
    const page = await c.history("inbox", { limit: 2 });
    const marked = await c.markRead([5]);
    return { seqs: page.items.map((i) => i.seq), marked, unread: await c.unreadCount() };
  });
  assert.deepEqual(result, { seqs: [5, 4], marked: 1, unread: 4 });
  assert.deepEqual(errors, []);
  await close();
});

test("the demo page: publish from one page, the other shows it live, badge, mark read", T, async () => {
  const alice = await openPage("/");
  const bob = await openPage("/");
  await env.server.toUser("alice", { message: "an older one" });

  for (const [p, user] of [[alice.page, "alice"], [bob.page, "bob"]]) {
    await p.fill("#user", user);
    await p.click("#connect");
    await p.waitForSelector(`#status.on:has-text("online as ${user}")`);
  }
  // alice's inbox: the older entry from history, unread, counted on the bell.
  await alice.page.waitForSelector('#list li[data-seq="1"].unread');
  assert.equal(await alice.page.textContent("#badge"), "1");

  // bob publishes to alice through the form; alice's page shows it live on top.
  await bob.page.selectOption("#pub-kind", "user");
  await bob.page.fill("#pub-target", "alice");
  await bob.page.fill("#pub-message", "hi from bob");
  await bob.page.click("#pub-send");
  await bob.page.waitForSelector('#pub-result:has-text("sent to 1")');
  const live = alice.page.locator('#list li[data-seq="2"]');
  await live.waitFor();
  assert.match(await live.textContent(), /hi from bob/);
  assert.match(await live.textContent(), /from bob/);
  assert.equal(await alice.page.locator("#list li").first().getAttribute("data-seq"), "2");
  await alice.page.waitForFunction(() => document.querySelector("#badge").textContent === "2");
  await alice.page.screenshot({ path: path.join(artifacts, "demo.png"), fullPage: true });

  // Mark the new one read, then all: the badge goes to 1, then away.
  await live.locator(".mark-read").click();
  await alice.page.waitForFunction(() => document.querySelector("#badge").textContent === "1");
  assert.equal(await live.getAttribute("class"), "item new");
  await alice.page.click("#mark-all");
  await alice.page.waitForSelector("#badge", { state: "hidden" });
  assert.equal(await alice.page.locator("#list li.unread").count(), 0);

  // A room: alice joins room:1, bob publishes to it, alice sees it.
  await alice.page.fill("#join-topic", "room:1");
  await alice.page.click("#join");
  await alice.page.waitForSelector('#joined li:has-text("room:1")');
  await bob.page.selectOption("#pub-kind", "topic");
  await bob.page.fill("#pub-target", "room:1");
  await bob.page.fill("#pub-message", "room news");
  await bob.page.click("#pub-send");
  await alice.page.waitForSelector('#list li.topic:has-text("room news")');
  // Everyone: bob's own page shows the broadcast too.
  await bob.page.selectOption("#pub-kind", "everyone");
  await bob.page.fill("#pub-message", "to all");
  await bob.page.click("#pub-send");
  await alice.page.waitForSelector('#list li.topic:has-text("to all")');
  await bob.page.waitForSelector('#list li.topic:has-text("to all")');
  await alice.page.screenshot({ path: path.join(artifacts, "demo-room.png"), fullPage: true });

  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
  await alice.close();
  await bob.close();
});

test("a token in a real browser: subprotocols ['herald.token', token], REST with Bearer", T, async (t) => {
  const secret = "browser-test-secret-0123456789-abcdef";
  const s = await startJwtServer(t, secret);
  if (!s) return;
  try {
    const token = await hs256({ sub: "tia", exp: Math.floor(Date.now() / 1000) + 600 }, secret);
    const context = await env.browser.newContext();
    const page = await context.newPage();
    await page.goto(s.http + "/");
    const user = await page.evaluate(async (token) => {
      const { connect } = await import("/herald.js");
      window.got = [];
      window.client = connect({ token });
      window.client.on("notification", (n) => window.got.push(n.data));
      await window.client.ready();
      return window.client.user;
    }, token);
    assert.equal(user, "tia");
    await s.toUser("tia", { hello: 1 });
    await page.waitForFunction(() => window.got.length === 1);
    assert.equal(await page.evaluate(() => window.client.unreadCount()), 1);
    await context.close();
  } finally {
    await s.stop();
  }
});
