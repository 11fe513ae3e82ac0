/**
 * A reconnecting WebSocket to one party room, shared by the room client and the lobby client.
 * Built on partysocket, adding what it lacks for agentroom:
 *
 *  - Jittered backoff. partysocket's own schedule is deterministic, so every socket dropped by a
 *    deploy would come back at the same instants. We set its delays to zero and wait inside the
 *    URL provider instead: partysocket awaits `query()` (it may be async) before every connect, so
 *    that is the one hook that runs before each attempt, and awaiting a full-jitter delay there
 *    turns its schedule into ours without forking it. The same await recomputes the query, so
 *    every reconnect carries the latest cursor, and it is where an offline browser waits for the
 *    network instead of burning attempts.
 *  - Telling "go away" from "try again". A refused upgrade (401, 404) reaches a browser as a bare
 *    close 1006, the same as a network error. After an attempt that never opened we ask the HTTP
 *    API once (`probe`), whose status says whether retrying can ever help. Close codes 4401,
 *    4403, 4404, 4410 and 4411 from the room are final too.
 *  - A heartbeat. The room answers "ping" with "pong" without waking (auto-response); a socket
 *    that stays silent past the timeout is treated as dead and replaced, which catches half-open
 *    TCP connections that would otherwise hang "open" forever.
 *  - An explicit state for the UI: connecting / open (catching up or live) / reconnecting with
 *    attempt and delay / offline / closed with a reason.
 */
import { PartySocket } from "partysocket";
import { Backoff, type BackoffOptions } from "./backoff.ts";

/** Why a connection ended for good. */
export type CloseReason =
  | "closed" // close() was called
  | "unauthorized" // bad, expired or other-session token (HTTP 401 / close 4401)
  | "forbidden" // close 4403 (e.g. an agent on an archived session)
  | "not_found" // no such session (HTTP 404 / close 4404)
  | "deleted" // the session was deleted while connected (close 4410)
  | "revoked"; // the owner revoked the link this connection used (HTTP 401 `revoked` / close 4411)

export type ConnectionState =
  | { status: "connecting"; attempt: number }
  /** `live` is false while the room is catching this client up (replay or snapshot). */
  | { status: "open"; live: boolean }
  | {
      status: "reconnecting";
      /** 1 for the first retry after a drop. */
      attempt: number;
      nextDelayMs: number;
      /** Epoch ms of the next attempt, for a "next try in N s" countdown. */
      retryAt: number;
      lastClose?: { code: number; reason: string };
    }
  | { status: "offline" }
  | { status: "closed"; reason: CloseReason; message: string; code?: number };

export interface FatalClose {
  reason: Exclude<CloseReason, "closed">;
  message: string;
  code?: number;
}

/** Close codes after which reconnecting cannot help. */
export const FATAL_CLOSE_CODES: Readonly<Record<number, FatalClose["reason"]>> = {
  4401: "unauthorized",
  4403: "forbidden",
  4404: "not_found",
  4410: "deleted",
  4411: "revoked",
};

/** Maps an HTTP status from a probe to a final reason, or null when retrying may help. */
export function fatalFromHttpStatus(status: number): FatalClose["reason"] | null {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 410) return "deleted";
  return null;
}

export interface HeartbeatOptions {
  /** Send a ping after this long without any message. */
  intervalMs: number;
  /** Declare the socket dead when nothing arrives this long after a ping. */
  timeoutMs: number;
}

/** A dead socket is noticed within ~15 s; pings cost the room nothing (answered without waking it). */
export const DEFAULT_HEARTBEAT: HeartbeatOptions = { intervalMs: 10_000, timeoutMs: 5_000 };
export const PING = "ping";
export const PONG = "pong";

type QueryParams = Record<string, string | undefined>;

/** A WebSocket constructor (the browser's, Node 22's global, or `ws`). */
export type WebSocketLike = unknown;

