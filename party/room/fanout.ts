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
 * Socket sends per second the room aims to stay under (measured capacity on local workerd: about
 * 25–43k/s). With few viewers the flush window is `flushIntervalMs`; with many it widens so that
 * flushes × viewers stays within budget: 1,000 viewers → one flush per 40 ms instead of per 16 ms,
 * where back-to-back send loops would otherwise queue every frame behind the last.
 */
export const SEND_BUDGET_PER_SECOND = 25_000;

export function flushWindowMs(baseMs: number, viewers: number, budget = SEND_BUDGET_PER_SECOND): number {
  return Math.max(baseMs, Math.ceil((viewers * 1000) / budget));
}

/** The buffer of committed-but-unsent live events. */
export class LiveBuffer {
  events: RoomEvent[] = [];
  /** When the oldest buffered event arrived (ms), 0 when empty. */
  since = 0;

  push(e: RoomEvent, now: number): void {
    if (this.events.length === 0) this.since = now;
    this.events.push(e);
  }

  /** Should the message handler flush now instead of waiting for the timer? */
  due(now: number, windowMs: number, maxEvents: number): boolean {
    return this.events.length > 0 && (now - this.since >= windowMs || this.events.length >= maxEvents);
  }

  take(): RoomEvent[] {
    const out = this.events;
    this.events = [];
    this.since = 0;
    return out;
  }
}
