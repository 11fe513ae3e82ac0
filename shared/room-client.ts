/**
 * The room client: one connection to a session room, the transcript it keeps, and the commands a
 * person (or a test, or the bench) can send. Framework-free; runs in browsers and in Node ≥ 22.
 *
 * Delivery rules it enforces (design.md, "Delivery"):
 *  - every (re)connect sends the cursor of the last applied event, so the room replays exactly
 *    what was missed; a client with no state sends none and gets a snapshot;
 *  - a frame that does not continue from the cursor is a gap: the client asks for a resync and
 *    renders nothing from that frame, rather than a transcript with a hole in it;
 *  - events already applied (an overlapping replay) are skipped, so nothing shows twice;
 *  - a prompt typed while disconnected is kept and sent after the reconnect; prompts that were
 *    sent but not acknowledged are resent too, under the same id (the room deduplicates).
 *
 * Hot path: one JSON.parse per frame, no schema validation unless `validate` is set (tests), and
 * listeners are told what changed rather than handed a copy.
 *
 * Size: over 500 lines because the delivery rules tie the connection to the transcript (cursor,
 * gaps, resends under the same id); the socket is shared/connection.ts, the reducer
 * shared/session-reducer.ts.
 */
import {
  PROTOCOL_VERSION,
  ServerFrameSchema,
  type ChatMessage,
  type ClientFrame,
  type ErrorCode,
  type Mode,
  type PermissionReply,
  type PresenceUser,
  type ServerFrame,
} from "./protocol.ts";
import type { MessageWithParts } from "./parts.ts";
import { utf8Bytes } from "./delta.ts";
import type { BackoffOptions } from "./backoff.ts";
import {
  Connection,
  fatalFromHttpStatus,
  httpBase,
  type ConnectionState,
  type FatalClose,
  type HeartbeatOptions,
  type WebSocketLike,
} from "./connection.ts";
import { Transcript, type TranscriptChanges } from "./transcript.ts";

export type { ConnectionState, CloseReason } from "./connection.ts";

export interface RoomClientOptions {
  /** Where the Worker is: "127.0.0.1:8787", "http://127.0.0.1:8787", "https://….workers.dev". */
  host: string;
  sessionId: string;
  token: string;
  /** WebSocket implementation; defaults to the global one (browsers, Node ≥ 22). */
  WebSocket?: WebSocketLike;
  backoff?: BackoffOptions;
  heartbeat?: HeartbeatOptions | false;
  connectionTimeoutMs?: number;
  /** Reject a command (other than a prompt) that gets no answer in this time. Default 15 s. */
  commandTimeoutMs?: number;
  /** Base delay before resending a prompt or resync the room refused as rate-limited. Default 1 s. */
  rateLimitRetryMs?: number;
  /** Validate every room frame with zod (for tests and development; off on the hot path). */
  validate?: boolean;
  /** Ask `GET /api/sessions/:id` why an attempt failed before opening (401, 404). Default true. */
  probe?: boolean;
  fetch?: typeof fetch;
  /** Follow the browser's online/offline events. Default true. */
  watchNetwork?: boolean;
  /** Start from a transcript already held (e.g. kept across a remount); its lastSeq is the cursor. */
  transcript?: Transcript;
  /**
   * Where prompts not yet acknowledged are kept across reloads (e.g. `webStoragePromptStore(
   * sessionStorage, key)`): restored and sent on the next connect, so a prompt typed offline
   * survives a reload too. In memory only when absent.
   */
  promptStore?: UnsentPromptStore;
  /** Extra query parameters on every attempt (a replay page sends `replay: "1"`). */
  query?: Readonly<Record<string, string>>;
  /** partyserver's connection id; random by default. */
  connectionId?: string;
  /** A new connection id for every attempt (see ConnectionOptions.newIdPerAttempt). */
  newIdPerAttempt?: boolean;
  /** Party name of the room Durable Object. */
  party?: string;
}