export interface ConnectionOptions {
  /** "127.0.0.1:8787", "http://127.0.0.1:8787" or "https://agentroom.example.workers.dev". */
  host: string;
  /** partyserver's party name, e.g. "session-room" or "lobby". */
  party: string;
  room: string;
  /** Sent as the subprotocol `t.<token>` (never in the URL); read again on every attempt. */
  token: () => string;
  /** Extra query parameters, computed again before every attempt (e.g. the cursor). */
  query?: () => QueryParams;
  /** WebSocket implementation; defaults to the global one (browsers, Node ≥ 22). */
  WebSocket?: WebSocketLike;
  backoff?: BackoffOptions;
  /** How long a handshake may take before the attempt counts as failed. */
  connectionTimeoutMs?: number;
  heartbeat?: HeartbeatOptions | false;
  /** Asked after an attempt that never opened: a final reason, or null to keep retrying. */
  probe?: (() => Promise<FatalClose | null>) | false;
  /** Follow the browser's online/offline events (where they exist). Default true. */
  watchNetwork?: boolean;
  /** Connection id (partyserver's `_pk`); random by default. Not an identity. */
  id?: string;
  /**
   * Use a new connection id for every attempt. A half-open socket the server has not noticed yet
   * keeps the old id, and its late close must not be taken for the new connection's (the
   * runner's lease). People keep one id per tab by default, so presence stays stable.
   */
  newIdPerAttempt?: boolean;
}

export interface ConnectionHandlers {
  message(data: string): void;
  open(): void;
  /** The socket went away (any reason); `final` when no reconnect will follow. */
  close(info: { code: number; reason: string; final: boolean }): void;
  state(state: ConnectionState): void;
}

/** The base URL for HTTP calls to the same Worker. */
export function httpBase(host: string): string {
  if (/^https?:\/\//.test(host)) return host.replace(/\/+$/, "");
  if (/^wss:\/\//.test(host)) return "https://" + host.slice(6).replace(/\/+$/, "");
  if (/^ws:\/\//.test(host)) return "http://" + host.slice(5).replace(/\/+$/, "");
  return (isLocalHost(host) ? "http://" : "https://") + host.replace(/\/+$/, "");
}

function isLocalHost(host: string): boolean {
  return /^(localhost|127\.|\[::1\]|0\.0\.0\.0|10\.|192\.168\.)/.test(host);
}

function wsProtocolOf(host: string): "ws" | "wss" {
  if (/^(https|wss):\/\//.test(host)) return "wss";
  if (/^(http|ws):\/\//.test(host)) return "ws";
  return isLocalHost(host) ? "ws" : "wss";
}

function noop(): void {}

function newConnectionId(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The browser's network state, where there is one. */
function browserOnline(): boolean | undefined {
  if (typeof window === "undefined" || typeof navigator === "undefined") return undefined;
  return typeof navigator.onLine === "boolean" ? navigator.onLine : undefined;
}

/** Sleep that can be cut short (network back, retryNow, close). */
class Waiter {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private wake: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.wake = undefined;
        resolve();
      };
      this.timer = setTimeout(() => this.wake?.(), ms);
    });
  }

  /** Waits until woken, however long that takes. */
  park(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
    });
  }

  interrupt(): void {
    this.wake?.();
  }
}

export class Connection {
  private readonly opts: ConnectionOptions;
  private readonly handlers: ConnectionHandlers;
  private readonly backoff: Backoff;
  private readonly waiter = new Waiter();
  private readonly socket: PartySocket;
  private current: ConnectionState = { status: "connecting", attempt: 0 };
  /** A drop happened; the next attempt waits a backoff delay. */
  private retryPending = false;
  /** The next drop is our own doing (reconnect()): connect again without waiting. */
  private immediateNext = false;
  /** The attempt that just ended never opened (so ask the probe why). */
  private failedBeforeOpen = false;
  private openedThisAttempt = false;
  private reachedLive = false;
  private stopped = false;
  /** Closed on purpose because the browser went offline; reconnect when it is back. */
  private suspended = false;
  private lastMessageAt = 0;
  private pingSentAt = 0;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private lastClose: { code: number; reason: string } | undefined;
  private removeNetworkListeners: () => void;
  private attemptReady: Promise<void> = Promise.resolve();

