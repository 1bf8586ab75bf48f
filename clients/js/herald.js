// herald.js: the JavaScript client of herald (docs/clients.md, docs/protocol.md).
// One ES module without dependencies: browsers use their WebSocket and fetch; Node 20 passes
// a WebSocket constructor (e.g. the `ws` package) in the options.
//
//   import { connect } from "/herald.js";
//   const herald = connect({ url: "ws://127.0.0.1:8080/ws", userId: "alice" });
//   herald.on("notification", (n) => console.log(n.type, n.data));
//
// Delivery contract kept here: every entry of a stream (the inbox, each topic) reaches the
// application once, in seq order, across reconnects. The client remembers the last
// (seq, epoch) it handed over per stream, reconnects with it (`since`/`epoch` for the inbox,
// `topics=name@seq.epoch` for topics) and drops what it already handed over (a replay, or a
// redelivery with attempt > 1, which it acks again). When the server cannot continue a
// position it sends `reset`: the client emits "reset" and continues from the head.

const EVENTS = ["notification", "connected", "disconnected", "error", "reset"];

// Close codes after which reconnecting with the same credentials cannot help.
const FATAL_CLOSES = new Map([
  [1002, "protocol_error"],
  [4001, "unauthorized"],
  [4010, "disconnected"], // by an administrator: not even a fresh token reconnects
  [4011, "token_expired"],
]);

const DEFAULTS = {
  minDelay: 250, // ms: first reconnect delay (before jitter)
  maxDelay: 30000, // ms: the backoff stops growing here
  ackDelay: 20, // ms: acks are batched this long (cumulative, one frame)
  ackEvery: 64, // an ack goes out at once after this many unacked entries
  requestTimeout: 10000, // ms: history/read/read_all/unsubscribe replies
  pingInterval: 25000, // ms: a ping when idle; no frame for 2 intervals closes the socket
};

class HeraldError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = "HeraldError";
    this.code = code;
    Object.assign(this, extra);
  }
}

// "ws://host:8080/ws" -> "http://host:8080" (the REST API lives on the same port).
function restBase(wsUrl) {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  u.pathname = u.pathname.replace(/\/ws\/?$/, "");
  u.search = "";
  u.hash = "";
  return u.toString().replace(/\/$/, "");
}

// The page's own /ws when no url is given (the demo page is served by herald-server).
function defaultUrl() {
  if (typeof location === "undefined") throw new TypeError("herald: connect() needs a url");
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
}

// A topics= entry: name, name@seq or name@seq.epoch (the server splits at the last '@'; a
// trailing '@' is an empty position, so a name containing '@' is written "name@").
// Names with ',' cannot be listed (null).
function topicEntry(name, pos) {
  if (name.includes(",")) return null;
  if (!pos) return name.includes("@") ? `${name}@` : name;
  return `${name}@${pos.seq}.${pos.epoch}`;
}

class Client {
  constructor(options) {
    if (!options || (options.token == null && options.userId == null))
      throw new TypeError("herald: connect() needs a token or a userId");
    this._o = { ...DEFAULTS, ...options };
    this._url = options.url || defaultUrl();
    new URL(this._url); // throws now on a malformed url
    this._WebSocket = options.WebSocket || globalThis.WebSocket;
    this._fetch = options.fetch || globalThis.fetch?.bind(globalThis);
    if (!this._WebSocket) throw new TypeError("herald: no WebSocket: pass options.WebSocket");
    this._listeners = new Map(EVENTS.map((e) => [e, new Set()]));
    this.user = options.userId != null ? String(options.userId) : null;
    // Inbox position: the last seq handed to the application, and its epoch.
    this._inbox = options.since != null ? { seq: Number(options.since), epoch: options.epoch ?? null } : null;
    this._inboxStream = this.user != null ? `inbox:${this.user}` : null;
    // Topics by name: { handlers: Set, pos: {seq, epoch} | null, joined (its `subscribed`
    // frame on this socket), waiters (subscribe() promises), requested (asked on this socket) }.
    // A topic without handlers (e.g. joined by the server) goes to on("notification").
    this._topics = new Map();
    // Positions of other streams seen on this session ($broadcast): dedup within a session.
    this._streams = new Map();
    for (const t of options.topics || []) {
      const name = typeof t === "string" ? t : t.topic;
      const pos = typeof t === "object" && t.since != null ? { seq: Number(t.since), epoch: t.epoch } : null;
      this._topics.set(name, this._newTopic(pos));
    }
    // Topics left while their join was under way: their `subscribed` is answered with an
    // `unsubscribe`, their entries dropped until the `unsubscribed`.
    this._leaving = new Set();
    this._rid = 0;
    this._gen = 0; // the latest connection attempt; an older one still starting gives up
    this._pending = new Map(); // rid -> {frame, resolve, reject, timer, sent}
    this._socket = null;
    this._open = false; // welcome received on the current socket
    this._closed = false; // close() was called
    this._attempt = 0; // reconnect attempts since the last welcome
    this._reconnectTimer = null;
    this._ackTimer = null;
    this._pingTimer = null;
    this._lastFrameAt = 0;
    this._sessionAckable = 0; // highest inbox seq received on this socket
    this._sessionAcked = 0; // highest inbox seq acked on this socket
    this._unackedCount = 0;
    this._readyWaiters = [];
    this._openSocket();
  }

