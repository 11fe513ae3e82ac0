/**
 * Minimal socket clients for the room's integration tests, over Node's WebSocket:
 *  - `SimViewer` folds the room's frames into the shared `Transcript` reducer and reconnects with
 *    its cursor (lastSeq) like the real room client does;
 *  - `SimAgent` plays a runner: it takes the lease, sends `agent.batch` frames, keeps every
 *    batch until the room acks it and resends the unacknowledged ones after a reconnect.
 * They are deliberately small and dumb (fixed reconnect delay, no backoff): the tests are about
 * what the room guarantees, not about the client's policies.
 */
import { Transcript } from "../shared/transcript.ts";
import type { EventBody, RoomEvent, Snapshot } from "../shared/protocol.ts";
import { setTimeout as sleep } from "node:timers/promises";


export async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

type Frame = { type: string } & Record<string, unknown>;

interface SocketOptions {
  /** Builds the ws URL for the next attempt (e.g. with the latest cursor). */
  url: () => string;
  token: string;
  reconnectDelayMs?: number;
  connectTimeoutMs?: number;
}

/** One logical connection that reopens itself until stopped. */
abstract class ReconnectingSocket {
  ws: WebSocket | null = null;
  connects = 0;
  bytes = 0;
  #stopped = false;
  #paused = false;
  readonly opts: SocketOptions;
  constructor(opts: SocketOptions) {
    this.opts = opts;
  }

  start(): void {
    this.#open();
  }