  constructor(opts: ConnectionOptions, handlers: ConnectionHandlers) {
    this.opts = opts;
    this.handlers = handlers;
    this.backoff = new Backoff(opts.backoff);
    const host = opts.host.replace(/^(https?|wss?):\/\//, "").replace(/\/+$/, "");
    this.socket = new PartySocket({
      host,
      protocol: wsProtocolOf(opts.host),
      party: opts.party,
      room: opts.room,
      id: opts.id,
      WebSocket: opts.WebSocket,
      // Our own schedule (see the file comment): partysocket adds no delay of its own.
      minReconnectionDelay: 0,
      maxReconnectionDelay: 0,
      connectionTimeout: opts.connectionTimeoutMs ?? 10_000,
      maxEnqueuedMessages: 0, // never buffer sends while closed: callers decide what to resend
      // partysocket asks for the URL (our query) and then the protocols at the start of an
      // attempt; the token is read only once the wait is over, so a token replaced meanwhile
      // (setToken) is the one sent.
      query: () => {
        const ready = this.beforeAttempt();
        this.attemptReady = ready.then(noop, noop);
        return ready;
      },
      protocols: () => this.attemptReady.then(() => ["agentroom", `t.${opts.token()}`]),
      shouldReconnectOnClose: (e) => FATAL_CLOSE_CODES[e.code] === undefined,
    });
    this.socket.onopen = () => this.onOpen();
    this.socket.onmessage = (e: MessageEvent) => {
      this.lastMessageAt = Date.now();
      this.pingSentAt = 0;
      const data = e.data;
      if (typeof data !== "string" || data === PONG) return;
      this.handlers.message(data);
    };
    this.socket.onclose = (e) => this.onClose(e.code, e.reason);
    this.removeNetworkListeners = this.watchNetwork();
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** True when frames can be sent now. */
  get isOpen(): boolean {
    return this.current.status === "open" && this.socket.readyState === 1;
  }

  /** partyserver's connection id (the `_pk` parameter). */
  get id(): string {
    return this.socket.id;
  }

  /** Sends now, or returns false when the socket is not open (nothing is buffered). */
  send(data: string): boolean {
    if (!this.isOpen) return false;
    return this.socket.send(data);
  }

  /** The room finished catching this client up. */
  markLive(): void {
    this.reachedLive = true;
    if (this.current.status === "open" && !this.current.live) this.setState({ status: "open", live: true });
  }

  /** The client is being caught up again (a resync after a gap): not live until markLive(). */
  markCatchingUp(): void {
    if (this.current.status === "open" && this.current.live) this.setState({ status: "open", live: false });
  }

  /** Skips the rest of a backoff wait (a "retry now" button, the tab becoming visible). */
  retryNow(): void {
    if (this.stopped) return;
    this.backoff.reset();
    this.waiter.interrupt();
  }

  /** Drops the current socket and connects again at once (keeps no backoff). */
  reconnect(): void {
    if (this.stopped) {
      // Closed because the room refused us (e.g. an expired token): a caller that fixed the cause
      // (setToken) may start again. A close() by the caller stays final.
      const s = this.current;
      if (s.status !== "closed" || s.reason === "closed") return;
      this.stopped = false;
      this.suspended = false;
      this.retryPending = false;
      this.failedBeforeOpen = false;
      this.backoff.reset();
      this.removeNetworkListeners = this.watchNetwork();
      this.current = { status: "connecting", attempt: 0 };
      this.handlers.state(this.current);
      // The refused attempt may still be settling inside partysocket (it holds a lock until it
      // sees the close); start the new one after it has.
      setTimeout(() => {
        if (!this.stopped) this.socket.reconnect();
      }, 0);
      return;
    }
    this.suspended = false;
    this.retryPending = false;
    // Only a live socket reports a close for reconnect() to see; a closed one just connects.
    const rs = this.socket.readyState;
    this.immediateNext = rs === 0 || rs === 1;
    this.backoff.reset();
    this.waiter.interrupt();
    this.socket.reconnect();
  }

  /** Ends the connection for good. */
  close(reason: CloseReason = "closed", message = "closed by the client", code?: number): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopHeartbeat();
    this.removeNetworkListeners();
    this.setState({ status: "closed", reason, message, ...(code !== undefined ? { code } : {}) });
    this.waiter.interrupt();
    this.socket.close(1000, reason);
  }

  // ───────────────────────────── attempts ─────────────────────────────

  /** Runs before every connect attempt (partysocket awaits it): probe, wait, then the query. */
  private async beforeAttempt(): Promise<QueryParams> {
    if (this.retryPending && !this.stopped) {
      this.retryPending = false;
      if (this.failedBeforeOpen && this.opts.probe) {
        const fatal = await this.opts.probe().catch(() => null);
        if (fatal && !this.stopped) this.close(fatal.reason, fatal.message, fatal.code);
      }
      if (!this.stopped) await this.waitForNetwork();
      if (!this.stopped && !this.suspended) {
        const delay = this.backoff.next();
        this.setState({
          status: "reconnecting",
          attempt: this.backoff.attempt,
          nextDelayMs: delay,
          retryAt: Date.now() + delay,
          ...(this.lastClose ? { lastClose: this.lastClose } : {}),
        });
        await this.waiter.sleep(delay);
      }
    }
    if (!this.stopped) this.setState({ status: "connecting", attempt: this.backoff.attempt });
    this.openedThisAttempt = false;
    return this.opts.query?.() ?? {};
  }

  private async waitForNetwork(): Promise<void> {
    while (browserOnline() === false && !this.stopped) {
      this.setState({ status: "offline" });
      await this.waiter.park();
    }
  }

  private onOpen(): void {
    if (this.stopped) return;
    this.openedThisAttempt = true;
    this.reachedLive = false;
    this.lastMessageAt = Date.now();
    this.pingSentAt = 0;
    this.setState({ status: "open", live: false });
    this.startHeartbeat();
    this.handlers.open();
  }

  private onClose(code: number, reason: string): void {
    this.stopHeartbeat();
    if (this.stopped) {
      this.handlers.close({ code, reason, final: true });
      return;
    }
    this.lastClose = { code, reason };
    const fatal = FATAL_CLOSE_CODES[code];
    if (fatal) {
      this.close(fatal, reason || fatal, code);
      this.handlers.close({ code, reason, final: true });
      return;
    }
    // A connection that got as far as live was healthy: the next drop starts from the first window.
    if (this.reachedLive) this.backoff.reset();
    this.failedBeforeOpen = !this.openedThisAttempt;
    this.openedThisAttempt = false;
    this.reachedLive = false;
    if (this.opts.newIdPerAttempt) {
      // partysocket reads the URL provider after this handler returns, so the next attempt uses it.
      this.socket.updateProperties({ id: newConnectionId() });
    }
    if (this.suspended) {
      this.setState({ status: "offline" });
    } else if (this.immediateNext) {
      this.immediateNext = false;
    } else {
      // The state turns to "reconnecting" (with its delay) as soon as the next attempt starts.
      this.retryPending = true;
    }
    this.handlers.close({ code, reason, final: false });
  }

  // ───────────────────────────── heartbeat ─────────────────────────────

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const hb = this.opts.heartbeat === undefined ? DEFAULT_HEARTBEAT : this.opts.heartbeat;
    if (!hb) return;
    const tick = Math.max(250, Math.min(hb.intervalMs, hb.timeoutMs) / 2);
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      if (this.pingSentAt && now - this.pingSentAt >= hb.timeoutMs) {
        // Silent past the timeout: half-open or stalled. Replace it.
        this.pingSentAt = 0;
        this.lastClose = { code: 4000, reason: "heartbeat timeout" };
        this.socket.reconnect(4000, "heartbeat timeout");
        return;
      }
      if (!this.pingSentAt && now - this.lastMessageAt >= hb.intervalMs) {
        this.pingSentAt = now;
        this.socket.send(PING);
      }
    }, tick);
    // In Node, a heartbeat alone must not keep a process alive (the socket does that while open).
    (this.heartbeatTimer as { unref?: () => void }).unref?.();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  // ───────────────────────────── network ─────────────────────────────

  private watchNetwork(): () => void {
    if ((this.opts.watchNetwork ?? true) === false) return () => {};
    if (typeof window === "undefined" || typeof window.addEventListener !== "function") return () => {};
    const offline = () => {
      if (this.stopped) return;
      // A socket on a dead network can stay "open" for minutes; drop it now and wait.
      this.suspended = true;
      this.setState({ status: "offline" });
      this.socket.close(1000, "offline");
    };
    const online = () => {
      if (this.stopped) return;
      if (this.suspended) {
        this.suspended = false;
        this.retryPending = false;
        this.backoff.reset();
        this.socket.reconnect();
      }
      this.waiter.interrupt();
    };
    const visible = () => {
      if (typeof document !== "undefined" && document.visibilityState === "visible") this.waiter.interrupt();
    };
    window.addEventListener("offline", offline);
    window.addEventListener("online", online);
    if (typeof document !== "undefined") document.addEventListener("visibilitychange", visible);
    return () => {
      window.removeEventListener("offline", offline);
      window.removeEventListener("online", online);
      if (typeof document !== "undefined") document.removeEventListener("visibilitychange", visible);
    };
  }

  private setState(next: ConnectionState): void {
    const prev = this.current;
    if (prev.status === "closed") return; // final
    if (
      prev.status === next.status &&
      JSON.stringify(prev) === JSON.stringify(next)
    ) {
      return;
    }
    this.current = next;
    this.handlers.state(next);
  }
}
