/**
 * The room's live fan-out: who holds which seq, the buffer of committed-but-unsent events, the
 * send budget, live turns (when the buffer goes out), catch-up of a joiner (replay or snapshot),
 * and the caches of serialized replay and snapshot frames. Its own module so the room class only
 * wires; the room calls the methods below and nothing else touches this state. The primitives (buffer, bucket) are in room/fanout.ts; merging and framing in
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
import { Audience, LiveBuffer, PROBED_TURN_SENDS, REPLAY_CACHE_ENTRIES, SEND_BURST_SECONDS, SendBucket, TurnPacer, trySend } from "./fanout.ts";
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
   * Who holds which seq (room/fanout.ts `Audience`): set by a joiner's catch-up and by every live
   * turn, seeded when the instance opens (a room only hibernates with nothing left to send, so
   * every socket it wakes with holds the room's seq), forgotten on close. Live delivery goes only
   * to sockets listed here: one that is closing may still be in `getWebSockets` after its close
   * handler ran, and treating it as new would make every turn of a rejoin storm re-read the log.
   */
  #audience = new Audience();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** A check for a due turn is queued to run after the current handler (see `committed`). */
  #checkQueued = false;
  /** When the next live turn may go: after the last turn's measured cost (room/fanout.ts). */
  #pacer: TurnPacer;
  /** The serialized snapshot frame, reused by every joiner until the next change. */
  #snapshotCache: string | undefined;
  /** Serialized replays by `cursor:upTo` (see `replayFrames`). */
  #replayCache = new Map<string, string[]>();

  constructor(room: FanoutHost) {
    this.#room = room;
    this.#sendBudget = new SendBucket(() => room.limits.liveSendsPerSecond, SEND_BURST_SECONDS, Date.now());
    // No fixed window: a turn gathers what arrived while the thread was busy with the last one.
    this.#pacer = new TurnPacer(PROBED_TURN_SENDS, () => this.turnIfDue());
  }

  /** How many sockets get live events (people and relays). */
  get listeners(): number {
    return this.#audience.size;
  }

  /** A socket the instance woke with: it holds the room's seq (see `#audience`). */
  wokeWith(ws: WebSocket, seq: number): void {
    this.#audience.holdIfNew(ws, seq);
  }

  /** A socket closed: it gets nothing more. */
  forget(ws: WebSocket): void {
    this.#audience.forget(ws);
  }

  /**
   * Events just committed: the snapshot is stale, and they go in the next live turn. Whether it
   * is due is checked once the current handler is done (a microtask, not a timer per event), so a
   * handler's commits share one turn and a commit from an RPC or an alarm is sent as well.
   */
  committed(events: readonly RoomEvent[]): void {
    this.#snapshotCache = undefined;
    for (const e of events) this.#buffer.push(e);
    if (this.#checkQueued) return;
    this.#checkQueued = true;
    queueMicrotask(() => {
      this.#checkQueued = false;
      this.turnIfDue();
    });
  }

  /** One frame (presence) to every live socket; its sends count against the live send budget. */
  sendToAll(frame: string): void {
    for (const ws of this.#audience.sockets()) trySend(ws, frame);
    this.#sendBudget.spend(this.#audience.size, Date.now());
  }

  /** A timer for when the buffer's turn will be due, unless one is set. */
  #scheduleFlush(wait: number): void {
    if (this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.turnIfDue();
    }, wait);
  }

  /**
   * How long the live buffer still waits; 0 means it goes now. Nothing gathers while the thread
   * keeps up: a turn goes unless the writes still outstanding fill the pacer's window (TurnPacer,
   * fed by its probes), so a quiet or small room forwards each event as it comes, and a big room
   * under load gathers what arrived meanwhile into one frame per person. `flushMaxEvents` waiting
   * go at once. The send budget must cover one frame per person.
   */
  #flushWait(now: number): number {
    if (this.#buffer.length === 0) return Number.POSITIVE_INFINITY;
    const gather = this.#buffer.length >= this.#room.limits.flushMaxEvents || this.#pacer.mayRun(this.#audience.size) ? 0 : Number.POSITIVE_INFINITY;
    const budget = this.#sendBudget.waitFor(this.#audience.size, now);
    return Math.max(0, gather, budget);
  }

  /**
   * Runs a live turn now if one is due, else sets a timer for when it will be. Called after every
   * message (the timer alone starves under a continuous stream of frames, each of which runs
   * before the timer's callback) and after every handler that committed.
   *
   * Not run after joins and closes: it did not shorten the live viewers' stall in a rejoin storm
   * (the agent's frames wait behind the queued joins anyway), and each due turn is a full pass
   * over hundreds of people in the middle of the storm (bench/RESULTS.md).
   */
  turnIfDue(): void {
    const wait = this.#flushWait(Date.now());
    // Nothing buffered, or the writes in flight fill the window: a probe calls back.
    if (wait === Number.POSITIVE_INFINITY) return;
    if (wait > 0) return this.#scheduleFlush(wait);
    this.stop();
    this.#deliver();
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
   * Sends every live person the buffered events they do not hold yet; the buffer then holds only
   * what someone still lacks (a joiner listed ahead of this turn). Frames are serialized once per
   * distinct seq held: nearly everyone holds the last turn's seq and shares one set of frames.
   */
  #deliver(): void {
    const last = this.#buffer.lastSeq();
    if (last === undefined) return;
    const start = Date.now();
    const sends = this.#audience.deliver(
      last,
      (held) => this.#framesAfter(held, last),
      // Never expected (see #framesAfter); a snapshot brings this person up to date regardless.
      (ws) => this.sendSnapshot(ws),
    );
    if (sends) {
      this.#sendBudget.spend(sends, start);
      this.#pacer.ran(start, sends);
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
    const lowest = this.#audience.lowest();
    if (lowest === undefined) this.#buffer.clear();
    else this.#buffer.trimThrough(lowest);
  }

  /**
   * Replay or snapshot, to this joiner only, up to the room's current seq. A join never flushes
   * the live buffer: in a rejoin storm that turned every join into a send to every person (500
   * joins × 500 people). The joiner is already in the broadcast set; its catch-up's seq is recorded
   * in `#audience`, so live turns send it only the events after it. Every event reaches it exactly
   * once and in order: the catch-up is sent here, synchronously, before any live turn can run.
   */
  catchUp(conn: Connection<ConnState>, cursor: number | undefined, you: PresenceUser): void {
    const seq = this.#room.meta.seq();
    if (cursor !== undefined && this.#room.log.canReplayFrom(cursor, seq)) {
      send(conn, { type: "welcome", protocol: PROTOCOL_VERSION, you, catchup: "replay", seq });
      for (const f of this.replayFrames(cursor, seq)) conn.send(f);
      this.#audience.hold(conn, seq);
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
    this.#audience.hold(conn, seq);
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
    this.#audience.clear();
    this.#buffer.clear();
  }
}

/** An event too large for any frame: never expected (fields are shortened, deltas split on ingestion). */
function oversized(bytes: number, e: RoomEvent): void {
  console.error(`event ${e.seq} (${e.type}) is ${bytes} bytes, over the frame cap; sent alone`);
}
