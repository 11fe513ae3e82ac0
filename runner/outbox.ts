/**
 * The runner's outbox to one room, ack-clocked (like Nagle's algorithm): with no batch awaiting
 * the room's ack, what was pushed goes at once (what arrived in the same task — one read of
 * OpenCode's event stream — goes together); while a batch awaits its ack, events gather
 * (consecutive deltas to one part merged) and go the moment that ack comes, or after the flush
 * window at the latest. So a room that keeps up gets each event without a wait, and one that is
 * behind (its per-batch cost is a SQLite transaction) gets fewer, larger batches, at most about
 * one per window. Batches (`agent.batch` frames) are kept until the room acknowledges them
 * (`agent.ack`, sent after its commit). After a reconnect every unacknowledged batch is sent again
 * with the same id, and the room drops what it already applied — so nothing is lost or doubled.
 *
 * Control frames that must stay in order with the batches (e.g. `agent.request.closed` after the
 * `permission.asked` it closes) go through `sendInOrder`.
 */
import type { AgentFrame } from "../shared/protocol.ts";
import type { MappedEvent } from "./event-map.ts";
import { SurrogateHold, jsonTextBytes, sameTarget, utf8Bytes, type DeltaTarget } from "../shared/delta.ts";
import { fitEvent } from "./fit-event.ts";
import { Redactor } from "./redact.ts";

type BatchFrame = Extract<AgentFrame, { type: "agent.batch" }>;

export interface OutboxOptions {
  /** Sends a frame; returns false when there is no open, leased connection right now. */
  send: (frame: AgentFrame) => boolean;
  /**
   * Names the runner and room; batch ids are `<prefix>-<random>-<n>`. The random part is drawn
   * per outbox, so a restarted runner (or a new outbox for the same room) whose counter starts
   * at 1 again never reuses an id the room remembers.
   */
  idPrefix: string;
  /** The longest events gather while a batch awaits its ack, ms (16 ms: one frame at display rate). */
  flushMs?: number;
  /** Flush early once this many events are buffered. */
  maxEvents?: number;
  /** Cut a batch before its JSON passes this many UTF-8 bytes (the room accepts 4 MiB). */
  maxBatchBytes?: number;
  /**
   * Hides secrets in every event and control frame before it is buffered (redact.ts): the outbox
   * is the one way out of the runner to the room, so whatever feeds it (OpenCode, ACP) is covered.
   * On by default (a new `Redactor` per outbox, i.e. per session); `null` only in tests of other mechanics.
   */
  redactor?: Redactor | null;
}

type Pending = { kind: "batch"; frame: BatchFrame; sentAt: number; tries: number } | { kind: "control"; frame: AgentFrame };

export class Outbox {
  private readonly opts: Required<OutboxOptions>;
  private buffer: MappedEvent[] = [];
  private pending: Pending[] = [];
  /** The window's end while events gather behind a batch awaiting its ack. */
  private timer: NodeJS.Timeout | null = null;
  /** A flush is queued for the end of this task (nothing awaits an ack). */
  private flushQueued = false;
  /** When the last batch was cut (ms): the window counts from it. */
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private counter = 0;
  /** `<idPrefix>-<8 random hex digits>`: see `idPrefix`. */
  private readonly batchPrefix: string;
  /** UTF-8 bytes of a batch frame around its events (with the longest id): what events may fill is the cap less this. */
  private readonly envelopeBytes: number;
  private drainWaiters: (() => void)[] = [];
  /** High surrogates ending a delta, held until their low half arrives (see shared/delta.ts). */
  private readonly held = new SurrogateHold();
  /** Batches acknowledged so far (for stats and tests). */
  acked = 0;
  /** Batches sent again after a reconnect. */
  resent = 0;

  private readonly redactor: Redactor | null;
  /** The redaction count last told to the room (`session.info`). */
  private toldRedacted = 0;

