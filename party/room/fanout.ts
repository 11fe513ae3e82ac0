/**
 * Live delivery: committed events wait in a short buffer and go out as one `events` frame.
 *
 * - Consecutive deltas to the same part and field merge into one event (`fromSeq..seq`), so a
 *   frame's size follows the text, not the number of tokens (`mergeDeltas`, shared/delta.ts).
 * - A flush serializes each frame ONCE and sends the same string to every connection: the room's
 *   cost is counted in sends, not bytes.
 * - The same merging and framing (`eventFrames`, under `maxOutgoingFrameBytes`) serves replays.
 */
import type { RoomEvent } from "../../shared/protocol.ts";

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
