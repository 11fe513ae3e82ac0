/**
 * Replay: a finished (or still running) session played again from its event log, through the ONE
 * reducer the live path uses (shared/session-reducer.ts, held by shared/transcript.ts). The log's
 * events are folded once as they load; every `checkpointEvery` events the state is copied
 * (`Transcript.clone`, which shares the immutable parts), so any position is one checkpoint plus at
 * most that many events away, however long the run.
 *
 * Time: each event keeps the room's commit time. Playing follows it, except that a wait longer
 * than `IDLE_GAP_MS` (the agent idle, nobody typing) plays as `COMPRESSED_GAP_MS` and is listed in
 * `gaps`, so a run with a lunch break in the middle still plays in minutes. Positions are on this
 * compressed clock ("timeline ms").
 *
 * Marks: the moments a viewer looks for on the scrubber (prompts, tool calls, permission waits,
 * errors, chat), computed from the same events.
 *
 * Free of I/O and timers: the app's replay view, the embed and the tests drive it.
 */
import type { ToolPart } from "./parts.ts";
import type { RoomEvent, SessionMeta, Snapshot } from "./protocol.ts";
import { Transcript, type TranscriptChanges } from "./transcript.ts";
import { SLICES } from "./events/registry.ts";

/** Waits longer than this play as `COMPRESSED_GAP_MS` (and show as compressed on the scrubber). */
export const IDLE_GAP_MS = 3_000;
export const COMPRESSED_GAP_MS = 1_000;
/** Default distance between checkpoints (events): a seek folds at most this many. */
export const CHECKPOINT_EVERY = 200;

/** 1×, 2×, 4×, 16× the recorded pace, or `jump`: from one mark to the next. */
export const REPLAY_SPEEDS = [1, 2, 4, 16, "jump"] as const;
export type ReplaySpeed = (typeof REPLAY_SPEEDS)[number];

export type MarkKind = "prompt" | "tool" | "permission" | "error" | "chat";
export interface ReplayMark {
  seq: number;
  kind: MarkKind;
  label: string;
}

/** A wait that plays shortened: between `afterSeq` and the next event, `ms` really passed. */
export interface IdleGap {
  afterSeq: number;
  ms: number;
}

/** The state before seq 1: the session as it was created, nothing else. */
export function originSnapshot(session: SessionMeta): Snapshot {
  return { seq: 0, session, messages: [], hasMore: false, queue: [], permissions: [], questions: [], todos: [], diff: [], chat: [], chatHasMore: false, rawStatus: "idle" };
}

/** The mark an event makes on the scrubber, if any. `seen` collects tool part ids (a tool marks once). */
export function markOf(ev: RoomEvent, seen: Set<string>): ReplayMark | null {
  switch (ev.type) {
    case "queue.add":
      return { seq: ev.seq, kind: "prompt", label: `${ev.item.by}: ${ev.item.text.slice(0, 80)}` };
    case "permission.asked":
      return { seq: ev.seq, kind: "permission", label: `permission: ${ev.request.title ?? ev.request.permission}` };
    case "question.asked":
      return { seq: ev.seq, kind: "permission", label: `question: ${ev.request.questions[0]?.question.slice(0, 80) ?? ""}` };
    case "session.error":
      return { seq: ev.seq, kind: "error", label: ev.error.slice(0, 120) };
    case "chat.add":
      return { seq: ev.seq, kind: "chat", label: `${ev.message.author.name}: ${ev.message.text.slice(0, 80)}` };
    case "part.upsert": {
      if (ev.part.type !== "tool") return null;
      const p = ev.part as ToolPart;
      const status = p.state.status;
      if (status === "error" && !seen.has(`err:${p.id}`)) {
        seen.add(`err:${p.id}`);
        return { seq: ev.seq, kind: "error", label: `${p.tool} failed` };
      }
      if (seen.has(p.id)) return null;
      seen.add(p.id);
      return { seq: ev.seq, kind: "tool", label: p.tool };
    }
    default:
      return null;
  }
}

/**
 * Where a seek left the state, and what differs from the state shown before it: for a seek that
 * started from a checkpoint, found by comparing the two states' immutable values by identity
 * (O(messages + parts), no deep compare), so a view redraws only what the seek changed.
 */
export interface SeekResult {
  transcript: Transcript;
  changes: TranscriptChanges | null;
}

