/**
 * The transcript as a client holds it: a reducer of the room's durable events into state.
 *
 * Deterministic and free of I/O, timers and sockets, so the web app, the runner, the tests and the
 * bench all fold events the same way. It is not an immutable-state reducer on purpose: a session
 * streams hundreds of deltas a second into transcripts of thousands of messages, and copying the
 * message list per delta is O(n) per token. Instead:
 *
 *  - the arrays (`messages`, each message's `parts`, `queue`, ...) are mutated in place, and
 *    messages are found through an id index and parts by a scan from the end (the streaming
 *    part is the last one), so a delta costs O(1) in practice plus one small copy;
 *  - every stored part and message info is an immutable value: a change replaces the object (a
 *    delta makes a shallow copy with the longer string), so a consumer can compare by identity
 *    and an object handed out once never changes under it;
 *  - every change is recorded in a `TranscriptChanges` (which message, which part, which list)
 *    that the consumer takes after a batch (`takeChanges`), so a Solid store can update exactly
 *    the parts that changed (`reconcile` one part list) instead of diffing the whole transcript;
 *  - `version` counts applied changes, for consumers that only need "something changed".
 *
 * Ordering: messages and parts keep the order in which they first appeared (a snapshot's order,
 * then arrival), exactly as the room orders them (by the seq of their first write). A replaced
 * message or part keeps its place. History pages go in front.
 *
 * Idempotent and order-safe: every event carries a seq; events at or below `lastSeq` are skipped,
 * so a replay overlapping what was already applied changes nothing. A merged delta event covers
 * fromSeq..seq; one that straddles `lastSeq` cannot be split and is reported as a gap (the caller
 * resyncs rather than render a wrong transcript).
 *
 * Slices of session state (todos, diff, ...: shared/events/registry.ts) are fields of the
 * transcript under their names, set whole and recorded in `changes.slices`.
 */
import type { Message, MessageWithParts, Part } from "./parts.ts";
import { ChatThread } from "./chat.ts";
import type {
  ChatMessage,
  PermissionRequest,
  QueueItem,
  QuestionRequest,
  RoomEvent,
  SessionMeta,
  Snapshot,
} from "./protocol.ts";
import { reduceSessionEvent, type RawAgentStatus, type SessionState } from "./session-reducer.ts";
import { initialSlices, SLICES, slicesOf, type SliceValues } from "./events/registry.ts";
import { emptyChanges, type ApplyBatchResult, type ApplyResult, type TranscriptChanges } from "./transcript-changes.ts";
import { appendDelta, byIdKey, indexFromEnd, partKey, removeById, replaceAll, upsertInOrder } from "./transcript-lists.ts";
import { normalizeTranscript, type NormalizedTranscript } from "./transcript-normalize.ts";

export type { ApplyBatchResult, ApplyResult, TranscriptChanges } from "./transcript-changes.ts";
export { canonical, normalize, normalizeMessages, normalizeTranscript, type NormalizedTranscript, type NormalizeOptions } from "./transcript-normalize.ts";

/** One message and its parts, in order. */
export interface MessageEntry {
  info: Message;
  parts: Part[];
}

