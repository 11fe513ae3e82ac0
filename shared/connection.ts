/**
 * THE reconnecting WebSocket to one party room, for every client: the web app's room and list
 * (shared/room-client.ts, shared/lobby-client.ts) and the runner's room and lobby connections
 * (runner/session-agent.ts, runner/runner.ts). Built on partysocket, adding what it lacks:
 *
 *  - Jittered backoff. partysocket's reconnect schedule is deterministic (min × factor^n, no
 *    jitter), and its options cannot add jitter: every socket dropped by a deploy would come back
 *    at the same instants. So partysocket never reconnects on its own here
 *    (`shouldReconnectOnClose: () => false`, `startClosed`); this class waits a full-jitter delay
 *    (shared/backoff.ts) and calls its public `reconnect()`, which connects at once. partysocket
 *    keeps what it does well, through its public options only: the URL (party, room, `_pk`, the
 *    query read again per attempt), the subprotocols, the handshake timeout.
 *  - Telling "go away" from "try again". A refused upgrade (401, 404) reaches a browser as a bare
 *    close 1006, the same as a network error. After an attempt that never opened we ask the HTTP
 *    API once (`probe`), whose status says whether retrying can ever help. Close codes from
 *    `finalCloseCodes` (by default 4401, 4403, 4404, 4410 and 4411) are final too.
 *  - A heartbeat. The room answers "ping" with "pong" without waking (auto-response); a socket
 *    that stays silent past the timeout is treated as dead and replaced, which catches half-open
 *    TCP connections that would otherwise hang "open" forever.
 *  - An explicit state for the UI: connecting / open (catching up or live) / reconnecting with
 *    attempt and delay / offline / closed with a reason.
 *
 * Its options, states and URL rules are in shared/connection-types.ts.
 */
import { PartySocket } from "partysocket";
import { Backoff } from "./backoff.ts";
import { CLOSE_CODES, parseClosingFrame } from "./protocol.ts";
import {
  DEFAULT_HEARTBEAT,
  FATAL_CLOSE_CODES,
  PING,
  PONG,
  SLOW_AFTER_MS,
  browserOnline,
  newConnectionId,
  wsProtocolOf,
  type CloseReason,
  type ConnectionHandlers,
  type ConnectionOptions,
  type ConnectionState,
  type FatalClose,
} from "./connection-types.ts";