/** A prompt the room has not acknowledged yet. */
export interface UnsentPrompt {
  id: string;
  text: string;
  mode?: Mode;
}

export interface UnsentPromptStore {
  load(): UnsentPrompt[];
  save(prompts: UnsentPrompt[]): void;
}

/** A prompt store on a Web Storage area (sessionStorage: per tab; localStorage: per browser). */
export function webStoragePromptStore(storage: Pick<Storage, "getItem" | "setItem" | "removeItem">, key: string): UnsentPromptStore {
  return {
    load() {
      try {
        const list = JSON.parse(storage.getItem(key) ?? "[]") as unknown;
        return Array.isArray(list)
          ? list.filter((p): p is UnsentPrompt => !!p && typeof p.id === "string" && typeof p.text === "string")
          : [];
      } catch {
        return [];
      }
    },
    save(prompts) {
      try {
        if (prompts.length) storage.setItem(key, JSON.stringify(prompts));
        else storage.removeItem(key);
      } catch {
        // storage full or denied: the prompts still live in memory
      }
    },
  };
}

/** Why a command failed: the room's error code, or a client-side one. */
export type CommandErrorCode = ErrorCode | "disconnected" | "timeout" | "closed";

export class RoomCommandError extends Error {
  readonly code: CommandErrorCode;
  readonly ref?: string;
  constructor(code: CommandErrorCode, message: string, ref?: string) {
    super(message);
    this.name = "RoomCommandError";
    this.code = code;
    this.ref = ref;
  }
}

/** An error frame that answered no command of ours, or a protocol problem seen by the client. */
export interface RoomError {
  code: ErrorCode | "gap" | "bad_frame_from_room" | "protocol_mismatch";
  message: string;
  ref?: string;
}

export interface RoomClientStats {
  frames: number;
  events: number;
  skippedEvents: number;
  snapshots: number;
  gaps: number;
  resyncs: number;
  opens: number;
  /** UTF-8 bytes of the largest frame received (the room caps frames at `maxOutgoingFrameBytes`). */
  largestFrameBytes: number;
}

type Listener<A extends unknown[]> = (...args: A) => void;

interface PendingCommand {
  ref: string;
  frame: string;
  /** Prompts survive reconnects and are resent; other commands fail on a drop. */
  durable: boolean;
  kind: ClientFrame["type"];
  resolve: (value: unknown) => void;
  reject: (err: RoomCommandError) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/** Random id from the platform's CSPRNG (available without a secure context, unlike randomUUID). */
export function randomId(prefix = ""): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return prefix + s;
}

class Emitter<A extends unknown[]> {
  private readonly listeners = new Set<Listener<A>>();
  on(fn: Listener<A>): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  get size(): number {
    return this.listeners.size;
  }
  emit(...args: A): void {
    for (const fn of this.listeners) {
      try {
        fn(...args);
      } catch (e) {
        // A listener's bug must not break the client's frame handling.
        console.error("room client listener failed", e);
      }
    }
  }
}

export class RoomClient {
  readonly sessionId: string;
  readonly transcript: Transcript;
  /** Who the room says we are (name, role, connection id); null until the first welcome. */
  you: PresenceUser | null = null;
  /** Everyone connected, as of the last presence frame. */
  presence: PresenceUser[] = [];
  /** How many are connected, listed or not (a big room's presence frame lists only some). */
  presenceTotal = 0;
  readonly stats: RoomClientStats = { frames: 0, events: 0, skippedEvents: 0, snapshots: 0, gaps: 0, resyncs: 0, opens: 0, largestFrameBytes: 0 };

