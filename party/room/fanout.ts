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

/**
 * `WebSocket.prototype.send`, called on each socket: partyserver turns every accepted socket into
 * its connection by defining properties on it and deleting one, which leaves V8 a slow object to
 * look `send` up on at every call (the loop's own time per send was over half of `send`'s in the
 * profile). Taking the method from the prototype once skips that lookup. Unbound here; a test's
 * fake socket without the real prototype gets its own `send`.
 */
const protoSend: ((this: WebSocket, data: string) => void) | undefined = typeof WebSocket === "function" ? WebSocket.prototype.send : undefined;

/** A send to a socket closing under us is not an error: its close handler cleans up. */
export function trySend(ws: WebSocket, text: string): void {
  try {
    if (protoSend && ws instanceof WebSocket) protoSend.call(ws, text);
    else ws.send(text);
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
 * Sends in a live turn from which the turn is probed (its real cost, writes included, is tracked):
 * frames to a few people cost the thread little, so a small room sets no timer per turn.
 */
export const PROBED_TURN_SENDS = 100;

/**
 * Sends whose writes may be outstanding at once (turns sent whose probe has not fired): ~90 ms of
 * writes at the ~35 µs a send costs workerd here. Enough that a 100-viewer room whose probes come
 * late for reasons other than its own writes (on a busy machine they fired 50–180 ms after a turn
 * to 100 sockets while the room used a quarter of a core) still forwards every event at once;
 * small enough that a thread starved of CPU builds no hidden queue longer than that.
 */
export const SENDS_IN_FLIGHT = 2_500;

/**
 * When the next live turn may start: once the sends whose writes are still outstanding, with the
 * next turn's, fit `SENDS_IN_FLIGHT`. One turn may always go.
 *
 * A turn's real cost is more than its loop of `send` calls: workerd writes the frames to the
 * sockets after the call returns, on the same thread, and tells nothing of it (no
 * `bufferedAmount`). Paced by the loop alone, turns came faster than the thread could write: on a
 * busy machine a rejoin storm left viewers 9–27 s behind while every call returned at once (10 of
 * 16 storms). So a turn to `probedSends` sockets or more sets a 0 ms timer, the probe, that fires
 * once the thread has done what was queued before it, the writes included; until it fires, its
 * sends count as in flight, a window like TCP's with the probe as the ack. Events that arrive while
 * the window is full gather into the next turn, so under load turns carry more events each and the
 * cost per event falls, and on a thread with time to spare every event goes at once. (Waiting for
 * every turn's probe, or spacing turns by a share of its measured cost, cost a 100-viewer room 4–30×
 * its p50 on a machine whose probes came late; not waiting at all let a starved room fall seconds
 * behind: bench/RESULTS.md.) `onIdle` is called when a probe frees room in the window.
 */
export class TurnPacer {
  /** Sends of each probed turn whose probe has not fired, by turn number. */
  readonly #inFlight = new Map<number, number>();
  #inFlightSends = 0;
  #turns = 0;
  /** The last probe's delay after its turn began, ms (for figures and tests). */
  lastCostMs = 0;
  readonly #probedSends: number;
  readonly #window: number;
  readonly #onIdle: () => void;
  readonly #probe: (fire: (now?: number) => void) => void;

  /**
   * `probedSends`: sends from which a turn is probed. `window`: sends that may be in flight.
   * `onIdle`: called when a probe fires (the owner runs a turn if events are waiting). `probe`
   * schedules the probe (a 0 ms timer; tests fire it by hand, with the time).
   */
  constructor(probedSends: number, onIdle: () => void, probe: (fire: (now?: number) => void) => void = (fire) => setTimeout(fire, 0), window = SENDS_IN_FLIGHT) {
    this.#probedSends = probedSends;
    this.#window = window;
    this.#onIdle = onIdle;
    this.#probe = probe;
  }

  /** Sends whose writes may still be outstanding. */
  get inFlight(): number {
    return this.#inFlightSends;
  }

  /** A turn of `sends` sends began at `start`. */
  ran(start: number, sends: number): void {
    if (sends < this.#probedSends) return;
    const turn = ++this.#turns;
    this.#inFlight.set(turn, sends);
    this.#inFlightSends += sends;
    this.#probe((now = Date.now()) => this.#ended(turn, start, now));
  }

  #ended(turn: number, start: number, now: number): void {
    const sends = this.#inFlight.get(turn);
    if (sends === undefined) return;
    this.#inFlight.delete(turn);
    this.#inFlightSends -= sends;
    this.lastCostMs = Math.max(0, now - start);
    this.#onIdle();
  }

  /** Whether a turn of `sends` sends may start now; if not, `onIdle` is called when it may. */
  mayRun(sends: number): boolean {
    return this.#inFlightSends === 0 || this.#inFlightSends + sends <= this.#window;
  }
}
