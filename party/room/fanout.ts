/**
 * Live delivery: committed events wait in a short buffer and go out as one `events` frame.
 *
 * - Consecutive deltas to the same part and field merge into one event (`fromSeq..seq`), so a
 *   frame's size follows the text, not the number of tokens.
 * - A flush serializes each frame ONCE and sends the same string to every connection: the room's
 *   cost is counted in sends, not bytes.
 * - The same merging and splitting (frames under `maxFrameBytes`) serves catch-up replays.
 */
import type { RoomEvent } from "../../shared/protocol.ts";

type DeltaEvent = Extract<RoomEvent, { type: "part.delta" }>;

/** Merges runs of deltas to one part+field into single events covering fromSeq..seq. */
export function mergeDeltas(events: readonly RoomEvent[]): RoomEvent[] {
  const out: RoomEvent[] = [];
  let run: { head: DeltaEvent; texts: string[]; seq: number; ts: number } | null = null;
  for (const e of events) {
    if (run && e.type === "part.delta" && sameTarget(run.head, e)) {
      run.texts.push(e.delta);
      run.seq = e.seq;
      run.ts = e.ts;
      continue;
    }
    if (run) out.push(closeRun(run));
    run = e.type === "part.delta" ? { head: e, texts: [e.delta], seq: e.seq, ts: e.ts } : null;
    if (!run) out.push(e);
  }
  if (run) out.push(closeRun(run));
  return out;
}

function sameTarget(a: DeltaEvent, b: DeltaEvent): boolean {
  return a.partID === b.partID && a.field === b.field && a.messageID === b.messageID;
}

/** One run → one event; a run of one keeps its own shape (no fromSeq). */
function closeRun(run: { head: DeltaEvent; texts: string[]; seq: number; ts: number }): RoomEvent {
  if (run.texts.length === 1) return run.head;
  const fromSeq = run.head.fromSeq ?? run.head.seq;
  return { ...run.head, delta: run.texts.join(""), seq: run.seq, ts: run.ts, fromSeq };
}

/**
 * Serializes events into `events` frames covering contiguous seq ranges, each under
 * `maxFrameBytes` (measured in UTF-16 units of the JSON; a single oversized event goes alone).
 */
export function eventFrames(events: readonly RoomEvent[], maxFrameBytes: number, replay: boolean): string[] {
  const frames: string[] = [];
  let batch: string[] = [];
  let size = 0;
  let from = 0;
  let to = 0;
  const emit = () => {
    if (batch.length === 0) return;
    const head = replay ? `{"type":"events","replay":true` : `{"type":"events"`;
    frames.push(`${head},"from":${from},"to":${to},"events":[${batch.join(",")}]}`);
    batch = [];
    size = 0;
  };
  for (const e of events) {
    const s = JSON.stringify(e);
    if (batch.length && size + s.length + 1 > maxFrameBytes - 100) emit();
    if (batch.length === 0) from = e.fromSeq ?? e.seq;
    batch.push(s);
    size += s.length + 1;
    to = e.seq;
  }
  emit();
  return frames;
}

/**
 * The committed-but-unsent live events. Events stay until every person holds them (`trimThrough`).
 */
export class LiveBuffer {
  #events: RoomEvent[] = [];

  get length(): number {
    return this.#events.length;
  }

  /** The seq of the newest buffered event; undefined when empty. */
  lastSeq(): number | undefined {
    return this.#events.at(-1)?.seq;
  }

  push(e: RoomEvent): void {
    this.#events.push(e);
  }

  /**
   * The buffered events after `seq`, or undefined when some of them are no longer buffered (the
   * caller then reads the log). Seqs in the buffer are contiguous, so this is an index.
   */
  after(seq: number): RoomEvent[] | undefined {
    const first = this.#events[0];
    if (!first) return [];
    if (seq < first.seq - 1) return undefined;
    return this.#events.slice(seq - first.seq + 1);
  }

  /** Drops the events every person holds (seq ≤ `seq`). */
  trimThrough(seq: number): void {
    const first = this.#events[0];
    if (!first || seq < first.seq) return;
    const n = Math.min(this.#events.length, seq - first.seq + 1);
    this.#events.splice(0, n);
  }

  clear(): void {
    this.#events = [];
  }
}

/**
 * Sends per second the live fan-out may spend, as a token bucket: a quiet room sends at once
 * (the bucket is full), a busy big room is held to `perSecond` (the `liveSendsPerSecond` limit),
 * which leaves the room's thread time for the agent's frames and for joiners.
 */
export class SendBucket {
  #tokens: number;
  #at: number;
  readonly #cap: number;
  readonly perSecond: number;

  /** `burstSeconds`: how many seconds' worth of sends may go back to back. */
  constructor(perSecond: number, burstSeconds = 0.05, now = 0) {
    this.perSecond = perSecond;
    this.#cap = Math.max(1, perSecond * burstSeconds);
    this.#tokens = this.#cap;
    this.#at = now;
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#cap, this.#tokens + ((now - this.#at) * this.perSecond) / 1000);
      this.#at = now;
    }
  }

  /** Milliseconds until `sends` may go (0: now). More than the burst waits for a full bucket. */
  waitFor(sends: number, now: number): number {
    this.#refill(now);
    const need = Math.min(sends, this.#cap);
    return this.#tokens >= need ? 0 : Math.ceil(((need - this.#tokens) * 1000) / this.perSecond);
  }

  spend(sends: number, now: number): void {
    this.#refill(now);
    this.#tokens -= sends;
  }
}