  private readonly opts: RoomClientOptions;
  private token: string;
  private readonly conn: Connection;
  private readonly pending = new Map<string, PendingCommand>();
  private refCounter = 0;
  private readonly refPrefix = randomId("r").slice(0, 9) + "-";
  /** A resync was asked for and its snapshot has not come yet. */
  private resyncing = false;
  private resyncTimer: ReturnType<typeof setTimeout> | undefined;
  private resyncRef: string | undefined;
  private readonly rateRetryMs: number;
  private typingSent = { prompt: false, chat: false };
  private olderInFlight: Promise<number> | undefined;

  private readonly changeEvents = new Emitter<[TranscriptChanges, Transcript]>();
  private readonly stateEvents = new Emitter<[ConnectionState]>();
  private readonly errorEvents = new Emitter<[RoomError]>();
  private readonly presenceEvents = new Emitter<[PresenceUser[], PresenceUser | null, number]>();
  private readonly frameEvents = new Emitter<[{ type: string } & Record<string, unknown>]>();

  constructor(opts: RoomClientOptions) {
    this.opts = opts;
    this.sessionId = opts.sessionId;
    this.token = opts.token;
    this.rateRetryMs = opts.rateLimitRetryMs ?? RATE_RETRY_MS;
    this.transcript = opts.transcript ?? new Transcript();
    this.restorePrompts();
    const doFetch = opts.fetch ?? (typeof fetch === "function" ? fetch.bind(globalThis) : undefined);
    this.conn = new Connection(
      {
        host: opts.host,
        party: opts.party ?? "session-room",
        room: opts.sessionId,
        token: () => this.token,
        // No state yet: no cursor, so the room sends a snapshot (a replay from 0 has no metadata).
        query: () => ({ ...opts.query, ...(this.transcript.session ? { cursor: String(this.transcript.lastSeq) } : {}) }),
        WebSocket: opts.WebSocket,
        backoff: opts.backoff,
        heartbeat: opts.heartbeat,
        connectionTimeoutMs: opts.connectionTimeoutMs,
        watchNetwork: opts.watchNetwork,
        id: opts.connectionId,
        newIdPerAttempt: opts.newIdPerAttempt,
        probe: opts.probe === false || !doFetch ? false : () => this.probe(doFetch),
      },
      {
        message: (data) => this.onFrameText(data),
        open: () => this.onOpen(),
        close: ({ final }) => this.onDisconnect(final),
        state: (s) => this.stateEvents.emit(s),
      },
    );
  }

  // ───────────────────────────── subscriptions ─────────────────────────────

  /** Called after every frame that changed the transcript, with what changed. */
  onChange(fn: (changes: TranscriptChanges, transcript: Transcript) => void): () => void {
    return this.changeEvents.on(fn);
  }

  onStateChange(fn: (state: ConnectionState) => void): () => void {
    return this.stateEvents.on(fn);
  }

  /** Error frames that answer no pending command, and protocol problems (gaps). */
  onError(fn: (error: RoomError) => void): () => void {
    return this.errorEvents.on(fn);
  }

  onPresence(fn: (users: PresenceUser[], you: PresenceUser | null, total: number) => void): () => void {
    return this.presenceEvents.on(fn);
  }

  /** Every parsed frame after it was handled, including ones this client does not know (agent.*). */
  onFrame(fn: (frame: { type: string } & Record<string, unknown>) => void): () => void {
    return this.frameEvents.on(fn);
  }

  get state(): ConnectionState {
    return this.conn.state;
  }

  /** True once caught up and receiving live events. */
  get live(): boolean {
    const s = this.conn.state;
    return s.status === "open" && s.live;
  }

