/**
 * A reconnecting WebSocket for the runner's two kinds of connection (a room as its agent, the
 * lobby). The token travels as a subprotocol (`["agentroom", "t.<token>"]`), never in the URL.
 * Reconnects use full-jitter backoff (shared/backoff.ts); a silent socket is detected with the
 * room's auto-answered "ping" → "pong" and replaced.
 *
 * The room refuses a connection by closing it with a 4xxx code; `shouldRetry` decides which of
 * those are final (deleted, archived, lease held elsewhere).
 */
import { Backoff } from "../shared/backoff.ts";

export interface SocketOptions {
  url: string;
  token: () => Promise<string> | string;
  onOpen: () => void;
  onMessage: (data: string) => void;
  onClose: (code: number, reason: string) => void;
  /** Called after a close; return false to stop reconnecting. */
  shouldRetry?: (code: number, reason: string) => boolean;
  /** Milliseconds between liveness pings; 0 disables. */
  pingMs?: number;
  /** A handshake that neither opens nor fails within this time is abandoned and retried. */
  connectTimeoutMs?: number;
  backoff?: { baseMs?: number; maxMs?: number; minMs?: number };
  log?: (msg: string) => void;
}

export class ReconnectingSocket {
  private ws: WebSocket | null = null;
  private stopped = false;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private lastHeard = 0;
  private readonly opts: SocketOptions;
  /** Connections opened so far (1 = the first). */
  opens = 0;

  constructor(opts: SocketOptions) {
    this.opts = opts;
    this.backoff = new Backoff({ baseMs: 500, maxMs: 10_000, minMs: 50, ...opts.backoff });
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  start(delayMs = 0): void {
    this.stopped = false;
    if (delayMs > 0) this.retryTimer = setTimeout(() => void this.connect(), delayMs);
    else void this.connect();
  }

  stop(code = 1000, reason = "runner stopping"): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.retryTimer = null;
    this.pingTimer = null;
    const ws = this.ws;
    this.ws = null;
    try {
      ws?.close(code, reason);
    } catch {
      /* already closed */
    }
  }

  send(data: string): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(data);
      return true;
    } catch {
      return false;
    }
  }

  /** Drops the current connection at once (it will reconnect), without waiting for a close handshake. */
  drop(reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    try {
      ws.close(4000, reason.slice(0, 100));
    } catch {
      /* ignore */
    }
    this.closed(ws, 4000, reason, true);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let token: string;
    try {
      token = await this.opts.token();
    } catch (e) {
      this.opts.log?.(`socket: no token (${String(e)})`);
      return this.scheduleRetry();
    }
    if (this.stopped) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.opts.url, ["agentroom", `t.${token}`]);
    } catch (e) {
      this.opts.log?.(`socket: ${String(e)}`);
      return this.scheduleRetry();
    }
    this.ws = ws;
    let opened = false;
    // A connect made while workerd restarts can hang with neither open nor close (measured by
    // test/faults-kill): without this the runner would wait on it forever and never rejoin.
    const handshake = setTimeout(() => {
      if (this.ws !== ws || opened) return;
      this.opts.log?.("socket: handshake timed out; retrying");
      try {
        ws.close();
      } catch {
        /* still connecting */
      }
      this.closed(ws, 4008, "handshake timeout", false);
    }, this.opts.connectTimeoutMs ?? 10_000);
    ws.addEventListener("open", () => {
      clearTimeout(handshake);
      if (this.ws !== ws) return;
      opened = true;
      this.opens++;
      this.lastHeard = Date.now();
      this.startPing(ws);
      this.opts.onOpen();
    });
    ws.addEventListener("message", (ev) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      if (typeof ev.data !== "string") return;
      if (ev.data === "pong") return;
      this.opts.onMessage(ev.data);
    });
    ws.addEventListener("close", (ev) => {
      clearTimeout(handshake);
      this.closed(ws, ev.code, ev.reason, opened);
    });
    ws.addEventListener("error", () => {
      // A close event follows; that is where we retry.
    });
  }

  private closed(ws: WebSocket, code: number, reason: string, opened: boolean): void {
    if (this.ws !== ws) return;
    this.ws = null;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.opts.onClose(code, reason);
    if (opened && Date.now() - this.lastHeard < 60_000) this.backoff.reset();
    if (this.stopped) return;
    if (this.opts.shouldRetry && !this.opts.shouldRetry(code, reason)) {
      this.stopped = true;
      return;
    }
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }

  private startPing(ws: WebSocket): void {
    const every = this.opts.pingMs ?? 10_000;
    if (!every) return;
    this.pingTimer = setInterval(() => {
      if (this.ws !== ws) return;
      if (Date.now() - this.lastHeard > every * 3) {
        this.opts.log?.("socket: no answer to pings; reconnecting");
        this.drop("silent");
        return;
      }
      this.send("ping");
    }, every);
  }
}