  constructor(opts: OutboxOptions) {
    const { redactor, ...rest } = opts;
    // An option passed as undefined (the runner's unset AGENTROOM_FLUSH_MS) keeps its default.
    const given = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as Partial<OutboxOptions>;
    this.opts = { flushMs: 16, maxEvents: 500, maxBatchBytes: 1_000_000, ...given } as Required<OutboxOptions>;
    this.redactor = redactor === undefined ? new Redactor() : redactor;
    this.batchPrefix = `${opts.idPrefix}-${crypto.randomUUID().slice(0, 8)}`;
    const widest: BatchFrame = { type: "agent.batch", batchId: `${this.batchPrefix}-${Number.MAX_SAFE_INTEGER}`, events: [] };
    this.envelopeBytes = utf8Bytes(JSON.stringify(widest));
  }

  get bufferedEvents(): number {
    return this.buffer.length;
  }

  get unacked(): number {
    return this.pending.filter((p) => p.kind === "batch").length;
  }

  push(events: MappedEvent[]): void {
    for (const e of events) {
      const b = e.body;
      if (b.type === "part.delta" && e.eid === undefined) {
        // A high surrogate ending a delta waits for its low half: no batch ends inside a character.
        const text = this.held.take(b, b.delta);
        if (text) this.#streamDelta(b, text);
        continue;
      }
      // The part (or its message) ended: a half still held was sent alone by the agent; it goes now.
      if (b.type === "part.upsert") this.#release((t) => t.partID === b.part.id);
      if (b.type === "message.upsert" && b.message.time.completed !== undefined) this.#release((t) => t.messageID === b.message.id);
      // A turn that ended without its parts' snapshots (aborted) still shows its last words.
      if (b.type === "status" && b.status === "idle") this.#release(() => true);
      const body = this.redactor ? this.redactor.body(b) : b;
      // An event too big for any batch goes in pieces (or shortened): see fit-event.ts.
      for (const piece of fitEvent(body === b ? e : { ...e, body }, this.opts.maxBatchBytes - this.envelopeBytes)) this.buffer.push({ ...piece });
    }
    this.#tellRedacted();
    this.#schedule();
  }