  // ---- public API --------------------------------------------------------------------

  /** Adds a listener; returns a function that removes it. */
  on(event, fn) {
    const set = this._listeners.get(event);
    if (!set) throw new TypeError(`herald: unknown event '${event}' (${EVENTS.join(", ")})`);
    set.add(fn);
    return () => set.delete(fn);
  }

  off(event, fn) {
    this._listeners.get(event)?.delete(fn);
  }

  /** True while a session is open (after its welcome). */
  get connected() {
    return this._open;
  }

  /** The last inbox position handed to the application: {seq, epoch} or null. */
  get position() {
    return this._inbox ? { ...this._inbox } : null;
  }

  /**
   * Joins `topic` (now, and again after every reconnect from the last seq seen); `handler`
   * gets its notifications (without one they go to on("notification")). Resolves with the
   * `subscribed` frame once joined; rejects on the server's error.
   */
  subscribe(topic, handler) {
    if (typeof topic !== "string" || topic === "") throw new TypeError("herald: topic name");
    let t = this._topics.get(topic);
    if (!t) {
      t = this._newTopic(null);
      this._topics.set(topic, t);
    }
    if (handler) t.handlers.add(handler);
    if (t.joined) return Promise.resolve(t.joined);
    const joined = new Promise((resolve, reject) => t.waiters.push({ resolve, reject }));
    if (this._open && !t.requested) this._sendSubscribe(topic, t);
    return joined;
  }

  /**
   * Removes `handler` (or every handler) of `topic`; when none is left the session leaves
   * the topic. A stored subscription (PUT /users/{id}/subscriptions/{topic}) stays stored:
   * the server joins it again at the next connect.
   */
  async unsubscribe(topic, handler) {
    const t = this._topics.get(topic);
    if (!t) return;
    if (handler) t.handlers.delete(handler);
    if (handler && t.handlers.size > 0) return;
    this._topics.delete(topic);
    for (const w of t.waiters) w.reject(new HeraldError("unsubscribed", `unsubscribed from ${topic}`));
    if (!t.requested) return;
    this._leaving.add(topic);
    if (t.joined) await this._leave(topic);
  }

  /**
   * A page of a stream, newest first: `stream` is "inbox" (the default), "inbox:<me>",
   * "topic:<name>" or a topic name. Resolves {items, nextBefore} (nextBefore 0: no more).
   */
  async history(stream = "inbox", { before, limit } = {}) {
    const frame = { op: "history", stream: this._streamName(stream) };
    if (before != null) frame.before = before;
    if (limit != null) frame.limit = limit;
    if (frame.stream == null) {
      await this.ready();
      frame.stream = this._inboxStream;
    }
    const r = await this._request(frame);
    return { stream: r.stream, items: r.items, nextBefore: r.next_before };
  }

  /** Marks inbox entries read by seq; resolves the number that changed. */
  async markRead(seqs) {
    const list = [...seqs].map(Number);
    let updated = 0;
    for (let i = 0; i < list.length; i += 1000)
      updated += (await this._request({ op: "read", seqs: list.slice(i, i + 1000) })).updated;
    return updated;
  }

