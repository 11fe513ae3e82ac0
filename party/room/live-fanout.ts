/**
 * The room's live fan-out: who holds which seq, the buffer of committed-but-unsent events, the
 * send budget, live turns (when the buffer goes out), catch-up of a joiner (replay or snapshot),
 * and the caches of serialized replay and snapshot frames. Moved out of party/session-room.ts so
 * the room class only wires; the room calls the methods below and nothing else touches this
 * state. The primitives (buffer, bucket) are in room/fanout.ts; merging and framing in
 * shared/delta.ts.
 *
 * All of it is memory: a room evicted at any moment loses nothing a client cannot get back by
 * reconnecting with its cursor (the log and the stores are durable).
 */
import type { Connection } from "partyserver";
import { PROTOCOL_VERSION, type PresenceUser, type RoomEvent } from "../../shared/protocol.ts";
import { deltaTextBudget as deltaRunBytes, eventFrames, mergeDeltas } from "../../shared/delta.ts";
import type { Limits } from "../../shared/limits.ts";
import type { ConnState } from "./conn-state.ts";
import { FULL_WINDOW_SENDS, LiveBuffer, REPLAY_CACHE_ENTRIES, SEND_BURST_SECONDS, SendBucket, TurnPacer } from "./fanout.ts";
import type { EventLog } from "./log.ts";
import type { MetaStore } from "./meta.ts";
import { send } from "./send.ts";

/** What the fan-out needs of the room. */
export interface FanoutHost {
  readonly limits: Limits;
  readonly log: EventLog;
  readonly meta: MetaStore;
  /** Serializes the snapshot frame (the fan-out caches it until the next commit). */
  buildSnapshotFrame(): string;
}

export class LiveFanout {
  readonly #room: FanoutHost;
  #buffer = new LiveBuffer();
  #sendBudget: SendBucket;
  /**
   * The highest seq each live person holds: set by their catch-up and by every live send, seeded
   * when the instance opens (a room only hibernates with nothing left to send, so every socket it
   * wakes with holds the room's seq), deleted on close. Live delivery goes only to sockets listed
   * here: one that is closing may still be in `getWebSockets` after its close handler ran, and
   * treating it as new once made every turn of a rejoin storm re-read the log. Its keys are the
   * live people: iterating them costs nothing per turn, where `getWebSockets` builds an array of
   * every socket (~5 µs a socket).
   */
  #heldSeq = new Map<WebSocket, number>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the next live turn may go: the window after the last turn's end (room/fanout.ts). */
  #pacer: TurnPacer;
  /** The serialized snapshot frame, reused by every joiner until the next change. */
  #snapshotCache: string | undefined;
  /** Serialized replays by `cursor:upTo` (see `replayFrames`). */
  #replayCache = new Map<string, string[]>();

  constructor(room: FanoutHost) {
    this.#room = room;
    this.#sendBudget = new SendBucket(room.limits.liveSendsPerSecond, SEND_BURST_SECONDS, Date.now());
    this.#pacer = new TurnPacer(() => room.limits.flushIntervalMs, FULL_WINDOW_SENDS);
  }

  /** How many sockets get live events (people and relays). */
  get listeners(): number {
    return this.#heldSeq.size;
  }

