// The demo inbox of herald-server (GET /): a bell with the unread count, the inbox newest
// first, live arrivals on top, mark read, rooms, and a form that publishes (POST /notify).
// Everything goes through the client the server serves at /herald.js.
import { connect } from "/herald.js";

const $ = (id) => document.getElementById(id);
let client = null;
let unread = 0;
let nextBefore = 0;
const items = new Map(); // inbox seq -> <li>

function log(text) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $("log").prepend(li);
  while ($("log").children.length > 30) $("log").lastChild.remove();
}

function setUnread(n) {
  unread = Math.max(0, n);
  $("badge").textContent = String(unread);
  $("badge").hidden = unread === 0;
  $("bell").title = `${unread} unread`;
}

function setStatus(text, on) {
  $("status").textContent = text;
  $("status").className = "status " + (on ? "on" : "off");
}

function describe(n) {
  const d = n.data;
  if (d && typeof d === "object" && typeof d.message === "string") return d.message;
  if (d && typeof d === "object" && typeof d.title === "string") return d.title;
  return d == null ? "" : JSON.stringify(d);
}

// One list entry; `n` is a notification frame or a history item (same fields).
function render(n, topic) {
  const li = document.createElement("li");
  li.className = "item" + (topic ? " topic" : n.read ? "" : " unread");
  const head = document.createElement("div");
  head.className = "meta";
  const when = new Date(n.created_at).toLocaleString();
  head.textContent = `${topic ? "#" + topic : "#" + n.seq} · ${n.type}${n.sender ? " · from " + n.sender : ""} · ${when}`;
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = describe(n);
  li.append(head, body);
  if (!topic) {
    li.dataset.seq = String(n.seq);
    const mark = document.createElement("button");
    mark.type = "button";
    mark.className = "mark-read";
    mark.textContent = "Mark read";
    mark.hidden = !!n.read;
    mark.addEventListener("click", () => markRead(n.seq));
    li.append(mark);
  }
  return li;
}

function showRead(li) {
  li.classList.remove("unread");
  const b = li.querySelector(".mark-read");
  if (b) b.hidden = true;
}

async function markRead(seq) {
  const updated = await client.markRead([seq]);
  const li = items.get(seq);
  if (li) showRead(li);
  setUnread(unread - updated);
}

async function markAllRead() {
  await client.markAllRead();
  for (const li of items.values()) showRead(li);
  setUnread(await client.unreadCount());
}

// Appends a history page (newest first) below what is shown.
async function loadPage(before) {
  const page = await client.history("inbox", { limit: 20, before: before || undefined });
  for (const item of page.items) {
    if (items.has(item.seq)) continue;
    const li = render(item);
    items.set(item.seq, li);
    $("list").append(li);
  }
  nextBefore = page.nextBefore;
  $("more").hidden = !nextBefore;
  $("empty").hidden = items.size > 0;
}

async function reload() {
  items.clear();
  $("list").replaceChildren();
  await loadPage(0);
  setUnread(await client.unreadCount());
}

function onNotification(n) {
  if (n.topic) {
    $("list").prepend(render(n, n.topic));
    $("empty").hidden = true;
    return;
  }
  if (items.has(n.seq)) return; // already listed by the history page
  const li = render(n);
  li.classList.add("new");
  items.set(n.seq, li);
  $("list").prepend(li);
  $("empty").hidden = true;
  setUnread(unread + 1);
}

function start(event) {
  event.preventDefault();
  if (client) client.close();
  const token = $("token").value.trim();
  const userId = $("user").value.trim();
  client = connect(token ? { token } : { userId });
  let first = true;
  client.on("connected", (w) => {
    setStatus(`online as ${w.user}`, true);
    $("who").textContent = `of ${w.user}`;
    for (const id of ["bell", "mark-all", "join"]) $(id).disabled = false;
    log(`connected (session ${w.session}, ${w.unread} unread)`);
    if (first) {
      first = false;
      reload().catch((e) => log(`history: ${e.message}`));
    }
  });
  client.on("disconnected", (d) => {
    setStatus(d.willReconnect ? "reconnecting…" : "offline", false);
    log(`disconnected (${d.code}${d.willReconnect ? `, retry in ${d.delay} ms` : ""})`);
  });
  client.on("error", (e) => log(`error ${e.code}: ${e.message}`));
  client.on("reset", (r) => {
    log(`reset of ${r.stream} (${r.reason}): reloading`);
    if (!r.topic) reload().catch((e) => log(`history: ${e.message}`));
  });
  client.on("notification", onNotification);
}

async function publish(event) {
  event.preventDefault();
  const kind = $("pub-kind").value;
  const target = $("pub-target").value.trim();
  const to = kind === "user" ? { users: [target] } : kind === "topic" ? { topic: target } : { broadcast: true };
  const body = { to, type: $("pub-type").value.trim() || "message", data: { message: $("pub-message").value } };
  if (client && client.user) body.sender = client.user;
  const headers = { "Content-Type": "application/json" };
  const token = $("token").value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const res = await fetch("/notify", { method: "POST", headers, body: JSON.stringify(body) });
    const answer = await res.json();
    $("pub-result").textContent = res.ok
      ? `sent to ${answer.recipients} stream(s)`
      : `${res.status}: ${answer.error ? answer.error.message : ""}`;
  } catch (e) {
    $("pub-result").textContent = `failed: ${e.message}`;
  }
}

async function join(event) {
  event.preventDefault();
  const topic = $("join-topic").value.trim();
  if (!client || !topic) return;
  try {
    await client.subscribe(topic);
    const li = document.createElement("li");
    li.textContent = topic;
    $("joined").append(li);
    log(`joined ${topic}`);
  } catch (e) {
    log(`join ${topic}: ${e.message}`);
  }
}

$("login").addEventListener("submit", start);
$("publish").addEventListener("submit", publish);
$("rooms").addEventListener("submit", join);
$("mark-all").addEventListener("click", () => markAllRead().catch((e) => log(e.message)));
$("more").addEventListener("click", () => loadPage(nextBefore).catch((e) => log(e.message)));
$("pub-kind").addEventListener("change", () => ($("pub-target").disabled = $("pub-kind").value === "everyone"));