  #open(): void {
    if (this.#stopped || this.#paused) return;
    const ws = new WebSocket(this.opts.url(), ["agentroom", `t.${this.opts.token}`]);
    this.ws = ws;
    this.connects++;
    // A connection attempt made while the server restarts can hang in CONNECTING for good
    // (wrangler's proxy holds it, and close() on it never completes): abandon it and retry,
    // like a real client's connect timeout.
    let abandoned = false;
    const connectTimer = setTimeout(() => {
      if (ws.readyState !== WebSocket.CONNECTING) return;
      abandoned = true;
      ws.onmessage = ws.onclose = ws.onerror = ws.onopen = null;
      try {
        ws.close();
      } catch {
        // ignore
      }
      if (this.ws === ws) this.ws = null;
      setTimeout(() => this.#open(), this.opts.reconnectDelayMs ?? 100);
    }, this.opts.connectTimeoutMs ?? 3000);
    ws.onopen = () => clearTimeout(connectTimer);
    ws.onmessage = (e) => {
      const s = String(e.data);
      this.bytes += s.length;
      try {
        this.onFrame(JSON.parse(s) as Frame);
      } catch (err) {
        this.onError(err);
      }
    };
    ws.onclose = () => {
      clearTimeout(connectTimer);
      if (abandoned) return;
      if (this.ws === ws) this.ws = null;
      this.onClosed();
      if (!this.#stopped && !this.#paused) setTimeout(() => this.#open(), this.opts.reconnectDelayMs ?? 100);
    };
    ws.onerror = () => {
      // onclose follows
    };
  }

  send(frame: unknown): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Drops the connection and stays away for `ms` (simulates a network drop). */
  async drop(ms: number): Promise<void> {
    this.#paused = true;
    this.ws?.close();
    await sleep(ms);
    this.#paused = false;
    this.#open();
  }

  stop(): void {
    this.#stopped = true;
    this.ws?.close();
  }

  protected abstract onFrame(f: Frame): void;
  protected onClosed(): void {}
  protected onError(err: unknown): void {
    console.error(err);
  }
}

export class SimViewer extends ReconnectingSocket {
  transcript = new Transcript();
  live = false;
  errors: Frame[] = [];
  catchups: ("replay" | "snapshot")[] = [];
  resyncs = 0;
  /** The last snapshot received (to start another viewer from the same state). */
  lastSnapshot: Snapshot | null = null;
  /** Time from socket creation to `caught-up`, per connect. */
  caughtUpAt: number[] = [];

  constructor(opts: Omit<SocketOptions, "url"> & { baseUrl: string }) {
    super({
      ...opts,
      url: () => (this.transcript.session ? `${opts.baseUrl}?cursor=${this.transcript.lastSeq}` : opts.baseUrl),
    });
  }

  protected override onFrame(f: Frame): void {
    switch (f.type) {
      case "welcome":
        this.live = false;
        this.catchups.push(f.catchup as "replay" | "snapshot");
        return;
      case "snapshot":
        this.lastSnapshot = f.snapshot as Snapshot;
        this.transcript.loadSnapshot(f.snapshot as Snapshot);
        return;
      case "events": {
        const r = this.transcript.applyBatch(f.from as number, f.to as number, f.events as RoomEvent[]);
        if (r.gap) {
          this.resyncs++;
          this.send({ type: "resync" });
        }
        return;
      }
      case "caught-up":
        this.live = true;
        this.caughtUpAt.push(Date.now());
        return;
      case "error":
        this.errors.push(f);
        return;
    }
  }

  protected override onClosed(): void {
    this.live = false;
  }
}

/** What the agent means the room to hold: messages with text parts, built from its own events. */
export interface AgentTruth {
  messages: { info: { id: string; role: "assistant"; time: { created: number } }; parts: { id: string; messageID: string; type: "text"; text: string }[] }[];
}

export class SimAgent extends ReconnectingSocket {
  /** Batches sent and not yet acknowledged, in send order. */
  unacked = new Map<string, { type: "agent.batch"; batchId: string; events: { body: EventBody }[] }>();
  acked = new Set<string>();
  duplicateAcks = 0;
  resent = 0;
  leased = false;
  lastSeq = 0;
  errors: Frame[] = [];
  truth: AgentTruth = { messages: [] };
  #n = 0;

  protected override onFrame(f: Frame): void {
    if (f.type === "agent.lease") {
      this.leased = f.granted === true;
      if (this.leased) {
        // Resend, in order, everything the room has not acknowledged.
        for (const b of this.unacked.values()) {
          this.resent++;
          this.send(b);
        }
      }
    } else if (f.type === "agent.ack") {
      const id = f.batchId as string;
      if (f.duplicate) this.duplicateAcks++;
      this.unacked.delete(id);
      this.acked.add(id);
      this.lastSeq = Math.max(this.lastSeq, f.seq as number);
    } else if (f.type === "error") {
      this.errors.push(f);
    }
  }

  protected override onClosed(): void {
    this.leased = false;
  }

  /** Queues a batch (kept until acked) and sends it if connected. */
  sendBatch(bodies: EventBody[]): string {
    const batchId = `batch-${++this.#n}`;
    const frame = { type: "agent.batch" as const, batchId, events: bodies.map((body) => ({ body })) };
    this.unacked.set(batchId, frame);
    this.#record(bodies);
    if (this.leased) this.send(frame);
    return batchId;
  }

  #record(bodies: EventBody[]): void {
    for (const b of bodies) {
      if (b.type === "message.upsert") {
        this.truth.messages.push({ info: b.message as AgentTruth["messages"][number]["info"], parts: [] });
      } else if (b.type === "part.upsert") {
        const m = this.truth.messages.find((x) => x.info.id === b.part.messageID)!;
        m.parts.push({ ...(b.part as AgentTruth["messages"][number]["parts"][number]) });
      } else if (b.type === "part.delta") {
        const m = this.truth.messages.find((x) => x.info.id === b.messageID)!;
        const p = m.parts.find((x) => x.id === b.partID)!;
        p.text += b.delta;
      }
    }
  }
}

/** Streams `messages` messages of `deltasPerMessage` deltas, `perBatch` events a batch, every `everyMs`. */
export async function streamMessages(
  agent: SimAgent,
  opts: { prefix: string; messages: number; deltasPerMessage: number; perBatch: number; everyMs: number; shouldStop?: () => boolean },
): Promise<void> {
  const bodies: EventBody[] = [];
  for (let m = 0; m < opts.messages; m++) {
    const mid = `${opts.prefix}-m${String(m).padStart(4, "0")}`;
    const pid = `${mid}-p0`;
    bodies.push({ type: "message.upsert", message: { id: mid, role: "assistant", time: { created: m } } });
    bodies.push({ type: "part.upsert", part: { id: pid, messageID: mid, type: "text", text: "" } });
    for (let d = 0; d < opts.deltasPerMessage; d++) {
      bodies.push({ type: "part.delta", messageID: mid, partID: pid, field: "text", delta: `${m}.${d} ` });
    }
  }
  for (let i = 0; i < bodies.length; i += opts.perBatch) {
    if (opts.shouldStop?.()) return;
    agent.sendBatch(bodies.slice(i, i + opts.perBatch));
    await sleep(opts.everyMs);
  }
}