  /** A socket the instance woke with: it holds the room's seq (see `#heldSeq`). */
  wokeWith(ws: WebSocket, seq: number): void {
    if (!this.#heldSeq.has(ws)) this.#heldSeq.set(ws, seq);
  }

  /** A socket closed: it gets nothing more. */
  forget(ws: WebSocket): void {
    this.#heldSeq.delete(ws);
  }

  /** Events just committed: the snapshot is stale, and they wait for the next live turn. */
  committed(events: readonly RoomEvent[]): void {
    this.#snapshotCache = undefined;
    for (const e of events) this.#buffer.push(e);
    this.#scheduleFlush();
  }

  /** One frame (presence) to every live socket; its sends count against the live send budget. */
  sendToAll(frame: string): void {
    for (const ws of this.#heldSeq.keys()) {
      try {
        ws.send(frame);
      } catch {
        // closing
      }
    }
    this.#sendBudget.spend(this.#heldSeq.size, Date.now());
  }

  #scheduleFlush(): void {
    if (this.#flushTimer !== undefined || this.#buffer.length === 0) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      // The last turn may have ended later than when this timer was set (see TurnPacer).
      if (this.#flushWait(Date.now()) > 0) this.#scheduleFlush();
      else this.#liveTurn();
    }, this.#flushWait(Date.now()));
  }

  /**
   * How long the live buffer still waits; 0 means it goes now. Batching applies only while frames
   * are already going out: live turns are spaced `flushIntervalMs` apart, so a burst of tokens
   * leaves as one frame, but a room that sent nothing for a window sends the next event at once
   * (unless `flushMaxEvents` are waiting, which go at once too). The send budget must cover one
   * frame per person.
   */
  #flushWait(now: number): number {
    if (this.#buffer.length === 0) return Number.POSITIVE_INFINITY;
    const gather = this.#buffer.length >= this.#room.limits.flushMaxEvents ? 0 : this.#pacer.wait(now);
    const budget = this.#sendBudget.waitFor(this.#heldSeq.size, now);
    return Math.max(0, gather, budget);
  }

  /** One turn of live delivery: everyone gets what they lack. */
  #liveTurn(): void {
    this.#deliver();
    this.#scheduleFlush();
  }

  /**
   * Runs a live turn now if one is due. The timer alone starves under a continuous stream of
   * frames, each of which runs before the timer's callback; checking after every message keeps the
   * live frames going out on time, within the send budget.
   *
   * Not run after joins and closes: tried, it did not shorten the live viewers' stall in a rejoin
   * storm (the agent's frames wait behind the queued joins anyway), and each due turn is a full
   * pass over hundreds of people in the middle of the storm (bench/RESULTS.md).
   */
  turnIfDue(): void {
    if (this.#buffer.length === 0 || this.#flushWait(Date.now()) > 0) return;
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#liveTurn();
  }

  /** Sends every buffered event to every person now, whatever the budget (RPCs, archiving, delete). */
  flush(): void {
    this.stop();
    this.#deliver();
  }

  /** No live turn pending (the room is being deleted). */
  stop(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
  }

  /**
   * Sends every live person the buffered events they do not hold yet, then drops from the buffer
   * what everyone holds. Sockets that hold the same seq (nearly everyone, normally) share frames
   * serialized once; a joiner whose catch-up went further gets only what follows it.
   */
  #deliver(): void {
    const last = this.#buffer.lastSeq();
    if (last === undefined) return;
    const framesFrom = new Map<number, string[] | null>();
    const start = Date.now();
    let sends = 0;
    // Only existing keys are updated below (no join or close runs inside), which a Map's iterator
    // allows. A socket not listed is closed or not caught up yet (its catch-up lists it).
    for (const [ws, held] of this.#heldSeq) {
      if (held >= last) continue;
      let frames = framesFrom.get(held);
      if (frames === undefined) {
        frames = this.#framesAfter(held, last);
        framesFrom.set(held, frames);
      }
      if (frames === null) {
        // Never expected (see #framesAfter); a snapshot brings this person up to date regardless.
        this.sendSnapshot(ws);
        continue;
      }
      for (const f of frames) {
        try {
          ws.send(f);
        } catch {
          // A socket closing under us; its close handler cleans up.
        }
      }
      this.#heldSeq.set(ws, last);
      sends++;
    }
    if (sends) {
      this.#sendBudget.spend(sends, start);
      this.#pacer.ran(start, Date.now(), sends);
    }
    this.#trimBuffer();
  }