export {
  DEFAULT_HEARTBEAT,
  FATAL_CLOSE_CODES,
  PING,
  PONG,
  SLOW_AFTER_MS,
  fatalFromHttpStatus,
  httpBase,
  probeSession,
  type CloseReason,
  type ConnectionHandlers,
  type ConnectionOptions,
  type ConnectionState,
  type FatalClose,
  type HeartbeatOptions,
  type WebSocketLike,
} from "./connection-types.ts";

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
  private readonly finalCodes: Readonly<Record<number, FatalClose["reason"]>>;
  private current: ConnectionState = { status: "connecting", attempt: 0 };
  /** The token of the attempt in flight (read before it starts; partysocket sends it). */
  private token = "";
  /** Bumped by every new plan to connect; a plan that finds it changed gives way. */
  private plan = 0;
  /** The next close is our own doing (reconnect()): connect again without waiting. */
  private immediateNext = false;
  private openedThisAttempt = false;
  private reachedLive = false;
  private attempts = 0;
  private stopped = false;
  /** Closed on purpose because the browser went offline; reconnect when it is back. */
  private suspended = false;
  private lastMessageAt = 0;
  private pingSentAt = 0;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private lastClose: { code: number; reason: string } | undefined;
  /** Acted on a closing frame; the socket's own close event, when it comes, is already handled. */
  private lateCloseExpected = false;
  private removeNetworkListeners: () => void;

  constructor(opts: ConnectionOptions, handlers: ConnectionHandlers) {
    this.opts = opts;
    this.handlers = handlers;
    this.backoff = new Backoff(opts.backoff);
    this.finalCodes = opts.finalCloseCodes ?? FATAL_CLOSE_CODES;
    const host = opts.host.replace(/^(https?|wss?):\/\//, "").replace(/\/+$/, "");
    this.socket = new PartySocket({
      host,
      protocol: wsProtocolOf(opts.host),
      party: opts.party,
      room: opts.room,
      id: opts.id,
      WebSocket: opts.WebSocket,
      // One connect per reconnect() call: the schedule is ours (see the file comment).
      startClosed: true,
      shouldReconnectOnClose: () => false,
      connectionTimeout: opts.connectionTimeoutMs ?? 10_000,
      maxEnqueuedMessages: 0, // never buffer sends while closed: callers decide what to resend
      query: () => this.opts.query?.() ?? {},
      protocols: () => ["agentroom", `t.${this.token}`],
    });
    this.socket.onopen = () => this.onOpen();
    this.socket.onmessage = (e: MessageEvent) => {
      this.lastMessageAt = Date.now();
      this.pingSentAt = 0;
      if (this.current.status === "open" && this.current.slow) this.setState({ status: "open", live: this.current.live });
      const data = e.data;
      if (typeof data !== "string" || data === PONG) return;
      const closing = parseClosingFrame(data);
      if (closing) return this.onClosingFrame(closing.code, closing.reason);
      this.handlers.message(data);
    };
    this.socket.onclose = (e) => this.onClose(e.code, e.reason);
    this.removeNetworkListeners = this.watchNetwork();
    void this.connectAfter(opts.startDelayMs ?? 0);
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

  /** The room finished catching this client up (a healthy connection: backoff starts over). */
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
      this.removeNetworkListeners = this.watchNetwork();
      this.current = { status: "connecting", attempt: 0 };
      this.handlers.state(this.current);
    }
    this.suspended = false;
    this.backoff.reset();
    const rs = this.socket.readyState;
    if (rs === 0 || rs === 1) {
      // Its close (delivered at once) starts the next attempt without a wait.
      this.immediateNext = true;
      this.socket.close(1000, "reconnect");
      if (!this.immediateNext) return;
      this.immediateNext = false;
    }
    void this.connectAfter(0);
  }

  /** Ends the connection for good. */
  close(reason: CloseReason = "closed", message = "closed by the client", code?: number): void {
    if (this.stopped) return;
    this.stopped = true;
    this.plan++;
    this.stopHeartbeat();
    this.removeNetworkListeners();
    this.setState({ status: "closed", reason, message, ...(code !== undefined ? { code } : {}) });
    this.waiter.interrupt();
    this.socket.close(1000, reason);
  }

  // ───────────────────────────── attempts ─────────────────────────────

  /** Plans the next attempt in `delayMs` (0: at once), replacing any plan made before. */
  private async connectAfter(delayMs: number): Promise<void> {
    const plan = ++this.plan;
    this.waiter.interrupt(); // an earlier plan asleep wakes, sees it was replaced, and gives way
    if (delayMs > 0) await this.waiter.sleep(delayMs);
    if (plan !== this.plan || this.stopped || this.suspended) return;
    let token: string;
    try {
      token = await this.opts.token();
    } catch (e) {
      this.opts.log?.(`socket: no token (${String(e)})`);
      if (plan === this.plan) void this.retry(false);
      return;
    }
    if (plan !== this.plan || this.stopped || this.suspended) return;
    this.token = token;
    this.lateCloseExpected = false; // the old socket's listeners are gone with this attempt
    // A half-open socket the server has not noticed yet keeps the old id (see newIdPerAttempt).
    if (this.opts.newIdPerAttempt && this.attempts > 0) this.socket.updateProperties({ id: newConnectionId() });
    this.attempts++;
    this.openedThisAttempt = false;
    this.setState({ status: "connecting", attempt: this.backoff.attempt });
    this.socket.reconnect();
  }

  /** After a drop: ask the probe if the attempt never opened, wait for the network, then a jittered delay. */
  private async retry(probe: boolean): Promise<void> {
    const plan = ++this.plan;
    if (probe && this.opts.probe) {
      const fatal = await this.opts.probe().catch(() => null);
      if (plan !== this.plan || this.stopped) return;
      if (fatal) {
        this.close(fatal.reason, fatal.message, fatal.code);
        return;
      }
    }
    await this.waitForNetwork();
    if (plan !== this.plan || this.stopped || this.suspended) return;
    const delay = this.backoff.next();
    this.setState({
      status: "reconnecting",
      attempt: this.backoff.attempt,
      nextDelayMs: delay,
      retryAt: Date.now() + delay,
      ...(this.lastClose ? { lastClose: this.lastClose } : {}),
    });
    await this.waiter.sleep(delay);
    if (plan === this.plan) void this.connectAfter(0);
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

  /**
   * The server announced its close (shared/protocol.ts `closingFrame`): closing our side now
   * delivers the close with the server's code at once (partysocket's close is synchronous), where
   * the socket's own close event waits on the runtime's TCP teardown.
   */
  private onClosingFrame(code: number, reason: string): void {
    if (this.socket.readyState === 1) {
      this.socket.close(code, reason);
      return;
    }
    // The close frame is already in (the socket is closing): a final code is acted on now, and
    // the late close event of this socket is not reported again.
    if (this.finalCodes[code] && !this.stopped) {
      this.onClose(code, reason);
      this.lateCloseExpected = true;
    }
  }

  private onClose(code: number, reason: string): void {
    if (this.lateCloseExpected) {
      this.lateCloseExpected = false;
      return;
    }
    this.stopHeartbeat();
    if (this.stopped) {
      this.handlers.close({ code, reason, final: true });
      return;
    }
    this.lastClose = { code, reason };
    const fatal = this.finalCodes[code];
    if (fatal) {
      this.close(fatal, reason || fatal, code);
      this.handlers.close({ code, reason, final: true });
      return;
    }
    // A connection that got as far as live was healthy: the next drop starts from the first window.
    if (this.reachedLive) this.backoff.reset();
    const neverOpened = !this.openedThisAttempt;
    this.openedThisAttempt = false;
    this.reachedLive = false;
    const immediate = this.immediateNext;
    this.immediateNext = false;
    if (this.suspended) this.setState({ status: "offline" });
    else if (immediate) void this.connectAfter(0);
    // The state turns to "reconnecting" (with its delay) once the probe, if any, has answered.
    else void this.retry(neverOpened);
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
      // A pong is answered by the runtime without waking the room, in milliseconds: one this late
      // means the room's process is busy or paused. Say so before giving up on the socket.
      const c = this.current;
      if (this.pingSentAt && now - this.pingSentAt >= Math.min(SLOW_AFTER_MS, hb.timeoutMs / 2) && c.status === "open" && !c.slow) {
        this.setState({ status: "open", live: c.live, slow: true });
      }
      if (this.pingSentAt && now - this.pingSentAt >= hb.timeoutMs) {
        // Silent past the timeout: half-open or stalled. Replace it.
        this.pingSentAt = 0;
        this.socket.close(CLOSE_CODES.heartbeat, "heartbeat timeout");
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
        this.backoff.reset();
        void this.connectAfter(0);
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