  /** Something waits for `resend` (it could not be sent): nothing may overtake it. */
  #unsent(): boolean {
    return this.pending.some((p) => p.kind === "control" || p.sentAt === 0);
  }

  /** A batch was sent and the room has not acknowledged it yet. */
  #awaitingAck(): boolean {
    return this.pending.some((p) => p.kind === "batch" && p.sentAt > 0);
  }

  /**
   * When the buffer goes: at the end of this task when nothing awaits an ack; at the ack or the
   * window's end when something does; at the next (re)connect when something could not be sent.
   */
  #schedule(): void {
    if (!this.buffer.length) return;
    if (this.buffer.length >= this.opts.maxEvents) return this.flush();
    // Not connected (or not leased yet): `resend` sends what waits, then this buffer, after it.
    if (this.#unsent()) return;
    if (this.#awaitingAck()) {
      this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.lastFlushAt + this.opts.flushMs - Date.now()));
      return;
    }
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      if (this.flushQueued) this.flush();
    });
  }

  /** Appends a delta, merged into the previous one when it extends the same field and still fits a batch. */
  #pushDelta(target: DeltaTarget, text: string): void {
    const last = this.buffer[this.buffer.length - 1];
    const lb = last?.body;
    if (lb && lb.type === "part.delta" && last.eid === undefined && sameTarget(lb, target) && jsonTextBytes(lb.delta) + jsonTextBytes(text) <= this.opts.maxBatchBytes / 2) {
      last.body = { ...lb, delta: lb.delta + text };
      return;
    }
    this.buffer.push({ body: { type: "part.delta", messageID: target.messageID, partID: target.partID, field: target.field, delta: text } });
  }

  /** A delta through the redactor's stream hold (the tail that may begin a secret waits). */
  #streamDelta(target: DeltaTarget, text: string): void {
    const out = this.redactor ? this.redactor.stream(target, text) : text;
    if (out) this.#pushDelta(target, out);
  }

  #release(match: (t: DeltaTarget) => boolean): void {
    for (const { target, text } of this.held.release(match)) this.#streamDelta(target, text);
    for (const { target, text } of this.redactor?.release(match) ?? []) if (text) this.#pushDelta(target, text);
  }

  /** The room shows how many secrets were hidden: tell it when the count grew. */
  #tellRedacted(): void {
    const n = this.redactor?.count ?? 0;
    if (n === this.toldRedacted) return;
    this.toldRedacted = n;
    this.buffer.push({ body: { type: "session.info", redacted: { count: n, rules: Object.fromEntries(this.redactor!.perRule) } } });
  }

  /** The owner let these redaction rules through for this session (false positives). */
  allowRedaction(rules: readonly string[]): void {
    this.redactor?.allow(rules);
  }

  /** Cuts the buffer into batches now and sends them if connected. */
  flush(): void {
    this.#cancelFlush();
    if (!this.buffer.length) return;
    this.lastFlushAt = Date.now();
    const events = this.buffer;
    this.buffer = [];
    let cur: MappedEvent[] = [];
    const room = this.opts.maxBatchBytes - this.envelopeBytes;
    let bytes = 0;
    const cut = (): void => {
      if (!cur.length) return;
      const frame: BatchFrame = { type: "agent.batch", batchId: `${this.batchPrefix}-${++this.counter}`, events: cur };
      const p: Pending = { kind: "batch", frame, sentAt: 0, tries: 0 };
      this.pending.push(p);
      if (this.opts.send(frame)) {
        p.sentAt = Date.now();
        p.tries++;
      }
      cur = [];
      bytes = 0;
    };
    for (const e of events) {
      // Each event and the comma after it, in UTF-8 as the room measures frames.
      const size = utf8Bytes(JSON.stringify(e)) + 1;
      if (cur.length && (bytes + size > room + 1 || cur.length >= 5_000)) cut();
      cur.push(e);
      bytes += size;
    }
    cut();
  }

  /** Sends a control frame after everything buffered or pending before it. */
  sendInOrder(frame: AgentFrame): void {
    if (this.redactor && frame.type === "agent.prompt.failed") frame = { ...frame, error: this.redactor.text(frame.error) };
    this.flush();
    // Everything before it already went out on this connection: the socket keeps the order.
    const allSent = this.pending.every((p) => p.kind === "batch" && p.sentAt > 0);
    if (allSent && this.opts.send(frame)) return;
    this.pending.push({ kind: "control", frame });
  }

  #cancelFlush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushQueued = false;
  }

  /** The room applied a batch: what gathered behind it goes now, unless another batch still awaits its ack. */
  ack(batchId: string): void {
    const i = this.pending.findIndex((p) => p.kind === "batch" && p.frame.batchId === batchId);
    if (i < 0) return;
    this.pending.splice(i, 1);
    this.acked++;
    if (this.buffer.length && !this.#awaitingAck() && !this.#unsent()) this.flush();
    if (this.pending.length === 0 && this.buffer.length === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** The connection dropped: nothing pending counts as sent any more. */
  disconnected(): void {
    for (const p of this.pending) if (p.kind === "batch") p.sentAt = 0;
    // What gathers now goes with `resend`, after what is pending.
    this.#cancelFlush();
  }

  /** After a (re)connect: sends every unacknowledged batch again, in order, same ids. */
  resend(): void {
    const items = this.pending;
    this.pending = [];
    for (const p of items) {
      if (p.kind === "batch") {
        this.pending.push(p);
        p.sentAt = this.opts.send(p.frame) ? Date.now() : 0;
        if (p.sentAt) {
          if (p.tries > 0) this.resent++;
          p.tries++;
        }
      } else if (!this.opts.send(p.frame)) {
        this.pending.push(p);
      }
    }
    this.flush();
  }

  /** Resolves once everything pushed so far is acknowledged (or the timeout passes). */
  drained(timeoutMs = 10_000): Promise<boolean> {
    this.flush();
    if (this.pending.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Drops everything (the session was deleted or taken over). */
  clear(): void {
    this.#cancelFlush();
    this.buffer = [];
    this.pending = [];
    this.held.clear();
    this.redactor?.clear();
  }
}