/** Each slice of session state is a field under its name (set in the constructor). */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface Transcript extends SliceValues {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Transcript {
  /** Session metadata; null until the first snapshot. */
  session: SessionMeta | null = null;
  /** Messages in order, each with its parts in order. */
  readonly messages: MessageEntry[] = [];
  /** The prompt queue, in queue order. */
  readonly queue: QueueItem[] = [];
  /** Open permission requests, oldest first. */
  readonly permissions: PermissionRequest[] = [];
  /** Open question requests, oldest first. */
  readonly questions: QuestionRequest[] = [];
  /** Detail of the last `status` event (retry message and attempt). */
  statusDetail: { message?: string; attempt?: number } = {};
  /** The last stop request, for "stopping…" feedback until the agent goes idle. */
  lastStop: { by: string; seq: number; ts: number } | null = null;
  /** The seq of the last event folded in (or of the snapshot). */
  lastSeq = 0;
  /** True when the room has messages older than `messages[0]`. */
  hasMore = false;
  /** Increases with every change. */
  version = 0;
  /** People's chat, folded from the same events (shared/chat.ts). */
  readonly chat = new ChatThread();

  private readonly index = new Map<string, MessageEntry>();
  /** Parts that arrived before their message, by message id; attached when it arrives. */
  private readonly orphans = new Map<string, Part[]>();
  /** Messages seen live but older than the loaded window; their parts are not kept either. */
  private readonly olderThanWindow = new Set<string>();
  private rawStatus: RawAgentStatus = "idle";
  private changes: TranscriptChanges = emptyChanges();

  constructor() {
    Object.assign(this, initialSlices());
  }

  static fromSnapshot(snapshot: Snapshot): Transcript {
    const t = new Transcript();
    t.loadSnapshot(snapshot, { keepOlder: false });
    t.takeChanges();
    return t;
  }

  // ───────────────────────────── reading ─────────────────────────────

  /** The message with this id, or undefined. */
  message(id: string): MessageEntry | undefined {
    return this.index.get(id);
  }

  /** The part with this id in this message, or undefined. */
  part(messageID: string, partID: string): Part | undefined {
    const entry = this.index.get(messageID);
    if (!entry) return undefined;
    const i = indexFromEnd(entry.parts, partID, partKey);
    return i >= 0 ? entry.parts[i] : undefined;
  }

  /** Position of a message in `messages`, or -1. O(n) from the end. */
  indexOfMessage(id: string): number {
    const entry = this.index.get(id);
    return entry ? this.messages.lastIndexOf(entry) : -1;
  }

  /** The id of the oldest loaded message (the `before` cursor of the next history page). */
  get oldestMessageId(): string | undefined {
    return this.messages[0]?.info.id;
  }

  /** Returns what changed since the last call and starts a new record; null if nothing did. */
  takeChanges(): TranscriptChanges | null {
    const c = this.changes;
    const any =
      c.reset ||
      c.session ||
      c.queue ||
      c.permissions ||
      c.questions ||
      c.slices.size > 0 ||
      c.messageList ||
      c.stop ||
      c.chat ||
      c.prepended > 0 ||
      c.messages.size > 0 ||
      c.parts.size > 0 ||
      c.toSeq > 0;
    if (!any) return null;
    this.changes = emptyChanges();
    return c;
  }

  // ───────────────────────────── snapshot and history ─────────────────────────────

  /**
   * Replaces the state with a snapshot. With `keepOlder` (the default) messages that were
   * loaded through history paging and come before the snapshot's first message stay, so a
   * reconnect does not throw away what the reader scrolled back to.
   */
  loadSnapshot(snapshot: Snapshot, opts: { keepOlder?: boolean } = {}): void {
    const kept: MessageEntry[] = [];
    const first = snapshot.messages[0];
    if ((opts.keepOlder ?? true) && snapshot.hasMore && first) {
      const at = this.indexOfMessage(first.info.id);
      // Only when the snapshot overlaps what we hold can we tell what precedes it.
      if (at > 0) {
        const inSnapshot = new Set(snapshot.messages.map((m) => m.info.id));
        for (const m of this.messages.slice(0, at)) if (!inSnapshot.has(m.info.id)) kept.push(m);
      }
    }
    const keptHasMore = this.hasMore;
    this.messages.length = 0;
    this.index.clear();
    this.orphans.clear();
    this.olderThanWindow.clear();
    for (const m of kept) {
      this.messages.push(m);
      this.index.set(m.info.id, m);
    }
    for (const m of snapshot.messages) this.putMessageWithParts(m, "end");
    this.hasMore = kept.length ? keptHasMore : snapshot.hasMore;

    this.session = { ...snapshot.session };
    this.rawStatus = snapshot.rawStatus ?? (snapshot.session.agentStatus === "waiting" ? "busy" : snapshot.session.agentStatus);
    replaceAll(this.queue, snapshot.queue);
    replaceAll(this.permissions, snapshot.permissions);
    replaceAll(this.questions, snapshot.questions);
    Object.assign(this, slicesOf(snapshot));
    this.statusDetail = {};
    this.lastStop = null;
    this.lastSeq = snapshot.seq;
    this.chat.load(snapshot.chat ?? [], snapshot.chatHasMore ?? false);

    this.changes = emptyChanges();
    this.changes.reset = true;
    this.version++;
  }

  /**
   * Puts a page of older messages (a `history` answer, oldest first) in front. Messages already
   * held are left as they are (live events keep them current); the page's `hasMore` becomes ours.
   * Returns how many messages were added.
   */
  prependHistory(page: readonly MessageWithParts[], hasMore: boolean): number {
    const fresh: MessageEntry[] = [];
    for (const m of page) {
      this.olderThanWindow.delete(m.info.id);
      if (this.index.has(m.info.id)) continue;
      const entry = this.putMessageWithParts(m, "none");
      fresh.push(entry);
      this.changes.messages.add(m.info.id);
    }
    if (fresh.length) {
      this.messages.splice(0, 0, ...fresh);
      this.changes.messageList = true;
      this.changes.prepended += fresh.length;
    }
    this.hasMore = hasMore;
    this.version++;
    return fresh.length;
  }

  /** Puts an older chat page (`chat.history`) in front. Returns how many messages were added. */
  prependChat(page: readonly ChatMessage[], hasMore: boolean): number {
    const added = this.chat.prepend(page, hasMore);
    this.changes.chat = true;
    this.version++;
    return added;
  }

  // ───────────────────────────── events ─────────────────────────────

  /**
   * Applies one `events` frame covering seqs from..to with no gap. A frame that starts after
   * lastSeq + 1 means events were missed: nothing is applied and `gap` is set.
   */
  applyBatch(from: number, to: number, events: readonly RoomEvent[]): ApplyBatchResult {
    const out: ApplyBatchResult = { applied: 0, skipped: 0, gap: false };
    if (from > this.lastSeq + 1) {
      out.gap = true;
      return out;
    }
    for (const ev of events) {
      const r = this.applyEvent(ev, { contiguous: false });
      if (r === "applied") out.applied++;
      else if (r === "skipped") out.skipped++;
      else {
        out.gap = true;
        return out;
      }
    }
    // The frame vouches for the whole range, even seqs it carried no event for.
    if (to > this.lastSeq) this.lastSeq = to;
    return out;
  }

  /**
   * Applies one event. Skips it when its seq was already applied. With `contiguous` (the
   * default) an event that does not follow lastSeq directly is a gap and is not applied.
   */
  applyEvent(ev: RoomEvent, opts: { contiguous?: boolean } = {}): ApplyResult {
    const first = ev.fromSeq ?? ev.seq;
    if (ev.seq <= this.lastSeq) return "skipped";
    if (first <= this.lastSeq) return "gap"; // a merged event straddling lastSeq cannot be split
    if ((opts.contiguous ?? true) && first > this.lastSeq + 1) return "gap";
    reduceSessionEvent(this.state, ev, ev.seq, ev.ts);
    this.lastSeq = ev.seq;
    const c = this.changes;
    if (!c.fromSeq) c.fromSeq = first;
    c.toSeq = ev.seq;
    this.version++;
    return "applied";
  }

  /**
   * This transcript as the shared reducer's `SessionState` (shared/session-reducer.ts decides what
   * each event does; these only store, and record what changed for `takeChanges`).
   */
  private readonly state: SessionState = {
    upsertMessage: (info) => {
      this.upsertMessage(info);
      return info;
    },
    removeMessage: (messageID) => this.removeMessage(messageID),
    // Shallow copy: the event object may be shared (one frame applied to two transcripts), and
    // stored parts are values that get replaced, never mutated.
    upsertPart: (part) => {
      this.putPart({ ...part });
      return part;
    },
    appendDelta: (messageID, partID, field, delta) => this.appendToPart(messageID, partID, field, delta),
    removePart: (messageID, partID) => {
      const entry = this.index.get(messageID);
      const list = entry ? entry.parts : this.orphans.get(messageID);
      if (list && removeById(list, partID, partKey) && entry) this.markPart(messageID, partID);
    },
    patchSession: (patch) => this.patchSession(patch),
    rawStatus: () => this.rawStatus,
    setRawStatus: (status, detail) => {
      this.rawStatus = status;
      this.statusDetail = detail;
      if (status === "idle") this.lastStop = null;
    },
    askRequest: (kind, request) => {
      if (kind === "permission") upsertInOrder(this.permissions, request as PermissionRequest, byIdKey);
      else upsertInOrder(this.questions, request as QuestionRequest, byIdKey);
      this.changes[kind === "permission" ? "permissions" : "questions"] = true;
    },
    // Like the room, a request is answered or closed by id, whichever list holds it.
    answerRequest: (requestID) => this.state.closeRequest(requestID),
    closeRequest: (requestID) => {
      if (removeById(this.permissions, requestID, byIdKey)) this.changes.permissions = true;
      if (removeById(this.questions, requestID, byIdKey)) this.changes.questions = true;
    },
    openRequestCount: () => this.permissions.length + this.questions.length,
    queueAdd: (item) => this.state.queueUpdate(item),
    queueUpdate: (item) => {
      upsertInOrder(this.queue, item, byIdKey);
      this.changes.queue = true;
    },
    queueRemove: (id) => {
      if (removeById(this.queue, id, byIdKey)) this.changes.queue = true;
    },
    slice: (name) => this[name],
    setSlice: (name, value) => {
      (this as SliceValues)[name] = value;
      this.changes.slices.add(name);
    },
    stopRequested: (by, seq, ts) => {
      this.lastStop = { by, seq, ts };
      this.changes.stop = true;
    },
    applyChat: (ev, seq, ts) => {
      if (!this.chat.apply({ ...ev, seq, ts })) return false;
      this.changes.chat = true;
      return true;
    },
    chatCount: () => this.session?.chatCount ?? 0,
  };

  /**
   * Replaces `session` with a patched copy (so consumers can compare by identity) and records the
   * change. A no-op before the first snapshot.
   */
  private patchSession(patch: Partial<SessionMeta>): void {
    if (!this.session) return;
    const next: Record<string, unknown> = { ...this.session, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete next[k];
    this.session = next as SessionMeta;
    this.changes.session = true;
  }

  private removeMessage(messageID: string): void {
    this.orphans.delete(messageID);
    const entry = this.index.get(messageID);
    if (!entry) return;
    this.index.delete(messageID);
    const i = this.messages.lastIndexOf(entry);
    if (i >= 0) this.messages.splice(i, 1);
    this.changes.messages.add(messageID);
    this.changes.messageList = true;
  }

  private upsertMessage(info: Message): void {
    const existing = this.index.get(info.id);
    if (existing) {
      existing.info = info;
      this.changes.messages.add(info.id);
      return;
    }
    // A message older than the loaded window (a runner re-sending old messages after a restart):
    // the history page that covers it will carry its current state; appending it would put it
    // out of place at the end.
    if (this.isBeforeWindow(info)) {
      this.olderThanWindow.add(info.id);
      this.orphans.delete(info.id);
      return;
    }
    const entry: MessageEntry = { info, parts: this.orphans.get(info.id) ?? [] };
    this.orphans.delete(info.id);
    this.messages.push(entry);
    this.index.set(info.id, entry);
    this.changes.messages.add(info.id);
    this.changes.messageList = true;
    for (const p of entry.parts) this.markPart(info.id, p.id);
  }

  /** Stores a part value: in its message, or aside until the message arrives. */
  private putPart(part: Part): void {
    const entry = this.index.get(part.messageID);
    if (entry) {
      upsertInOrder(entry.parts, part, partKey);
      this.markPart(part.messageID, part.id);
      return;
    }
    if (this.olderThanWindow.has(part.messageID)) return;
    let list = this.orphans.get(part.messageID);
    if (!list) this.orphans.set(part.messageID, (list = []));
    upsertInOrder(list, part, partKey);
  }

  private appendToPart(messageID: string, partID: string, field: string, delta: string): void {
    const entry = this.index.get(messageID);
    const list = entry ? entry.parts : this.orphans.get(messageID);
    const i = list ? indexFromEnd(list, partID, partKey) : -1;
    if (!list || i < 0) {
      // A delta that raced ahead of its part's first snapshot: like the room, start a text part
      // so the text is not lost (the part's snapshot replaces it).
      if (!entry && this.olderThanWindow.has(messageID)) return;
      this.putPart({ id: partID, messageID, type: "text", [field]: delta } as Part);
      return;
    }
    const next = appendDelta(list[i] as Part, field, delta);
    if (!next) return;
    list[i] = next;
    if (entry) this.markPart(messageID, partID);
  }

  /** Indexes a message with copies of its parts; `end` also appends it to `messages`. */
  private putMessageWithParts(m: MessageWithParts, place: "end" | "none"): MessageEntry {
    const parts = m.parts.map((p) => ({ ...p }) as Part);
    const existing = this.index.get(m.info.id);
    if (existing) {
      existing.info = m.info;
      existing.parts = parts;
      return existing;
    }
    const entry: MessageEntry = { info: m.info, parts };
    if (place === "end") this.messages.push(entry);
    this.index.set(m.info.id, entry);
    return entry;
  }

  /**
   * True for a message created before the oldest loaded one while older history exists. Judged
   * by creation time, not id, so any id scheme works; a tie counts as new.
   */
  private isBeforeWindow(info: Message): boolean {
    const first = this.messages[0];
    return this.hasMore && first !== undefined && info.time.created < first.info.time.created;
  }

  private markPart(messageID: string, partID: string): void {
    let set = this.changes.parts.get(messageID);
    if (!set) this.changes.parts.set(messageID, (set = new Set()));
    set.add(partID);
  }

  /**
   * An independent copy of the whole state (a replay's checkpoint, shared/replay.ts). Stored parts,
   * infos and requests are values never mutated in place, so only the lists are copied.
   */
  clone(): Transcript {
    const t = new Transcript();
    t.session = this.session;
    for (const m of this.messages) {
      const entry: MessageEntry = { info: m.info, parts: m.parts.slice() };
      t.messages.push(entry);
      t.index.set(m.info.id, entry);
    }
    for (const [id, parts] of this.orphans) t.orphans.set(id, parts.slice());
    for (const id of this.olderThanWindow) t.olderThanWindow.add(id);
    replaceAll(t.queue, this.queue);
    replaceAll(t.permissions, this.permissions);
    replaceAll(t.questions, this.questions);
    for (const { name } of SLICES) (t as SliceValues)[name] = this[name] as never;
    t.statusDetail = this.statusDetail;
    t.lastStop = this.lastStop;
    t.lastSeq = this.lastSeq;
    t.hasMore = this.hasMore;
    t.rawStatus = this.rawStatus;
    t.chat.load(this.chat.messages, this.chat.hasMore);
    return t;
  }

  // ───────────────────────────── comparison ─────────────────────────────

  /** The canonical comparable form (see `normalizeTranscript`). */
  toJSON(): NormalizedTranscript {
    return normalizeTranscript(this);
  }
}