  /** Marks the whole inbox read; resolves the number that changed. */
  async markAllRead() {
    return (await this._request({ op: "read_all" })).updated;
  }

  /** The unread count of the inbox (REST: GET /users/{id}/unread-count). */
  async unreadCount() {
    if (this.user == null) await this.ready();
    const r = await this.rest("GET", `/users/${encodeURIComponent(this.user)}/unread-count`);
    return r.unread;
  }

  /** A REST call on the same server with this client's credentials; resolves the JSON body. */
  async rest(method, path, body) {
    if (!this._fetch) throw new HeraldError("unavailable", "herald: no fetch: pass options.fetch");
    const headers = {};
    const token = await this._token();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await this._fetch(restBase(this._url) + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const e = json?.error || {};
      throw new HeraldError(e.code || "http_" + res.status, e.message || res.statusText, { status: res.status });
    }
    return json;
  }

  /** Resolves once a session is open (at once when one is). */
  ready() {
    if (this._open) return Promise.resolve();
    if (this._closed) return Promise.reject(new HeraldError("closed", "herald: client closed"));
    return new Promise((resolve, reject) => this._readyWaiters.push({ resolve, reject }));
  }

  /** Drops the current connection and connects again at once (e.g. after a network change). */
  reconnect() {
    if (this._closed) return;
    this._attempt = 0;
    this._dropSocket(1000, "reconnect", true, 0);
  }

