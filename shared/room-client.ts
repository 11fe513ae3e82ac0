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
 * The socket is shared/connection.ts, commands in flight shared/room-commands.ts, options and
 * errors shared/room-client-types.ts, the reducer shared/session-reducer.ts.
 */
import { PROTOCOL_VERSION, type ChatMessage, type ClientFrame, type Mode, type PermissionReply, type PresenceUser, type ServerFrame } from "./protocol.ts";
import type { MessageWithParts } from "./parts.ts";
import { utf8Bytes } from "./delta.ts";
import { Connection, probeSession, type ConnectionState } from "./connection.ts";
import { Transcript, type TranscriptChanges } from "./transcript.ts";
import { Emitter, randomId, readRoomFrame, type RoomClientOptions, type RoomClientStats, type RoomError, type UnsentPrompt } from "./room-client-types.ts";
import { PendingCommands } from "./room-commands.ts";

export type { ConnectionState, CloseReason } from "./connection.ts";
export { RoomCommandError, randomId, webStoragePromptStore } from "./room-client-types.ts";
export type { CommandErrorCode, RoomClientOptions, RoomClientStats, RoomError, UnsentPrompt, UnsentPromptStore } from "./room-client-types.ts";

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
  private readonly commands: PendingCommands;
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
    this.commands = new PendingCommands({
      link: () => this.conn,
      commandTimeoutMs: opts.commandTimeoutMs,
      promptStore: opts.promptStore,
      rateRetryMs: this.rateRetryMs,
    });
    this.commands.restorePrompts();
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
        probe: opts.probe === false || !doFetch ? false : () => probeSession(doFetch, opts.host, this.sessionId, this.token),
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
    return this.commands.unsentPrompts;
  }

  /** The prompts not yet acknowledged, oldest first, for a "will be sent" list in the UI. */
  unsentPromptList(): UnsentPrompt[] {
    return this.commands.unsentPromptList();
  }

  // ───────────────────────────── commands ─────────────────────────────

  /**
   * Queues a prompt. `id` is its idempotency key (generated when absent). Kept until the room
   * acknowledges it, and resent after every reconnect until then. Resolves with the id.
   */
  prompt(text: string, opts: { mode?: Mode; id?: string } = {}): Promise<{ id: string; duplicate: boolean }> {
    const id = opts.id ?? randomId("q_");
    const ref = this.commands.nextRef();
    const frame: ClientFrame = { type: "prompt", ref, id, text, ...(opts.mode ? { mode: opts.mode } : {}) };
    const acked = this.commands.send<{ duplicate?: boolean }>(frame, true).then((ack) => ({ id, duplicate: ack.duplicate === true }));
    this.commands.savePrompts();
    return acked;
  }

  cancelQueued(id: string): Promise<void> {
    return this.commands.send({ type: "queue.cancel", ref: this.commands.nextRef(), id }).then(noop);
  }

  stop(): Promise<void> {
    return this.commands.send({ type: "stop", ref: this.commands.nextRef() }).then(noop);
  }

  /** Viewers: ask the owners to raise this connection to `role` (answered by a `join.result` frame). */
  askToJoin(role: "driver" | "approver"): Promise<void> {
    return this.commands.send({ type: "join.ask", ref: this.commands.nextRef(), role }).then(noop);
  }

  /** Owners: accept or decline a viewer's request to join. */
  answerJoin(requestId: string, accept: boolean): Promise<void> {
    return this.commands.send({ type: "join.answer", ref: this.commands.nextRef(), requestId, accept }).then(noop);
  }

  setMode(mode: Mode): Promise<void> {
    return this.commands.send({ type: "mode.set", ref: this.commands.nextRef(), mode }).then(noop);
  }

  replyPermission(requestID: string, reply: PermissionReply, message?: string): Promise<void> {
    return this.commands.send({
      type: "permission.reply",
      ref: this.commands.nextRef(),
      requestID,
      reply,
      ...(message !== undefined ? { message } : {}),
    }).then(noop);
  }

  /** Answers a question: one list of chosen labels (or free text) per question; null dismisses it. */
  replyQuestion(requestID: string, answers: string[][] | null): Promise<void> {
    return this.commands.send({ type: "question.reply", ref: this.commands.nextRef(), requestID, answers }).then(noop);
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
      ref: this.commands.nextRef(),
      ...(before !== undefined ? { before } : {}),
      ...(limit !== undefined ? { limit: Math.max(1, Math.min(200, Math.floor(limit))) } : {}),
    };
    const request = this.commands.send<{ messages: MessageWithParts[]; hasMore: boolean }>(frame)
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
      ref: this.commands.nextRef(),
      id,
      text,
      ...(opts.partID ? { partID: opts.partID } : {}),
      ...(opts.replyTo ? { replyTo: opts.replyTo } : {}),
    };
    return this.commands.send<{ duplicate?: boolean }>(frame, true).then((ack) => ({ id, duplicate: ack.duplicate === true }));
  }

  editChat(id: string, text: string): Promise<void> {
    return this.commands.send({ type: "chat.edit", ref: this.commands.nextRef(), id, text }).then(noop);
  }

  deleteChat(id: string): Promise<void> {
    return this.commands.send({ type: "chat.delete", ref: this.commands.nextRef(), id }).then(noop);
  }

  /** "Ask the agent": queues a chat message as a prompt (drivers and owners). */
  askAgent(chatId: string, promptId: string = randomId("q_")): Promise<void> {
    return this.commands.send({ type: "chat.ask", ref: this.commands.nextRef(), id: chatId, promptId }).then(noop);
  }

  /** Loads the page of chat before the oldest message held. Resolves with how many were added. */
  loadOlderChat(limit?: number): Promise<number> {
    const chat = this.transcript.chat;
    if (!chat.hasMore) return Promise.resolve(0);
    const before = chat.oldestSeq;
    const frame: ClientFrame = { type: "chat.history", ref: this.commands.nextRef(), ...(before !== undefined ? { before } : {}), ...(limit ? { limit } : {}) };
    return this.commands.send<{ messages: ChatMessage[]; hasMore: boolean }>(frame).then((page) => {
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
    this.commands.fail(() => true, "closed", "the client was closed");
    clearTimeout(this.resyncTimer);
  }

  // ───────────────────────────── internals ─────────────────────────────

  private onOpen(): void {
    this.stats.opens++;
    this.resyncing = false;
    clearTimeout(this.resyncTimer);
    this.typingSent = { prompt: false, chat: false };
    this.commands.resendDurable();
  }

  private onDisconnect(final: boolean): void {
    // Commands in flight may or may not have been applied; their callers must not wait forever.
    // Prompts stay (they are resent), unless the connection is over.
    this.commands.fail((p) => final || !p.durable, final ? "closed" : "disconnected", "the connection to the room dropped");
    this.resyncing = false;
    clearTimeout(this.resyncTimer);
  }

  private requestResync(): void {
    if (this.resyncing) return;
    const ref = this.commands.nextRef();
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

  private onFrameText(data: string): void {
    this.stats.frames++;
    // Cheap: counted only when the frame could be the largest so far (UTF-8 ≤ 3 bytes per unit).
    if (data.length * 3 > this.stats.largestFrameBytes) this.stats.largestFrameBytes = Math.max(this.stats.largestFrameBytes, utf8Bytes(data));
    const read = readRoomFrame(data, this.opts.validate === true);
    if (!read) return;
    if ("error" in read) return this.errorEvents.emit(read.error);
    const frame = read.frame;
    this.handleFrame(frame as ServerFrame);
    if (this.frameEvents.size) this.frameEvents.emit(frame);
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
        if (!this.commands.settle(f.ref, true, { messages: f.messages, hasMore: f.hasMore })) {
          // An unasked page (or one whose command timed out): still useful, it is older history.
          if (f.messages.length && t.hasMore) {
            t.prependHistory(f.messages, f.hasMore);
            this.emitChanges();
          }
        }
        return;
      case "chat.history":
        this.commands.settle(f.ref, true, { messages: f.messages, hasMore: f.hasMore });
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
        this.commands.settle(f.ref, true, f);
        return;
      case "error": {
        if (f.ref !== undefined && f.ref === this.resyncRef && this.resyncing) {
          // The resync itself was refused (rate limit): ask again shortly.
          this.retryResyncIn(this.rateRetryMs);
          return;
        }
        const p = f.ref !== undefined ? this.commands.get(f.ref) : undefined;
        // A resent prompt the room already has is a success, not a failure.
        if (p && p.kind === "prompt" && f.code === "duplicate") {
          this.commands.settle(f.ref, true, { duplicate: true });
          return;
        }
        if (p && p.durable && f.code === "rate_limited") {
          this.commands.resendLater(p);
          return;
        }
        if (!this.commands.settle(f.ref, false, undefined, f.code, f.message)) {
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
}

/** How long to wait for the snapshot that answers a resync before asking again. */
const RESYNC_TIMEOUT_MS = 10_000;
/** Base delay before resending a frame the room refused as rate-limited (jittered up to 2x). */
const RATE_RETRY_MS = 1_000;

function noop(): void {}
