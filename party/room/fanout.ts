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
 * Who holds which seq, grouped for the live fan-out. Nearly every live socket holds the seq of the
 * last live turn: those are one set, sent the same frames with no bookkeeping per socket (a turn
 * to 1,000 people is 1,000 `send` calls and nothing else). A joiner whose catch-up ended at
 * another seq is listed apart with its own, until a turn brings it level.
 */
export class Audience<W extends WebSocket = WebSocket> {
  readonly #level = new Set<W>();
  /** The seq every socket in `#level` holds. */
  #seq = 0;
  readonly #apart = new Map<W, number>();

  get size(): number {
    return this.#level.size + this.#apart.size;
  }

  /** Every socket listed. */
  *sockets(): IterableIterator<W> {
    yield* this.#level;
    yield* this.#apart.keys();
  }

  /** `ws` holds everything up to `seq` now (its catch-up, or a snapshot). */
  hold(ws: W, seq: number): void {
    this.#apart.delete(ws);
    this.#level.delete(ws);
    if (this.#level.size === 0 && this.#apart.size === 0) this.#seq = seq;
    if (seq === this.#seq) this.#level.add(ws);
    else this.#apart.set(ws, seq);
  }

  /** Listed as holding `seq` unless it is listed already (a socket a woken instance finds). */
  holdIfNew(ws: W, seq: number): void {
    if (!this.#level.has(ws) && !this.#apart.has(ws)) this.hold(ws, seq);
  }

  forget(ws: W): void {
    if (!this.#level.delete(ws)) this.#apart.delete(ws);
  }

  clear(): void {
    this.#level.clear();
    this.#apart.clear();
  }

  /** The lowest seq any listed socket holds; undefined when nobody is listed. */
  lowest(): number | undefined {
    let min = this.#level.size ? this.#seq : Number.POSITIVE_INFINITY;
    for (const held of this.#apart.values()) if (held < min) min = held;
    return Number.isFinite(min) ? min : undefined;
  }

  /**
   * Brings every socket that holds less than `last` up to it: `framesAfter(held)` builds the
   * frames for (held, last] once per distinct seq held; null means they cannot be built and
   * `missing` brings that socket up another way (it must call `hold`). Returns the sockets sent to.
   */
  deliver(last: number, framesAfter: (held: number) => readonly string[] | null, missing: (ws: W) => void): number {
    let sends = 0;
    const lost: W[] = [];
    if (this.#level.size > 0 && this.#seq < last) {
      const frames = framesAfter(this.#seq);
      if (frames === null) lost.push(...this.#level);
      else {
        for (const ws of this.#level) for (const f of frames) trySend(ws, f);
        sends += this.#level.size;
      }
    }
    if (this.#level.size === 0 || this.#seq < last) this.#seq = last;
    if (lost.length) this.#level.clear();
    if (this.#apart.size > 0) {
      const built = new Map<number, readonly string[] | null>();
      const behind: W[] = [];
      for (const [ws, held] of this.#apart) {
        if (held > last) continue;
        this.#apart.delete(ws);
        if (held < last) {
          let frames = built.get(held);
          if (frames === undefined) built.set(held, (frames = framesAfter(held)));
          if (frames === null) {
            lost.push(ws);
            continue;
          }
          for (const f of frames) trySend(ws, f);
          sends++;
        }
        // Level only if the level's seq is `last` (a relay restarted from an older snapshot may
        // hold its level ahead of it).
        if (this.#seq === last) this.#level.add(ws);
        else behind.push(ws);
      }
      for (const ws of behind) this.#apart.set(ws, last);
    }
    for (const ws of lost) missing(ws);
    return sends;
  }
}

/** A send to a socket closing under us is not an error: its close handler cleans up. */
export function trySend(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // closing
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
  readonly #rate: () => number;
  readonly #burstSeconds: number;

  /**
   * `perSecond`: the rate, or a function read at each use (operators and tests change the limit
   * live). `burstSeconds`: how many seconds' worth of sends may go back to back.
   */
  constructor(perSecond: number | (() => number), burstSeconds = 0.05, now = 0) {
    this.#rate = typeof perSecond === "number" ? () => perSecond : perSecond;
    this.#burstSeconds = burstSeconds;
    this.#tokens = this.#cap();
    this.#at = now;
  }

  get perSecond(): number {
    return this.#rate();
  }

  #cap(): number {
    return Math.max(1, this.#rate() * this.#burstSeconds);
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#cap(), this.#tokens + ((now - this.#at) * this.#rate()) / 1000);
      this.#at = now;
    }
  }

  /** Milliseconds until `sends` may go (0: now). More than the burst waits for a full bucket. */
  waitFor(sends: number, now: number): number {
    this.#refill(now);
    const need = Math.min(sends, this.#cap());
    return this.#tokens >= need ? 0 : Math.ceil(((need - this.#tokens) * 1000) / this.#rate());
  }

  spend(sends: number, now: number): void {
    this.#refill(now);
    this.#tokens -= sends;
  }
}

/** The live send budget's burst: ~50 ms of sends may go back to back (a quiet room sends at once). */
export const SEND_BURST_SECONDS = 0.05;
/** Distinct replay ranges kept serialized (a replay is at most ~20k events of merged text). */
export const REPLAY_CACHE_ENTRIES = 4;

/**
 * Sends in a live turn from which the next turn waits for the turn's probe (its real cost, writes
 * included): frames to a few people cost the thread little (a turn to 100 sockets is ~3 ms), so a
 * small room forwards events as they come, and a big one gathers what arrives while it writes.
 */
export const PROBED_TURN_SENDS = 100;

/**
 * Of a live turn's measured cost, the share the next turn waits on top of it: 0.5 keeps live turns
 * to at most two thirds of a thread that does nothing else, leaving the rest to the agent's frames
 * and to joiners. Under a backlog the turns then get rarer and each carries more merged events, so
 * the cost per event falls as the load rises instead of staying at one fan-out per frame.
 */
const TURN_COST_SHARE = 0.5;

/**
 * When the next live turn may start: the gather window after the last turn's loop of sends (after
 * its writes too, for a turn to many sockets), and no sooner than 1.5 × that turn's real cost
 * after it began.
 *
 * A turn's real cost is more than its loop of `send` calls: workerd writes the frames to the
 * sockets after the call returns, on the same thread, and tells nothing of it (no
 * `bufferedAmount`). Paced from the end of the loop alone, turns kept coming at a rate the thread
 * could not write: on a busy machine a rejoin storm left viewers 9–27 s behind while every call
 * returned at once (10 of 16 storms). So each turn sets a 0 ms timer, the probe, that fires once
 * the thread has done what was queued before it, the writes included; its delay is the turn's real
 * cost. After a turn to `fullWindowSends` sockets or more, the next waits for the probe and the
 * window counts from it; after a smaller one (cheap to write) it does not, so a small room
 * forwards tokens as they come. A quiet
 * thread runs the probe at once, so an idle room still sends its next event without waiting. (In
 * production Date.now() also stands still during an event, so the loop's end reads as its start:
 * there the probe is the only measure of a turn's cost.)
 */
export class TurnPacer {
  #start = Number.NEGATIVE_INFINITY;
  #loopEnd = Number.NEGATIVE_INFINITY;
  #gap = 0;
  /** Earliest next start by the last turn's real cost; unknown (−∞) until the probe fires. */
  #costNext = Number.NEGATIVE_INFINITY;
  #awaitProbe = false;
  readonly #windowMs: () => number;
  readonly #fullWindowSends: number;
  readonly #probe: (fire: () => void) => void;

  /**
   * `windowMs`: the gather window (read per turn: tests and operators change the limit live; 0 for
   * none, only the cost). `fullWindowSends`: sends from which a turn waits the whole window and
   * its probe; after a smaller turn the window is in proportion (a turn to a few sockets costs the
   * thread little). `probe` schedules the probe (a 0 ms timer; tests fire it by hand).
   */
  constructor(windowMs: () => number, fullWindowSends: number, probe: (fire: () => void) => void = (fire) => setTimeout(fire, 0)) {
    this.#windowMs = windowMs;
    this.#fullWindowSends = fullWindowSends;
    this.#probe = probe;
  }

  /** A turn of `sends` sends began at `start` and its loop ended at `loopEnd` (equal in production). */
  ran(start: number, loopEnd: number, sends: number): void {
    this.#start = start;
    this.#loopEnd = loopEnd;
    this.#gap = this.#windowMs() * Math.min(1, sends / this.#fullWindowSends);
    this.#costNext = Number.NEGATIVE_INFINITY;
    this.#awaitProbe = sends >= this.#fullWindowSends;
    this.#probe(() => this.ended(Date.now()));
  }

  /**
   * The probe fired at `now`: the thread is done with the last turn. After a big turn the window
   * counts from here (the writes' end); after any turn the next waits half its real cost more.
   */
  ended(now: number): void {
    if (this.#costNext !== Number.NEGATIVE_INFINITY) return;
    const cost = Math.max(0, now - this.#start);
    this.#costNext = Math.max(now, this.#start) + Math.max(this.#awaitProbe ? this.#gap : 0, cost * TURN_COST_SHARE);
    this.#awaitProbe = false;
  }

  /** Milliseconds until the next turn may start (0 or less: now; at least 1 while awaiting the probe). */
  wait(now: number): number {
    const wait = Math.max(this.#loopEnd + this.#gap, this.#costNext) - now;
    return this.#awaitProbe ? Math.max(1, wait) : wait;
  }
}