  /** Closes the session for good; pending requests are rejected. */
  close() {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._reconnectTimer);
    this._dropSocket(1000, "closed by the client", false);
    this._rejectAll(new HeraldError("closed", "herald: client closed"));
  }

  // ---- connection --------------------------------------------------------------------

  _newTopic(pos) {
    return { handlers: new Set(), pos, joined: null, waiters: [], requested: false };
  }

  async _token() {
    const t = this._o.token;
    return typeof t === "function" ? await t() : t;
  }

  async _openSocket() {
    const gen = ++this._gen;
    let token;
    try {
      token = await this._token();
    } catch (e) {
      if (this._closed || gen !== this._gen) return;
      this._emit("error", new HeraldError("token", `herald: getting a token failed: ${e.message}`));
      return this._scheduleReconnect();
    }
    if (this._closed || gen !== this._gen) return;
    const u = new URL(this._url);
    if (this._o.userId != null) u.searchParams.set("userId", String(this._o.userId));
    if (token && this._o.tokenIn === "query") u.searchParams.set("token", token);
    if (this._inbox) {
      u.searchParams.set("since", String(this._inbox.seq));
      if (this._inbox.epoch != null) u.searchParams.set("epoch", this._inbox.epoch);
    }
    const listed = [];
    for (const [name, t] of this._topics) {
      t.joined = null;
      t.requested = false;
      const entry = topicEntry(name, t.pos);
      if (entry != null) {
        listed.push(entry);
        t.requested = true;
      }
    }
    if (listed.length) u.searchParams.set("topics", listed.join(","));
    const protocols = token && this._o.tokenIn !== "query" ? ["herald.token", token] : undefined;
    let ws;
    try {
      ws = protocols ? new this._WebSocket(u.toString(), protocols) : new this._WebSocket(u.toString());
    } catch (e) {
      this._emit("error", new HeraldError("connect", `herald: cannot open ${u.origin}: ${e.message}`));
      return this._scheduleReconnect();
    }
    this._socket = ws;
    this._open = false;
    this._sessionAckable = 0;
    this._sessionAcked = 0;
    this._unackedCount = 0;
    this._streams.clear();
    ws.onmessage = (e) => ws === this._socket && this._onFrame(e.data);
    ws.onclose = (e) => ws === this._socket && this._onClose(e.code, e.reason);
    ws.onerror = () => {}; // a close event follows; it says what to do
    ws.onopen = () => {
      this._lastFrameAt = Date.now();
      this._startPing();
    };
  }

  _onClose(code, reason) {
    const fatal = FATAL_CLOSES.get(code);
    const renewable = typeof this._o.token === "function" && code !== 1002 && code !== 4010;
    if (fatal) {
      this._emit(
        "error",
        new HeraldError(fatal, `herald: closed by the server: ${code} ${reason || ""}`.trim(), { closeCode: code })
      );
    }
    this._dropSocket(code, reason, !fatal || renewable);
  }

  // Forgets the current socket and, if `retry`, reconnects after the backoff (or `delay`).
  _dropSocket(code, reason, retry, delay) {
    const ws = this._socket;
    const wasOpen = this._open;
    if (wasOpen) this._flushAck(); // what the application has, on a socket still writable
    this._gen += 1; // a connection attempt still waiting for its token gives up
    this._socket = null;
    this._open = false;
    clearTimeout(this._ackTimer);
    this._ackTimer = null;
    clearInterval(this._pingTimer);
    this._pingTimer = null;
    if (ws) {
      ws.onmessage = ws.onclose = ws.onopen = null;
      ws.onerror = () => {};
      try {
        if (ws.readyState <= 1) ws.close(1000);
      } catch {
        /* already closing */
      }
    }
    // Requests in flight are sent again on the next session (all of them are idempotent),
    // but for joins and leaves: the next handshake lists the topics the client has.
    for (const [rid, p] of this._pending) {
      if (p.frame.op === "subscribe" || p.frame.op === "unsubscribe") {
        this._pending.delete(rid);
        clearTimeout(p.timer);
        p.resolve({ op: "unsubscribed", topic: p.frame.topic });
      } else {
        p.sent = false;
      }
    }
    this._leaving.clear();
    for (const t of this._topics.values()) {
      t.joined = null;
      t.requested = false;
    }
    if (retry && !this._closed) {
      const wait = delay ?? this._backoff();
      this._emit("disconnected", { code, reason, wasOpen, willReconnect: true, delay: wait });
      this._scheduleReconnect(wait);
    } else {
      this._emit("disconnected", { code, reason, wasOpen, willReconnect: false });
      if (!this._closed) this._giveUp();
    }
  }

  // Credentials were refused: nothing more to wait for.
  _giveUp() {
    this._closed = true;
    this._rejectAll(new HeraldError("closed", "herald: the server refused the credentials"));
  }

  _rejectAll(err) {
    for (const p of this._pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this._pending.clear();
    for (const t of this._topics.values()) for (const w of t.waiters) w.reject(err);
    for (const w of this._readyWaiters) w.reject(err);
    this._readyWaiters = [];
  }

  // Exponential backoff with jitter: a random delay in [d/2, d], d doubling up to maxDelay.
  _backoff() {
    const d = Math.min(this._o.maxDelay, this._o.minDelay * 2 ** this._attempt);
    this._attempt += 1;
    return Math.round(d / 2 + (Math.random() * d) / 2);
  }

  _scheduleReconnect(wait = this._backoff()) {
    if (this._closed) return;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = setTimeout(() => this._openSocket(), wait);
  }

  _startPing() {
    clearInterval(this._pingTimer);
    const every = this._o.pingInterval;
    if (!every) return;
    this._pingTimer = setInterval(() => {
      if (Date.now() - this._lastFrameAt > 2 * every) {
        // A connection that went silent (half-open TCP): give up on it and reconnect.
        this._dropSocket(1006, "no answer from the server", true);
      } else {
        this._send({ op: "ping" });
      }
    }, every);
  }

  _send(frame) {
    const ws = this._socket;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  // ---- frames ------------------------------------------------------------------------

  _onFrame(data) {
    this._lastFrameAt = Date.now();
    let f;
    try {
      f = JSON.parse(typeof data === "string" ? data : String(data));
    } catch {
      return this._emit("error", new HeraldError("invalid_json", "herald: unreadable frame from the server"));
    }
    switch (f.op) {
      case "welcome":
        return this._onWelcome(f);
      case "notification":
        return this._onNotification(f);
      case "reset":
        return this._onReset(f);
      case "subscribed":
        return this._onSubscribed(f);
      case "error":
        return this._onError(f);
      case "unsubscribed":
        return f.rid ? this._settle(f) : this._onLeft(f.topic);
      default: // replies: history, read, unsubscribed, pong, refreshed
        return this._settle(f);
    }
  }

  _onWelcome(f) {
    this.user = f.user;
    this._inboxStream = f.stream;
    // A new epoch (the history was lost): the server sends `reset` next if we gave a position.
    if (!this._inbox || this._inbox.epoch !== f.epoch) this._inbox = { seq: f.cursor, epoch: f.epoch };
    this._open = true;
    this._attempt = 0;
    this._startPing();
    // Topics that could not go into topics= (names with ',', or added while connecting).
    for (const [name, t] of this._topics) if (!t.requested) this._sendSubscribe(name, t);
    for (const p of this._pending.values()) if (!p.sent) p.sent = this._send(p.frame);
    const waiters = this._readyWaiters;
    this._readyWaiters = [];
    for (const w of waiters) w.resolve();
    this._emit("connected", {
      session: f.session,
      instance: f.instance,
      user: f.user,
      stream: f.stream,
      epoch: f.epoch,
      head: f.head,
      cursor: f.cursor,
      unread: f.unread,
    });
  }

  _sendSubscribe(name, t) {
    t.requested = true;
    const frame = { op: "subscribe", topic: name };
    if (t.pos) {
      frame.since = t.pos.seq;
      frame.epoch = t.pos.epoch;
    }
    this._request(frame, 0).catch(() => {}); // answered in _onSubscribed / _onError
  }

  _onSubscribed(f) {
    this._settle(f);
    if (this._leaving.has(f.topic)) return void this._leave(f.topic).catch(() => {});
    let t = this._topics.get(f.topic);
    if (!t) {
      // Joined by the server (a stored subscription): its entries go to on("notification").
      t = this._newTopic(null);
      this._topics.set(f.topic, t);
    }
    t.requested = true;
    t.joined = f;
    // Entries after `cursor` follow. Within one epoch never step back behind what the
    // application already has (that would hand entries over twice).
    if (!t.pos || t.pos.epoch !== f.epoch) t.pos = { seq: f.cursor, epoch: f.epoch };
    else t.pos.seq = Math.max(t.pos.seq, f.cursor);
    const waiters = t.waiters;
    t.waiters = [];
    for (const w of waiters) w.resolve(f);
  }

  // The server left a topic it had joined for a stored subscription (removed over REST).
  // One the application subscribed to itself is joined again from its position.
  _onLeft(topic) {
    const t = this._topics.get(topic);
    if (!t) return;
    t.joined = null;
    t.requested = false;
    if (t.handlers.size || t.waiters.length) this._sendSubscribe(topic, t);
    else this._topics.delete(topic);
  }

  async _leave(topic) {
    try {
      await this._request({ op: "unsubscribe", topic });
    } finally {
      this._leaving.delete(topic);
    }
  }

  _onReset(f) {
    const event = { stream: f.stream, epoch: f.epoch, head: f.head, reason: f.reason };
    if (f.stream === this._inboxStream) {
      this._inbox = { seq: f.head, epoch: f.epoch };
    } else if (f.stream.startsWith("topic:")) {
      event.topic = f.stream.slice(6);
      const t = this._topics.get(event.topic);
      if (t) t.pos = { seq: f.head, epoch: f.epoch };
      else this._streams.set(f.stream, { seq: f.head, epoch: f.epoch });
    }
    this._emit("reset", event);
  }

  _onNotification(f) {
    if (f.stream === this._inboxStream) return this._onInbox(f);
    const topic = f.stream.startsWith("topic:") ? f.stream.slice(6) : null;
    if (this._leaving.has(topic)) return;
    const t = topic != null ? this._topics.get(topic) : undefined;
    const pos = t ? t.pos : this._streams.get(f.stream);
    if (pos && pos.epoch === f.epoch && f.seq <= pos.seq) return; // already handed over
    if (t) t.pos = { seq: f.seq, epoch: f.epoch };
    else this._streams.set(f.stream, { seq: f.seq, epoch: f.epoch });
    const n = this._note(f, topic);
    if (t && t.handlers.size) {
      for (const h of [...t.handlers]) this._call(h, n);
    } else {
      this._emit("notification", n);
    }
  }

  _onInbox(f) {
    const pos = this._inbox;
    const fresh = !pos || pos.epoch !== f.epoch || f.seq > pos.seq;
    if (f.seq > this._sessionAckable) this._sessionAckable = f.seq;
    if (fresh) {
      this._inbox = { seq: f.seq, epoch: f.epoch };
      this._emit("notification", this._note(f, null));
    }
    // Acked whether new or a redelivery (attempt > 1) of one handed over before.
    this._unackedCount += 1;
    if (this._unackedCount >= this._o.ackEvery) this._flushAck();
    else if (!this._ackTimer) this._ackTimer = setTimeout(() => this._flushAck(), this._o.ackDelay);
  }

  _flushAck() {
    clearTimeout(this._ackTimer);
    this._ackTimer = null;
    this._unackedCount = 0;
    const seq = this._sessionAckable;
    if (seq > this._sessionAcked && this._send({ op: "ack", seq })) this._sessionAcked = seq;
  }

  _note(f, topic) {
    const n = { ...f };
    delete n.op;
    if (topic != null) n.topic = topic;
    return n;
  }

  _onError(f) {
    const pending = f.rid != null ? this._pending.get(f.rid) : undefined;
    const err = new HeraldError(f.code, f.message, { rid: f.rid });
    if (pending && pending.frame.op === "subscribe") {
      this._settle(f);
      const name = pending.frame.topic;
      const t = this._topics.get(name);
      if (t && t.joined) return; // joined meanwhile (the server joined it at open)
      if (t) {
        this._topics.delete(name);
        for (const w of t.waiters) w.reject(err);
      }
      return this._emit("error", err);
    }
    if (pending) return this._settle(f, err);
    // A topic of the handshake the server refused: the error names it in `topic`.
    const t = f.topic != null && this._topics.get(f.topic);
    if (t && !t.joined) {
      this._topics.delete(f.topic);
      for (const w of t.waiters) w.reject(err);
    }
    this._emit("error", err);
  }

  // ---- requests ----------------------------------------------------------------------

  // Sends `frame` with a rid (now if a session is open, else at the next welcome); resolves
  // the reply. `timeout` 0: no timeout (subscribe, answered whenever the session opens).
  _request(frame, timeout = this._o.requestTimeout) {
    if (this._closed) return Promise.reject(new HeraldError("closed", "herald: client closed"));
    const rid = "c" + ++this._rid;
    const full = { ...frame, rid };
    return new Promise((resolve, reject) => {
      const p = { frame: full, resolve, reject, timer: null, sent: false };
      if (timeout) {
        p.timer = setTimeout(() => {
          this._pending.delete(rid);
          reject(new HeraldError("timeout", `herald: no answer to ${frame.op} within ${timeout} ms`));
        }, timeout);
      }
      this._pending.set(rid, p);
      if (this._open) p.sent = this._send(full);
    });
  }

  _settle(f, err) {
    if (f.rid == null) return;
    const p = this._pending.get(f.rid);
    if (!p) return;
    this._pending.delete(f.rid);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(f);
  }

  _streamName(stream) {
    if (stream === "inbox") return this._inboxStream;
    if (stream.startsWith("inbox:") || stream.startsWith("topic:")) return stream;
    return "topic:" + stream;
  }

  _emit(event, value) {
    for (const fn of [...this._listeners.get(event)]) this._call(fn, value);
  }

  _call(fn, value) {
    try {
      fn(value);
    } catch (e) {
      // An application handler's exception must not break delivery of the next frames.
      setTimeout(() => {
        throw e;
      });
    }
  }
}

/**
 * Opens a herald session that reconnects and resumes by itself.
 * options: url ("ws://host:port/ws"; default: this page's /ws), userId (--dev-auth) or
 * token (a string, or a function returning one, called for each connect), tokenIn
 * ("protocol" (default): subprotocols ["herald.token", token]; "query": ?token=),
 * WebSocket (a constructor; default globalThis.WebSocket), fetch, topics (names, or
 * {topic, since, epoch}), since/epoch (an inbox position the application kept), minDelay,
 * maxDelay, ackDelay, requestTimeout, pingInterval.
 */
export function connect(options) {
  return new Client(options);
}

export { HeraldError };