  /** Prompts not yet acknowledged by the room (typed offline, or in flight). */
  get unsentPrompts(): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.durable && p.kind === "prompt") n++;
    return n;
  }

  /** The prompts not yet acknowledged, oldest first, for a "will be sent" list in the UI. */
  unsentPromptList(): UnsentPrompt[] {
    const out: UnsentPrompt[] = [];
    for (const p of this.pending.values()) {
      if (!p.durable || p.kind !== "prompt") continue;
      const f = JSON.parse(p.frame) as Extract<ClientFrame, { type: "prompt" }>;
      out.push({ id: f.id, text: f.text, ...(f.mode ? { mode: f.mode } : {}) });
    }
    return out;
  }

  // ───────────────────────────── commands ─────────────────────────────

  /**
   * Queues a prompt. `id` is its idempotency key (generated when absent). Kept until the room
   * acknowledges it, and resent after every reconnect until then. Resolves with the id.
   */
  prompt(text: string, opts: { mode?: Mode; id?: string } = {}): Promise<{ id: string; duplicate: boolean }> {
    const id = opts.id ?? randomId("q_");
    const ref = this.nextRef();
    const frame: ClientFrame = { type: "prompt", ref, id, text, ...(opts.mode ? { mode: opts.mode } : {}) };
    const acked = this.command<{ duplicate?: boolean }>(frame, true).then((ack) => ({ id, duplicate: ack.duplicate === true }));
    this.savePrompts();
    return acked;
  }

  private savePrompts(): void {
    this.opts.promptStore?.save(this.unsentPromptList());
  }

  /** Prompts a previous page left unsent: pending again, sent on the next open. */
  private restorePrompts(): void {
    for (const p of this.opts.promptStore?.load() ?? []) {
      const ref = this.nextRef();
      const frame: ClientFrame = { type: "prompt", ref, id: p.id, text: p.text, ...(p.mode ? { mode: p.mode } : {}) };
      this.pending.set(ref, { ref, frame: JSON.stringify(frame), durable: true, kind: "prompt", resolve: noop, reject: noop });
    }
  }

  cancelQueued(id: string): Promise<void> {
    return this.command({ type: "queue.cancel", ref: this.nextRef(), id }).then(noop);
  }

  stop(): Promise<void> {
    return this.command({ type: "stop", ref: this.nextRef() }).then(noop);
  }

  /** Viewers: ask the owners to raise this connection to `role` (answered by a `join.result` frame). */
  askToJoin(role: "driver" | "approver"): Promise<void> {
    return this.command({ type: "join.ask", ref: this.nextRef(), role }).then(noop);
  }

  /** Owners: accept or decline a viewer's request to join. */
  answerJoin(requestId: string, accept: boolean): Promise<void> {
    return this.command({ type: "join.answer", ref: this.nextRef(), requestId, accept }).then(noop);
  }

  setMode(mode: Mode): Promise<void> {
    return this.command({ type: "mode.set", ref: this.nextRef(), mode }).then(noop);
  }

  replyPermission(requestID: string, reply: PermissionReply, message?: string): Promise<void> {
    return this.command({
      type: "permission.reply",
      ref: this.nextRef(),
      requestID,
      reply,
      ...(message !== undefined ? { message } : {}),
    }).then(noop);
  }

  /** Answers a question: one list of chosen labels (or free text) per question; null dismisses it. */
  replyQuestion(requestID: string, answers: string[][] | null): Promise<void> {
    return this.command({ type: "question.reply", ref: this.nextRef(), requestID, answers }).then(noop);
  }

  /**
   * Loads the page of messages before the oldest one held and puts it in front. Resolves with the
   * number of messages added (0 when there is nothing older).
   */
  loadOlder(limit?: number): Promise<number> {
    if (!this.transcript.hasMore) return Promise.resolve(0);
    // A scroll handler may ask many times while a page is on its way: one request serves them.
    if (this.olderInFlight) return this.olderInFlight;
    const before = this.transcript.oldestMessageId;
    const frame: ClientFrame = {
      type: "history",
      ref: this.nextRef(),
      ...(before !== undefined ? { before } : {}),
      ...(limit !== undefined ? { limit: Math.max(1, Math.min(200, Math.floor(limit))) } : {}),
    };
    const request = this.command<{ messages: MessageWithParts[]; hasMore: boolean }>(frame)
      .then((page) => {
        const added = this.transcript.prependHistory(page.messages, page.hasMore);
        this.emitChanges();
        return added;
      })
      .finally(() => {
        this.olderInFlight = undefined;
      });
    this.olderInFlight = request;
    return request;
  }

  /**
   * Tells the others this person is (not) typing a prompt or (`where: "chat"`) a chat message.
   * Sent only on change; no answer expected.
   */
  typing(on: boolean, where: "prompt" | "chat" = "prompt"): void {
    if (on === this.typingSent[where]) return;
    const frame: ClientFrame = { type: "typing", typing: on, ...(where === "chat" ? { where } : {}) };
    if (this.conn.send(JSON.stringify(frame))) this.typingSent[where] = on;
  }

  // ───────────────────────────── chat (shared/chat.ts) ─────────────────────────────

  /**
   * Says something in the room's chat (a comment on a part with `partID`, an answer with
   * `replyTo`). Like a prompt it is kept and resent after a reconnect until acknowledged; the room
   * drops a resend by its id. Resolves with the id.
   */
  chat(text: string, opts: { id?: string; partID?: string; replyTo?: string } = {}): Promise<{ id: string; duplicate: boolean }> {
    const id = opts.id ?? randomId("c_");
    const frame: ClientFrame = {
      type: "chat",
      ref: this.nextRef(),
      id,
      text,
      ...(opts.partID ? { partID: opts.partID } : {}),
      ...(opts.replyTo ? { replyTo: opts.replyTo } : {}),
    };
    return this.command<{ duplicate?: boolean }>(frame, true).then((ack) => ({ id, duplicate: ack.duplicate === true }));
  }

  editChat(id: string, text: string): Promise<void> {
    return this.command({ type: "chat.edit", ref: this.nextRef(), id, text }).then(noop);
  }

  deleteChat(id: string): Promise<void> {
    return this.command({ type: "chat.delete", ref: this.nextRef(), id }).then(noop);
  }

  /** "Ask the agent": queues a chat message as a prompt (drivers and owners). */
  askAgent(chatId: string, promptId: string = randomId("q_")): Promise<void> {
    return this.command({ type: "chat.ask", ref: this.nextRef(), id: chatId, promptId }).then(noop);
  }

  /** Loads the page of chat before the oldest message held. Resolves with how many were added. */
  loadOlderChat(limit?: number): Promise<number> {
    const chat = this.transcript.chat;
    if (!chat.hasMore) return Promise.resolve(0);
    const before = chat.oldestSeq;
    const frame: ClientFrame = { type: "chat.history", ref: this.nextRef(), ...(before !== undefined ? { before } : {}), ...(limit ? { limit } : {}) };
    return this.command<{ messages: ChatMessage[]; hasMore: boolean }>(frame).then((page) => {
      const added = this.transcript.prependChat(page.messages, page.hasMore);
      this.emitChanges();
      return added;
    });
  }

  /** Asks the room for a fresh snapshot. */
  resync(): void {
    this.requestResync();
  }

  /**
   * Sends any frame as is (the runner's agent frames; tests forging frames). Returns false when
   * not connected; nothing is buffered.
   */
  send(frame: object | string): boolean {
    return this.conn.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Replaces the token used from the next attempt on (e.g. a refreshed link), and reconnects. */
  setToken(token: string): void {
    this.token = token;
    this.conn.reconnect();
  }

  /** Skips the rest of a backoff wait. */
  retryNow(): void {
    this.conn.retryNow();
  }

  /** Drops the socket and connects again now (the cursor makes it cheap). */
  reconnect(): void {
    this.conn.reconnect();
  }

  /** Ends the connection; pending commands fail with `closed`. */
  close(): void {
    this.conn.close();
    this.failPending(() => true, "closed", "the client was closed");
    clearTimeout(this.resyncTimer);
  }

  /**
   * Resolves once `predicate` holds (checked now and after every change, state or presence
   * update); rejects after `timeoutMs` or when the connection closes for good.
   */
  waitFor(predicate: (client: RoomClient) => boolean, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const unsubs: (() => void)[] = [];
      const done = (err?: Error) => {
        clearTimeout(timer);
        for (const u of unsubs) u();
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        let ok = false;
        try {
          ok = predicate(this);
        } catch (e) {
          return done(e as Error);
        }
        if (ok) return done();
        const s = this.conn.state;
        if (s.status === "closed") done(new Error(`connection closed (${s.reason}: ${s.message}) while waiting`));
      };
      const timer = setTimeout(() => done(new Error(`waitFor timed out after ${timeoutMs} ms`)), timeoutMs);
      unsubs.push(this.onChange(check), this.onStateChange(check), this.onPresence(check));
      check();
    });
  }

  // ───────────────────────────── internals ─────────────────────────────

  private nextRef(): string {
    return this.refPrefix + (++this.refCounter).toString(36);
  }

  private command<T>(frame: ClientFrame, durable = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const s = this.conn.state;
      if (s.status === "closed") {
        reject(new RoomCommandError("closed", `not connected: ${s.message}`));
        return;
      }
      const text = JSON.stringify(frame);
      const ref = frame.ref as string;
      if (!durable && !this.conn.isOpen) {
        // A stop or a permission reply sent minutes later could hit a different turn: refuse now.
        reject(new RoomCommandError("disconnected", "not connected to the room; try again when connected", ref));
        return;
      }
      const p: PendingCommand = {
        ref,
        frame: text,
        durable,
        kind: frame.type,
        resolve: resolve as (v: unknown) => void,
        reject,
      };
      if (!durable) {
        const ms = this.opts.commandTimeoutMs ?? 15_000;
        p.timer = setTimeout(() => {
          this.pending.delete(ref);
          reject(new RoomCommandError("timeout", `no answer from the room within ${ms} ms`, ref));
        }, ms);
      }
      this.pending.set(ref, p);
      this.conn.send(text); // a durable one not sent now goes out on the next open
    });
  }

  private settle(ref: string | undefined, ok: boolean, value: unknown, code?: ErrorCode, message?: string): boolean {
    if (ref === undefined) return false;
    const p = this.pending.get(ref);
    if (!p) return false;
    this.pending.delete(ref);
    clearTimeout(p.timer);
    if (p.durable) this.savePrompts();
    if (ok) p.resolve(value);
    else p.reject(new RoomCommandError(code ?? "internal", message ?? "failed", ref));
    return true;
  }

  private failPending(which: (p: PendingCommand) => boolean, code: CommandErrorCode, message: string): void {
    for (const p of [...this.pending.values()]) {
      if (!which(p)) continue;
      this.pending.delete(p.ref);
      clearTimeout(p.timer);
      p.reject(new RoomCommandError(code, message, p.ref));
    }
  }

  private onOpen(): void {
    this.stats.opens++;
    this.resyncing = false;
    clearTimeout(this.resyncTimer);
    this.typingSent = { prompt: false, chat: false };
    // Prompts typed while away, and ones whose ack the drop swallowed: same ids, the room dedups.
    for (const p of this.pending.values()) if (p.durable) this.conn.send(p.frame);
  }

  private onDisconnect(final: boolean): void {
    // Commands in flight may or may not have been applied; their callers must not wait forever.
    // Prompts stay (they are resent), unless the connection is over.
    this.failPending((p) => final || !p.durable, final ? "closed" : "disconnected", "the connection to the room dropped");
    this.resyncing = false;
    clearTimeout(this.resyncTimer);
  }

  private requestResync(): void {
    if (this.resyncing) return;
    const ref = this.nextRef();
    if (!this.conn.send(JSON.stringify({ type: "resync", ref } satisfies ClientFrame))) return;
    this.resyncing = true;
    this.resyncRef = ref;
    this.stats.resyncs++;
    // The transcript is stale until the snapshot lands: say so ("catching up"), as on connect.
    this.conn.markCatchingUp();
    // If the snapshot never comes (a lost frame, a refusal), ask again rather than stay stuck.
    this.retryResyncIn(RESYNC_TIMEOUT_MS);
  }

  private retryResyncIn(ms: number): void {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => {
      this.resyncing = false;
      if (this.conn.isOpen) this.requestResync();
    }, ms);
  }

  /**
   * The room refused a frame only because this connection sent too many: a durable prompt is
   * kept and sent again a little later (a reconnect may resend many at once), never dropped.
   */
  private resendLater(p: PendingCommand): void {
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      if (this.pending.get(p.ref) === p) this.conn.send(p.frame);
    }, this.rateRetryMs * (1 + Math.random()));
  }

  private onFrameText(data: string): void {
    this.stats.frames++;
    // Cheap: counted only when the frame could be the largest so far (UTF-8 ≤ 3 bytes per unit).
    if (data.length * 3 > this.stats.largestFrameBytes) this.stats.largestFrameBytes = Math.max(this.stats.largestFrameBytes, utf8Bytes(data));
    let frame: { type?: unknown } & Record<string, unknown>;
    try {
      frame = JSON.parse(data) as typeof frame;
    } catch {
      this.errorEvents.emit({ code: "bad_frame_from_room", message: "the room sent a frame that is not JSON" });
      return;
    }
    if (!frame || typeof frame !== "object" || typeof frame.type !== "string") return;
    if (this.opts.validate && KNOWN_SERVER_FRAMES.has(frame.type)) {
      const r = ServerFrameSchema.safeParse(frame);
      if (!r.success) {
        this.errorEvents.emit({
          code: "bad_frame_from_room",
          message: `invalid ${frame.type} frame from the room: ${r.error.issues[0]?.message ?? "?"}`,
        });
        return;
      }
    }
    this.handleFrame(frame as ServerFrame);
    if (this.frameEvents.size) this.frameEvents.emit(frame as { type: string } & Record<string, unknown>);
  }

  private handleFrame(f: ServerFrame): void {
    const t = this.transcript;
    switch (f.type) {
      case "welcome":
        this.you = f.you;
        if (f.protocol !== PROTOCOL_VERSION) {
          this.errorEvents.emit({
            code: "protocol_mismatch",
            message: `the room speaks protocol ${f.protocol}, this client ${PROTOCOL_VERSION}; reload to update`,
          });
        }
        // A replay needs state to replay onto; and a room behind our cursor lost or replaced
        // history (restored storage, a recreated session): start over from its snapshot.
        if (f.catchup === "replay" && (!t.session || f.seq < t.lastSeq)) this.requestResync();
        this.presenceEvents.emit(this.presence, this.you, this.presenceTotal);
        return;
      case "snapshot":
        t.loadSnapshot(f.snapshot);
        this.stats.snapshots++;
        this.resyncing = false;
        clearTimeout(this.resyncTimer);
        this.emitChanges();
        return;
      case "events": {
        if (!t.session) {
          // Events with nothing to apply them to: we need a snapshot first.
          this.requestResync();
          return;
        }
        const r = t.applyBatch(f.from, f.to, f.events);
        this.stats.events += r.applied;
        this.stats.skippedEvents += r.skipped;
        if (r.gap) this.onGap(f.from);
        this.emitChanges();
        return;
      }
      case "caught-up":
        if (t.lastSeq < f.seq && !this.resyncing) {
          // The room says we should be at f.seq but we are not: something was missed.
          this.onGap(t.lastSeq + 1);
          return;
        }
        if (!this.resyncing) this.conn.markLive();
        return;
      case "history":
        if (!this.settle(f.ref, true, { messages: f.messages, hasMore: f.hasMore })) {
          // An unasked page (or one whose command timed out): still useful, it is older history.
          if (f.messages.length && t.hasMore) {
            t.prependHistory(f.messages, f.hasMore);
            this.emitChanges();
          }
        }
        return;
      case "chat.history":
        this.settle(f.ref, true, { messages: f.messages, hasMore: f.hasMore });
        return;
      case "presence":
        this.presence = f.users;
        this.presenceTotal = f.total ?? f.users.length;
        this.presenceEvents.emit(this.presence, this.you, this.presenceTotal);
        return;
      case "join.result":
        // An owner accepted this connection's request to join: it acts with the new role from now on.
        if (f.outcome === "accepted" && f.role && this.you) {
          this.you = { ...this.you, role: f.role, canChat: true, ...(f.linkId ? { linkId: f.linkId } : {}) };
          this.presenceEvents.emit(this.presence, this.you, this.presenceTotal);
        }
        return;
      case "ack":
        this.settle(f.ref, true, f);
        return;
      case "error": {
        if (f.ref !== undefined && f.ref === this.resyncRef && this.resyncing) {
          // The resync itself was refused (rate limit): ask again shortly.
          this.retryResyncIn(this.rateRetryMs);
          return;
        }
        const p = f.ref !== undefined ? this.pending.get(f.ref) : undefined;
        // A resent prompt the room already has is a success, not a failure.
        if (p && p.kind === "prompt" && f.code === "duplicate") {
          this.settle(f.ref, true, { duplicate: true });
          return;
        }
        if (p && p.durable && f.code === "rate_limited") {
          this.resendLater(p);
          return;
        }
        if (!this.settle(f.ref, false, undefined, f.code, f.message)) {
          this.errorEvents.emit({ code: f.code, message: f.message, ...(f.ref !== undefined ? { ref: f.ref } : {}) });
        }
        return;
      }
    }
  }

  private onGap(from: number): void {
    // Frames past the same gap keep coming until the snapshot does: one resync covers them all.
    if (this.resyncing) return;
    this.stats.gaps++;
    this.errorEvents.emit({
      code: "gap",
      message: `missed events ${this.transcript.lastSeq + 1}..${from - 1}; resyncing`,
    });
    this.requestResync();
  }

  private emitChanges(): void {
    const changes = this.transcript.takeChanges();
    if (changes && this.changeEvents.size) this.changeEvents.emit(changes, this.transcript);
  }

  /** Why did an attempt fail before opening? Ask the HTTP API with the same token. */
  private async probe(doFetch: typeof fetch): Promise<FatalClose | null> {
    const url = `${httpBase(this.opts.host)}/api/sessions/${encodeURIComponent(this.sessionId)}`;
    const res = await doFetch(url, { headers: { authorization: `Bearer ${this.token}` } });
    const reason = fatalFromHttpStatus(res.status);
    if (!reason) {
      await res.body?.cancel().catch(() => {});
      return null;
    }
    let message: string = reason;
    let code: string | undefined;
    try {
      const body = (await res.json()) as { error?: { message?: string; code?: string } };
      if (body?.error?.message) message = body.error.message;
      code = body?.error?.code;
    } catch {
      // not JSON; keep the reason
    }
    // A 401 because the owner revoked the link is its own reason: the app says so.
    return { reason: code === "revoked" ? "revoked" : reason, message, code: res.status };
  }
}

/** How long to wait for the snapshot that answers a resync before asking again. */
const RESYNC_TIMEOUT_MS = 10_000;
/** Base delay before resending a frame the room refused as rate-limited (jittered up to 2x). */
const RATE_RETRY_MS = 1_000;

// Derived from the schema so a new server frame is validated the day it is added.
const KNOWN_SERVER_FRAMES: ReadonlySet<string> = new Set(ServerFrameSchema.options.map((o) => o.shape.type.value));

function noop(): void {}