  /**
   * Live frames for (held, last]: from the buffer, or from the log if the buffer no longer has
   * them (not reachable while the buffer is trimmed by what everyone holds), or null when the log
   * was compacted past them too.
   */
  #framesAfter(held: number, last: number): string[] | null {
    const max = this.#room.limits.maxOutgoingFrameBytes;
    const log = this.#room.log;
    const events = this.#buffer.after(held) ?? (log.canReplayFrom(held, last) ? log.readMerged(held, last, deltaRunBytes(max)) : undefined);
    return events ? eventFrames(mergeDeltas(events, deltaRunBytes(max)), max, false, oversized) : null;
  }

  /** Drops what every person holds; with nobody listening that is everything (joiners read the log). */
  #trimBuffer(): void {
    if (this.#heldSeq.size === 0) return this.#buffer.clear();
    let min = Number.POSITIVE_INFINITY;
    for (const held of this.#heldSeq.values()) if (held < min) min = held;
    this.#buffer.trimThrough(min);
  }

  /**
   * Replay or snapshot, to this joiner only, up to the room's current seq. A join never flushes
   * the live buffer: in a rejoin storm that turned every join into a send to every person (500
   * joins × 500 people). The joiner is already in the broadcast set; its catch-up's seq is recorded
   * in `#heldSeq`, so live turns send it only the events after it. Every event reaches it exactly
   * once and in order: the catch-up is sent here, synchronously, before any live turn can run.
   */
  catchUp(conn: Connection<ConnState>, cursor: number | undefined, you: PresenceUser): void {
    const seq = this.#room.meta.seq();
    if (cursor !== undefined && this.#room.log.canReplayFrom(cursor, seq)) {
      send(conn, { type: "welcome", protocol: PROTOCOL_VERSION, you, catchup: "replay", seq });
      for (const f of this.replayFrames(cursor, seq)) conn.send(f);
      this.#heldSeq.set(conn, seq);
      send(conn, { type: "caught-up", seq });
    } else {
      send(conn, { type: "welcome", protocol: PROTOCOL_VERSION, you, catchup: "snapshot", seq });
      this.sendSnapshot(conn);
    }
  }

  /**
   * A snapshot and its `caught-up` (a joiner, or a client's resync). The snapshot holds the room
   * at its current seq; if that is past the last flush, the next flush skips what it holds.
   */
  sendSnapshot(conn: WebSocket): void {
    const seq = this.#room.meta.seq();
    conn.send(this.snapshotFrame());
    this.#heldSeq.set(conn, seq);
    send(conn, { type: "caught-up", seq });
  }

  /** The latest page and current state, serialized once per change. */
  snapshotFrame(): string {
    this.#snapshotCache ??= this.#room.buildSnapshotFrame();
    return this.#snapshotCache;
  }

  /**
   * Replay frames for (cursor, upTo], cached: rejoiners after a drop mostly share a cursor (they
   * were all live at the same seq), so a storm reads and serializes the log once, not per joiner.
   */
  replayFrames(cursor: number, upTo: number): string[] {
    if (cursor >= upTo) return [];
    const key = `${cursor}:${upTo}`;
    const hit = this.#replayCache.get(key);
    if (hit) return hit;
    const max = this.#room.limits.maxOutgoingFrameBytes;
    const frames = eventFrames(this.#room.log.readMerged(cursor, upTo, deltaRunBytes(max)), max, true, oversized);
    // Small and short-lived: a few distinct cursors per storm; older ranges are rarely asked again.
    if (this.#replayCache.size >= REPLAY_CACHE_ENTRIES) this.#replayCache.delete(this.#replayCache.keys().next().value!);
    this.#replayCache.set(key, frames);
    return frames;
  }

  /** The room was deleted: no timer left, nothing held, nothing cached. */
  clear(): void {
    this.stop();
    this.#snapshotCache = undefined;
    this.#replayCache.clear();
    this.#heldSeq.clear();
    this.#buffer.clear();
  }
}

/** An event too large for any frame: never expected (fields are shortened, deltas split on ingestion). */
function oversized(bytes: number, e: RoomEvent): void {
  console.error(`event ${e.seq} (${e.type}) is ${bytes} bytes, over the frame cap; sent alone`);
}
