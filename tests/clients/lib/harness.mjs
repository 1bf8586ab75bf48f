// Shared by the client tests: a herald-server child process (binary from $HERALD_SERVER) on a
// free loopback port, REST helpers and bounded waits. No sleeps stand in for synchronisation:
// every wait is for an event or a condition, with a timeout.

import { spawn } from "node:child_process";
import { before, after } from "node:test";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const artifacts = process.env.HERALD_ARTIFACTS || path.join(repo, "build/artifacts");

export function serverBinary() {
  const bin = process.env.HERALD_SERVER;
  if (!bin) throw new Error("set HERALD_SERVER to the herald-server binary (ctest does)");
  return bin;
}

// Resolves `promise`, or rejects after `ms` with `what` in the message.
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Resolves once `check()` (sync or async) is truthy, checking every `every` ms; rejects
// after `ms`.
export function until(check, { ms = 10000, what = "condition", every = 20 } = {}) {
  return within(
    new Promise((resolve, reject) => {
      const tick = async () => {
        try {
          const v = await check();
          if (v) return resolve(v);
        } catch (e) {
          return reject(e);
        }
        timer = setTimeout(tick, every);
      };
      let timer = setTimeout(tick, 0);
    }),
    ms,
    what
  );
}

// The next event `name` of a herald client that satisfies `pred`.
export function nextEvent(client, name, pred = () => true, ms = 10000) {
  let off;
  return within(
    new Promise((resolve) => {
      off = client.on(name, (v) => {
        if (pred(v)) resolve(v);
      });
    }),
    ms,
    `event ${name}`
  ).finally(() => off());
}

/**
 * herald-server as a child process. `start()` waits for its `event=listening` log line and
 * reads the port from it; `restart()` starts the same binary on the same port.
 */
export class Server {
  // `apiKey`: start with --api-key instead of --dev-auth (and send it on REST calls).
  constructor(args = [], { apiKey } = {}) {
    this.args = args;
    this.apiKey = apiKey;
    this.port = 0;
    this.proc = null;
    this.log = "";
  }

  async start(port = 0) {
    const auth = this.apiKey ? ["--api-key", this.apiKey] : ["--dev-auth"];
    const argv = [...auth, "--store", "memory", "--port", String(port), "--log-level", "info", "--rate-limit", "0", ...this.args];
    const proc = spawn(serverBinary(), argv, { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    const exited = once(proc, "exit").then(([code]) => {
      throw new Error(`herald-server exited (${code}) before listening:\n${this.log}`);
    });
    const listening = new Promise((resolve) => {
      const onData = (chunk) => {
        this.log += chunk;
        const m = /event=listening .*? port=(\d+)/.exec(this.log);
        if (m) resolve(Number(m[1]));
      };
      proc.stdout.setEncoding("utf8").on("data", onData);
      proc.stderr.setEncoding("utf8").on("data", onData);
    });
    this.port = await within(Promise.race([listening, exited]), 10000, "herald-server listening");
    exited.catch(() => {}); // a later exit is stop()'s business
    return this;
  }

  get http() {
    return `http://127.0.0.1:${this.port}`;
  }

  get ws() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  // Stops the process by its PID (SIGTERM, then SIGKILL after 5 s); resolves its exit code.
  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode;
    const exit = once(proc, "exit");
    process.kill(proc.pid, "SIGTERM");
    const kill = setTimeout(() => process.kill(proc.pid, "SIGKILL"), 5000);
    const [code] = await exit;
    clearTimeout(kill);
    return code;
  }

  async restart() {
    const port = this.port;
    await this.stop();
    return this.start(port);
  }

  async request(method, target, body) {
    const init = { method, headers: {} };
    if (this.apiKey) init.headers.Authorization = `Bearer ${this.apiKey}`;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(this.http + target, init);
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  }

  // POST /notify; throws unless 202.
  async publish(body) {
    const r = await this.request("POST", "/notify", body);
    if (r.status !== 202) throw new Error(`POST /notify -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  toUser(user, data, type = "test") {
    return this.publish({ to: { users: [user] }, type, data });
  }

  toTopic(topic, data, type = "test") {
    return this.publish({ to: { topic }, type, data });
  }
}

/** A Server started with `args` (and options), stopped by the caller. */
export async function startServer(args = [], options = {}) {
  return new Server(args, options).start();
}

/**
 * A herald-server taking user tokens signed with `secret` (HS256) and publishes with an API
 * key, or null after marking test `t` skipped when the binary was built without JWT.
 */
export async function startJwtServer(t, secret) {
  const s = new Server(["--jwt-secret", secret], { apiKey: "client-tests-key-0123456789" });
  try {
    return await s.start();
  } catch (e) {
    if (!/jwt/i.test(e.message)) throw e;
    t.skip("herald-server built without HERALD_WITH_JWT");
    return null;
  }
}

/** An HS256 JWT signed with `secret` (node:crypto), for the --jwt-secret tests. */
export async function hs256(claims, secret) {
  const { createHmac } = await import("node:crypto");
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

/**
 * For a test file: a herald-server and Debian's headless Chromium started before its tests
 * and stopped after them. Read `env.server` and `env.browser` inside the tests.
 */
export function serverAndBrowser() {
  const env = { server: null, browser: null };
  before(async () => {
    const { chromium } = await import("playwright-core");
    env.server = await startServer();
    env.browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"], headless: true });
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}