const sameList = <T>(a: readonly T[], b: readonly T[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** What a view showing `from` must redraw to show `to` (both states of one run). */
export function changesBetween(from: Transcript, to: Transcript): TranscriptChanges {
  const messages = new Set<string>();
  const parts = new Map<string, Set<string>>();
  for (const m of to.messages) {
    const old = from.message(m.info.id);
    if (!old || old.info !== m.info) messages.add(m.info.id);
    if (!old || !sameList(old.parts, m.parts)) parts.set(m.info.id, new Set(m.parts.map((p) => p.id)));
  }
  for (const m of from.messages) if (!to.message(m.info.id)) messages.add(m.info.id);
  const messageList = from.messages.length !== to.messages.length || from.messages.some((m, i) => m.info.id !== to.messages[i]?.info.id);
  return {
    reset: false,
    session: from.session !== to.session,
    queue: !sameList(from.queue, to.queue),
    permissions: !sameList(from.permissions, to.permissions),
    questions: !sameList(from.questions, to.questions),
    slices: new Set(SLICES.filter((s) => from[s.name] !== to[s.name]).map((s) => s.name)),
    messages,
    messageList,
    parts,
    prepended: 0,
    stop: to.lastStop !== null && to.lastStop !== from.lastStop,
    chat: !sameList(from.chat.messages, to.chat.messages),
    fromSeq: 0,
    toSeq: 0,
  };
}

export class Replay {
  /** The first seq the log holds (1 for a whole run); the state before it is the origin. */
  readonly start: number;
  readonly checkpointEvery: number;
  readonly marks: ReplayMark[] = [];
  readonly gaps: IdleGap[] = [];
  /** Events in seq order, one per seq from `start`. */
  readonly #events: RoomEvent[] = [];
  /** Timeline ms of each event (index as in #events). */
  readonly #times: number[] = [];
  /** Checkpoint i holds the state after seq start - 1 + i × checkpointEvery. Never mutated. */
  readonly #checkpoints: Transcript[] = [];
  /** Folds every event once as it loads; copied into checkpoints. */
  readonly #builder: Transcript;
  readonly #seenTools = new Set<string>();
  /** The state shown, at `position` (a seq). */
  #current: Transcript;

  constructor(origin: Snapshot, opts: { checkpointEvery?: number } = {}) {
    this.checkpointEvery = Math.max(1, opts.checkpointEvery ?? CHECKPOINT_EVERY);
    this.#builder = Transcript.fromSnapshot(origin);
    this.start = origin.seq + 1;
    this.#checkpoints.push(this.#builder.clone());
    this.#current = this.#builder.clone();
  }

  /** The last seq loaded (start - 1 when none). */
  get end(): number {
    return this.start - 1 + this.#events.length;
  }

  /** The seq shown. */
  get position(): number {
    return this.#current.lastSeq;
  }

  get transcript(): Transcript {
    return this.#current;
  }

  /** Timeline length in ms (compressed clock). */
  get duration(): number {
    return this.#times.at(-1) ?? 0;
  }

  /** The event at this seq, if loaded. */
  event(seq: number): RoomEvent | undefined {
    return this.#events[seq - this.start];
  }

  /**
   * Adds the next events of the log (one per seq, continuing from `end`). Returns false and adds
   * nothing when they do not continue it (a merged event, a gap): the caller reads the log again.
   */
  append(events: readonly RoomEvent[]): boolean {
    let expect = this.end + 1;
    for (const ev of events) {
      if (ev.seq !== expect || (ev.fromSeq !== undefined && ev.fromSeq !== ev.seq)) return false;
      expect++;
    }
    for (const ev of events) {
      const prev = this.#events.at(-1);
      const gap = prev ? Math.max(0, ev.ts - prev.ts) : 0;
      let step = gap;
      if (gap > IDLE_GAP_MS) {
        this.gaps.push({ afterSeq: prev!.seq, ms: gap });
        step = COMPRESSED_GAP_MS;
      }
      this.#times.push((this.#times.at(-1) ?? 0) + step);
      this.#events.push(ev);
      this.#builder.applyEvent(ev);
      const mark = markOf(ev, this.#seenTools);
      if (mark) this.marks.push(mark);
      if ((ev.seq - this.start + 1) % this.checkpointEvery === 0) {
        this.#builder.takeChanges();
        this.#checkpoints.push(this.#builder.clone());
      }
    }
    this.#builder.takeChanges();
    return true;
  }

  /** Timeline ms at which this seq happens (0 for the origin). */
  timeOf(seq: number): number {
    if (seq < this.start) return 0;
    return this.#times[Math.min(seq, this.end) - this.start] ?? 0;
  }

  /** The last seq whose event happened at or before timeline ms `t` (start - 1 before the first). */
  seqAt(t: number): number {
    let lo = 0;
    let hi = this.#times.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#times[mid] as number) <= t) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return this.start + found;
  }

  /** The next mark after `seq` (for the `jump` speed), if any. */
  nextMark(seq: number): ReplayMark | undefined {
    return this.marks.find((m) => m.seq > seq);
  }

  prevMark(seq: number): ReplayMark | undefined {
    return this.marks.findLast((m) => m.seq < seq);
  }

  /**
   * Shows the state at `seq` (clamped to what is loaded). Forward by at most `checkpointEvery`
   * folds onto the shown state (changes reported, for a fine-grained redraw); anything else starts
   * from the nearest checkpoint at or before `seq`: bounded whatever the distance.
   */
  seek(seq: number): SeekResult {
    const target = Math.max(this.start - 1, Math.min(seq, this.end));
    const cur = this.#current;
    if (target >= cur.lastSeq && target - cur.lastSeq <= this.checkpointEvery) {
      this.#fold(cur, target);
      return { transcript: cur, changes: cur.takeChanges() };
    }
    const i = Math.floor((target - this.start + 1) / this.checkpointEvery);
    const next = (this.#checkpoints[Math.min(i, this.#checkpoints.length - 1)] as Transcript).clone();
    this.#fold(next, target);
    next.takeChanges();
    this.#current = next;
    return { transcript: next, changes: changesBetween(cur, next) };
  }

  #fold(t: Transcript, target: number): void {
    for (let s = t.lastSeq + 1; s <= target; s++) t.applyEvent(this.#events[s - this.start] as RoomEvent);
  }
}
