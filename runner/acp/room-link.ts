/**
 * One room's agent connection: the socket, the lease, heartbeats and the outbox — the room
 * protocol every runner session speaks, whatever agent is behind it (OpenCode: SessionAgent in
 * runner/session-agent.ts; an ACP agent: AcpSessionAgent). Subclasses get the lease (`onLease`)
 * and every other room frame (`onFrame`).
 */
import { RoomToAgentFrameSchema, parseFrame, CLOSE_CODES, type AgentFrame, type RoomToAgentFrame, type SessionMeta } from "../../shared/protocol.ts";
import { Connection, FATAL_CLOSE_CODES } from "../../shared/connection.ts";
import { Outbox, type OutboxOptions } from "../outbox.ts";

export type AgentState = "connecting" | "held" | "refused" | "gone" | "stopped";

/** An error as one line of log text. */
export const errText = (e: unknown): string => (e instanceof Error ? e.message : typeof e === "string" ? e : JSON.stringify(e));

/** After these the room will not take this runner back: the connection ends for good. */
const FINAL_CLOSE_CODES = { ...FATAL_CLOSE_CODES, [CLOSE_CODES.leaseHeld]: "lease_held" } as const;

export interface RoomLinkDeps {
  roomId: string;
  wsBase: string;
  token: () => Promise<string>;
  runnerId: string;
  onStateChange?: (link: RoomLink) => void;
  log: (msg: string) => void;
  flushMs?: number;
  startDelayMs?: number;
  /** More outbox options (the runner's redactor, when it has one): the outbox is the one way out. */
  outboxOptions?: Partial<OutboxOptions>;
  onLease: (meta: SessionMeta, openRequests: string[]) => Promise<void>;
  onFrame: (f: RoomToAgentFrame) => Promise<void>;
}

export class RoomLink {
  readonly roomId: string;
  state: AgentState = "connecting";
  meta: SessionMeta | null = null;
  /** When refused: how long the holder's lease still runs (ms). */
  refusedForMs = 0;
  /** Last time a lease was granted (ms). */
  leasedAt = 0;
  /** Snapshots of the agent's own transcript sent again (reconciles), for stats. */
  resyncs = 0;
  protected readonly outbox: Outbox;
  private readonly link: RoomLinkDeps;
  private socket: Connection | null = null;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(deps: RoomLinkDeps) {
    this.link = deps;
    this.roomId = deps.roomId;
    this.outbox = new Outbox({ ...deps.outboxOptions, send: (f) => this.sendFrame(f), idPrefix: `${deps.runnerId}-${deps.roomId}`, flushMs: deps.flushMs });
  }

  /** Connects again (after a refusal): the same outbox, a new socket. */
  reconnect(delayMs: number): void {
    this.link.startDelayMs = delayMs;
    this.start();
  }

  start(): void {
    this.setState("connecting");
    const d = this.link;
    const previous = this.socket;
    this.socket = null;
    previous?.close();
    const conn: Connection = new Connection(
      {
        host: d.wsBase,
        party: "session-room",
        room: d.roomId,
        token: d.token,
        finalCloseCodes: FINAL_CLOSE_CODES,
        backoff: { baseMs: 300, maxMs: 8_000, minMs: 50 },
        // The room answers "ping" without waking; a runner notices a dead socket within ~30 s.
        heartbeat: { intervalMs: 10_000, timeoutMs: 20_000 },
        probe: false,
        watchNetwork: false,
        // A half-open socket's late close must not be taken for the new connection's (the lease).
        newIdPerAttempt: true,
        startDelayMs: d.startDelayMs ?? 0,
        log: d.log,
      },
      {
        open: () => d.log(`room ${this.roomId}: connected`),
        message: (data) => this.onMessage(data),
        // Only this connection's closes: not one this link ended itself (stop, a new start).
        close: ({ code, reason }) => {
          if (this.socket === conn) this.onClose(code, reason);
        },
        state: () => {},
      },
    );
    this.socket = conn;
  }

  /** Leaves the room (runner stopping, session deleted or held elsewhere). */
  async stop(flush = true): Promise<void> {
    if (flush && this.state === "held") await this.outbox.drained(2_000);
    this.stopHeartbeat();
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.outbox.clear();
    this.setState("stopped");
  }

  get unacked(): number {
    return this.outbox.unacked;
  }

  stats(): { room: string; state: AgentState; unacked: number; acked: number; resent: number; resyncs: number } {
    return { room: this.roomId, state: this.state, unacked: this.outbox.unacked, acked: this.outbox.acked, resent: this.outbox.resent, resyncs: this.resyncs };
  }

  private setState(s: AgentState): void {
    if (this.state === s) return;
    this.state = s;
    this.link.onStateChange?.(this);
  }

  private sendFrame(f: AgentFrame): boolean {
    if (this.state !== "held") return false;
    return this.socket?.send(JSON.stringify(f)) ?? false;
  }

  private onClose(code: number, reason: string): void {
    this.stopHeartbeat();
    this.outbox.disconnected();
    this.link.log(`room ${this.roomId}: closed ${code} ${reason}`);
    if (code === CLOSE_CODES.leaseHeld) this.setState("refused");
    else if (code === CLOSE_CODES.notFound || code === CLOSE_CODES.deleted || code === CLOSE_CODES.archived) this.setState("gone");
    else if (this.state !== "stopped") this.setState("connecting");
  }

  private onMessage(data: string): void {
    const r = parseFrame(RoomToAgentFrameSchema, data);
    if (!r.ok) {
      // Error frames (`{type:"error"}`) and anything else not meant for the agent are only logged.
      if (data.includes('"error"')) this.link.log(`room ${this.roomId}: ${data.slice(0, 300)}`);
      return;
    }
    const f = r.frame;
    const done = (p: Promise<void>) => p.catch((e: unknown) => this.link.log(`room ${this.roomId}: ${f.type} failed: ${errText(e)}`));
    switch (f.type) {
      case "agent.lease":
        if (!f.granted) {
          this.refusedForMs = f.leaseMs;
          this.setState("refused");
          return;
        }
        this.meta = f.session;
        // The owner's per-session allowances come with every lease, as on the SDK path.
        this.outbox.allowRedaction(f.session.redactAllowed ?? []);
        this.leasedAt = Date.now();
        // A healthy connection: the next drop starts its backoff from the first window.
        this.socket?.markLive();
        this.setState("held");
        this.startHeartbeat(f.leaseMs);
        this.outbox.resend();
        void done(this.link.onLease(f.session, f.openRequests ?? []));
        return;
      case "agent.ack":
        this.outbox.ack(f.batchId);
        return;
      case "agent.mode":
        // The mode is applied per prompt (each queue item carries it).
        if (this.meta) this.meta = { ...this.meta, mode: f.mode };
        return;
      case "agent.redact.allow":
        this.outbox.allowRedaction(f.rules);
        return;
      default:
        void done(this.link.onFrame(f));
    }
  }

  private startHeartbeat(leaseMs: number): void {
    this.stopHeartbeat();
    const every = Math.max(1_000, Math.floor((leaseMs || 30_000) / 3));
    this.heartbeat = setInterval(() => this.sendFrame({ type: "agent.heartbeat", runnerId: this.link.runnerId }), every);
    this.sendFrame({ type: "agent.heartbeat", runnerId: this.link.runnerId });
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
