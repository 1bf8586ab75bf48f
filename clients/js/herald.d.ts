// Type declarations of herald.js, the JavaScript client of herald (docs/clients.md).

/** An inbox position or a topic position: a seq within an epoch (a decimal string). */
export interface Position {
  seq: number;
  epoch: string | null;
}

/** The fields of a stream entry, in notifications and history items alike. */
export interface Entry {
  seq: number;
  /** A 64-bit Snowflake as a decimal string. */
  id: string;
  type: string;
  data: unknown;
  sender?: string;
  /** Unix milliseconds. */
  created_at: number;
  expires_at?: number;
}

export interface Notification extends Entry {
  /** "inbox:<user>", "topic:<name>" or "topic:$broadcast". */
  stream: string;
  /** The topic name for a topic stream (without "topic:"). */
  topic?: string;
  epoch: string;
  /** Present on redeliveries only; the client never hands an entry over twice. */
  attempt?: number;
}

export interface HistoryItem extends Entry {
  /** Inbox entries only. */
  read?: boolean;
}

export interface HistoryPage {
  stream: string;
  /** Newest first. */
  items: HistoryItem[];
  /** The `before` of the next page; 0 when there is none. */
  nextBefore: number;
}

export interface Connected {
  session: string;
  instance: string;
  user: string;
  stream: string;
  epoch: string;
  head: number;
  cursor: number;
  unread: number;
}

export interface Disconnected {
  code: number;
  reason: string;
  /** A session had been open on the socket that closed. */
  wasOpen: boolean;
  willReconnect: boolean;
  /** ms until the next attempt, when willReconnect. */
  delay?: number;
}

export interface Reset {
  stream: string;
  topic?: string;
  epoch: string;
  head: number;
  reason: "epoch_changed" | "ahead_of_stream" | "trimmed" | string;
}

export interface Subscribed {
  op: "subscribed";
  rid?: string;
  topic: string;
  stream: string;
  epoch: string;
  head: number;
  cursor: number;
}

export declare class HeraldError extends Error {
  /** The server's error code (protocol.md), "unauthorized" / "disconnected" /
   * "token_expired" / "protocol_error" for a refusing close, "timeout", "closed", or
   * "http_<status>". */
  code: string;
  rid?: string;
  status?: number;
  closeCode?: number;
}

export type TopicOption = string | { topic: string; since?: number; epoch?: string };

export interface ConnectOptions {
  /** "ws://host:port/ws"; default: the /ws of the page's own origin. */
  url?: string;
  /** Development authentication (herald-server --dev-auth). */
  userId?: string | number;
  /** A user token, or a function giving one (called before every connect). */
  token?: string | (() => string | Promise<string>);
  /** Where the token goes: "protocol" (subprotocols ["herald.token", token], default) or "query". */
  tokenIn?: "protocol" | "query";
  /** A WebSocket constructor (Node: the `ws` package); default globalThis.WebSocket. */
  WebSocket?: unknown;
  /** A fetch function for the REST calls; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Topics to join at the first connect (their entries go to on("notification")). */
  topics?: TopicOption[];
  /** An inbox position the application kept: resume after it. */
  since?: number;
  epoch?: string;
  /** Reconnect backoff: first delay and ceiling, ms (jittered). Defaults 250 and 30000. */
  minDelay?: number;
  maxDelay?: number;
  /** Acks are batched this long, ms (default 20). */
  ackDelay?: number;
  /** Timeout of history/read/unsubscribe requests, ms (default 10000). */
  requestTimeout?: number;
  /** A ping when idle, ms; 2 silent intervals drop the socket (default 25000; 0: off). */
  pingInterval?: number;
}

export interface Events {
  notification: Notification;
  connected: Connected;
  disconnected: Disconnected;
  error: HeraldError;
  reset: Reset;
}

export interface HeraldClient {
  /** The user id (from the options, or the welcome frame once connected with a token). */
  readonly user: string | null;
  readonly connected: boolean;
  /** The last inbox position handed to the application. */
  readonly position: Position | null;
  on<E extends keyof Events>(event: E, fn: (value: Events[E]) => void): () => void;
  off<E extends keyof Events>(event: E, fn: (value: Events[E]) => void): void;
  subscribe(topic: string, handler?: (n: Notification) => void): Promise<Subscribed>;
  unsubscribe(topic: string, handler?: (n: Notification) => void): Promise<void>;
  history(stream?: string, options?: { before?: number; limit?: number }): Promise<HistoryPage>;
  unreadCount(): Promise<number>;
  markRead(seqs: Iterable<number>): Promise<number>;
  markAllRead(): Promise<number>;
  /** A REST call with this client's credentials; resolves the JSON body. */
  rest(method: string, path: string, body?: unknown): Promise<any>;
  ready(): Promise<void>;
  reconnect(): void;
  close(): void;
}

export declare function connect(options: ConnectOptions): HeraldClient;
