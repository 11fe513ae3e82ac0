/**
 * SessionRelay: a Durable Object that holds viewers of one session, so a session's audience grows
 * with the number of objects and not with the room's one thread (docs/architecture.md, "Relays").
 *
 * - It connects to the room like a viewer (tagged by `x-agentroom-relay`, a header only the
 *   Worker's objects can set) and takes the room's live `events` and `presence` frames, each
 *   serialized once by the room and sent once per relay; it sends the same string on to each of
 *   its viewers that holds the frame's start.
 * - It keeps its own tail of events (relay/tail.ts): a rejoining viewer is replayed from it; the
 *   room is asked only for what the tail lacks (`relayReplay`), and for a snapshot once per seq
 *   (`relaySnapshot`, reused for every joiner while the tail covers what followed it).
 * - It reports its viewers to the room (count and the first few, typists first), so everyone's
 *   presence `total` counts the whole audience.
 * - It keeps nothing in storage: a relay that dies loses its sockets, its viewers reconnect with
 *   their cursors, and a new instance starts from the room (snapshot or replay). A relay whose
 *   link to the room drops reconnects with its own cursor and its viewers notice nothing.
 * - It is created on demand (the Worker addresses `<session>.<index>`) and retired when it has
 *   had no viewers for `relayIdleMs`.
 *
 * Viewers only: a relay answers `history`, `resync` and `typing`; every other frame is refused
 * with the error the room gives a viewer.
 *
 * The link to the room (socket, reconnects, parsing its frames) is relay/upstream.ts; the tail is
 * relay/tail.ts.
 */
import { Server, type Connection, type ConnectionContext, type WSMessage } from "partyserver";
import {
  CLOSE_CODES,
  ClientFrameSchema,
  PROTOCOL_VERSION,
  VIEWER_FRAME_TYPES,
  parseFrame,
  type PresenceUser,
  type RoomEvent,
} from "../shared/protocol.ts";
import { limitsFromEnv, type Limits } from "../shared/limits.ts";
import { LINK_HEADER, RELAY_HEADER, parseRelayName, type RelayReport } from "../shared/relay.ts";
import type { Env } from "./env.ts";
import { deltaTextBudget, eventFrames, mergeDeltas } from "../shared/delta.ts";
import { RelayTail } from "./relay/tail.ts";
import { RoomLink, type EventsFrame } from "./relay/upstream.ts";
import { connectionName } from "./room/joining.ts";
import { PRESENCE_LISTED, PresenceRoster } from "./room/presence.ts";
import { RateLimiter } from "./room/rate.ts";
import { Audience, PROBED_TURN_SENDS, REPLAY_CACHE_ENTRIES, SEND_BURST_SECONDS, SendBucket, TurnPacer, trySend } from "./room/fanout.ts";
import { closeFinally, send, sendError } from "./room/send.ts";

interface ViewerState {
  name: string;
  /** The share link the viewer's token names, for revocation. */
  link?: string;
  typing?: boolean;
  chatTyping?: boolean;
}

/** Relay reports are debounced: one per this many ms at most. */
const REPORT_MS = 100;

export class SessionRelay extends Server<Env> {
  // Not hibernating: it holds a client socket to the room, which keeps it in memory anyway, and a
  // relay that is evicted should drop its viewers (they reconnect with their cursors) rather
  // than wake with sockets and no tail.
  static override options = { hibernate: false };

  readonly limits: Limits;
  #sessionId = "";
  #index = 0;
  #tail: RelayTail;
  /** The seq each live viewer holds, as the room keeps it (room/fanout.ts); only these get live frames. */
  #audience = new Audience<Connection<ViewerState>>();
  #roster = new PresenceRoster();
  #rate: RateLimiter;
  #room: RoomLink;
  #retired = false;
  /** The room's last snapshot: served to every joiner while the tail covers what followed it. */
  #snapshot: { seq: number; frame: string } | undefined;
  #snapshotFetch: Promise<{ seq: number; frame: string }> | undefined;
  #replayCache = new Map<string, string[]>();
  /** The room's last presence frame, sent to each joiner. */
  #presence: string | undefined;
  #reportTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Live delivery is paced like the room's: a relay's cost is its sends, and the relays of one
   * process share its thread. While the budget is spent, the room's frames gather in the tail and
   * go out as one frame per viewer (built once) when it allows.
   */
  #sendBudget: SendBucket;
  /** Spaces live turns by their cost, as in the room (room/fanout.ts). */
  #pacer: TurnPacer;
  #liveTimer: ReturnType<typeof setTimeout> | undefined;
  /** The one room frame waiting since the last live turn, sent as is; undefined after two. */
  #pendingRaw: { from: number; text: string } | undefined;
  #pendingFrames = 0;
  /** Viewers that joined this instance, reported to the room's router (room/relay-router.ts). */
  #joins = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.limits = limitsFromEnv(env);
    this.#tail = new RelayTail(this.limits.relayTailEvents);
    this.#rate = new RateLimiter(this.limits.rateFramesPerSecond, this.limits.rateBurst);
    this.#sendBudget = new SendBucket(this.limits.liveSendsPerSecond, SEND_BURST_SECONDS, Date.now());
    // No gather window of its own: the room's frames come gathered already (two windows would add
    // up); only a turn's cost spaces the next, with the send budget.
    this.#pacer = new TurnPacer(PROBED_TURN_SENDS, () => {
      if (this.#pendingFrames) this.#scheduleLive();
    });
    this.#roster.ensure(() => []);
    this.#room = new RoomLink(() => this.name, {
      connect: () => this.#connect(),
      opened: () => this.#report(),
      events: (text, frame) => this.#events(text, frame),
      snapshot: (text, seq) => this.#roomSnapshot(text, seq),
      presence: (text) => this.#roomPresence(text),
      revoke: (links) => this.#revoke(links),
      ended: (code, reason) => this.#closeAll(code, reason),
      wanted: () => this.#audience.size > 0 && !this.#retired,
    });
  }

  // ───────────────────────────── the link to the room ─────────────────────────────

  /** Connects to the room (once; joiners meanwhile wait for the same catch-up). */
  #link(): Promise<void> {
    this.#retired = false;
    return this.#room.link();
  }

  /** The upgrade to the room, with the relay's own cursor: after a dropped link the room replays what it missed. */
  #connect(): Promise<Response> {
    const parsed = parseRelayName(this.name);
    if (!parsed) throw new Error(`bad relay name ${this.name}`);
    this.#sessionId = parsed.sessionId;
    this.#index = parsed.index;
    const cursor = this.#tail.seq > 0 || this.#snapshot ? `&cursor=${this.#tail.seq}` : "";
    const url = `https://relay.internal/parties/session-room/${this.#sessionId}?_pk=relay-${this.#index}-${crypto.randomUUID()}${cursor}`;
    const headers = new Headers({ Upgrade: "websocket", "x-agentroom-role": "viewer", "x-agentroom-name": "relay", [RELAY_HEADER]: String(this.#index) });
    return this.env.SessionRoom.getByName(this.#sessionId).fetch(new Request(url, { headers }));
  }

  /** The room's presence frame goes on to every live viewer and to each joiner. */
  #roomPresence(text: string): void {
    this.#presence = text;
    for (const ws of this.#audience.sockets()) trySend(ws, text);
  }

  /** A snapshot from the room (the relay's catch-up, or a resync): the tail starts over at its seq. */
  #roomSnapshot(text: string, seq: number): void {
    this.#snapshot = { seq, frame: text };
    this.#tail.reset(seq);
    this.#replayCache.clear();
    this.#deliver(undefined);
  }

  /** Events from the room (its replay of what the relay missed, or live): into the tail, then out. */
  #events(text: string, frame: EventsFrame): void {
    const before = this.#tail.seq;
    if (!this.#tail.append(frame.events)) {
      // Never expected (the room sends contiguous ranges); start over from the room's snapshot.
      console.warn(`relay ${this.name}: gap after ${before}; reconnecting`);
      this.#room.drop("gap");
      return;
    }
    this.#pendingFrames++;
    this.#pendingRaw = this.#pendingFrames === 1 && !frame.replay && frame.from === before + 1 ? { from: frame.from, text } : undefined;
    this.#scheduleLive();
  }

  /**
   * A live turn now if the last turn's window has passed and the send budget covers one frame per
   * viewer, else when they will.
   */
  #scheduleLive(): void {
    if (this.#liveTimer !== undefined) return;
    const now = Date.now();
    const wait = this.#pacer.mayRun(this.#audience.size) ? this.#sendBudget.waitFor(this.#audience.size, now) : Number.POSITIVE_INFINITY;
    if (wait <= 0) return this.#liveTurn();
    // The writes in flight fill the window: a probe calls back.
    if (wait === Number.POSITIVE_INFINITY) return;
    this.#liveTimer = setTimeout(() => {
      this.#liveTimer = undefined;
      this.#scheduleLive();
    }, wait);
  }

  #liveTurn(): void {
    const raw = this.#pendingRaw;
    this.#pendingRaw = undefined;
    this.#pendingFrames = 0;
    const start = Date.now();
    const sends = this.#deliver(raw);
    if (!sends) return;
    this.#sendBudget.spend(sends, start);
    this.#pacer.ran(start, sends);
  }

  /**
   * Every live viewer gets what it lacks. Viewers that held the frame's start (nearly all) get the
   * room's own string; the others get frames built from the tail, once per distinct seq held.
   */
  #deliver(raw: { from: number; text: string } | undefined): number {
    return this.#audience.deliver(
      this.#tail.seq,
      (held) => {
        if (raw && held === raw.from - 1) return [raw.text];
        const events = this.#tail.after(held);
        return events ? this.#frames(events, false) : null;
      },
      // The tail cannot say what follows (the relay started over from a snapshot): this viewer
      // starts over too, from the same snapshot.
      (ws) => void this.#sendSnapshot(ws).catch(() => ws.close(1011, "relay unavailable")),
    );
  }

  #closeAll(code: number, reason: string): void {
    for (const c of this.getConnections<ViewerState>()) closeFinally(c, code, reason);
    this.#audience.clear();
    this.#roster.clear();
    this.#roster.ensure(() => []);
    this.#retire();
  }

  /** No viewers left: the link to the room closes and the relay forgets everything. */
  #retire(): void {
    this.#retired = true;
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#room.close("relay retired");
    if (this.#liveTimer !== undefined) clearTimeout(this.#liveTimer);
    this.#liveTimer = undefined;
    this.#pendingRaw = undefined;
    this.#pendingFrames = 0;
    this.#tail.reset(0);
    // The room's router forgets a relay whose link closed: a new link counts joins from zero.
    this.#joins = 0;
    this.#snapshot = undefined;
    this.#replayCache.clear();
    this.#presence = undefined;
  }

  #revoke(links: Set<string>): void {
    for (const c of this.getConnections<ViewerState>()) {
      if (c.state?.link !== undefined && links.has(c.state.link)) closeFinally(c, CLOSE_CODES.revoked, "revoked");
    }
  }

  // ───────────────────────────── viewers ─────────────────────────────

  override async onConnect(conn: Connection<ViewerState>, ctx: ConnectionContext): Promise<void> {
    const role = ctx.request.headers.get("x-agentroom-role");
    if (role !== "viewer") {
      // The Worker sends only viewers here; anything else belongs on the room.
      conn.close(1008, "relays hold viewers only");
      return;
    }
    const name = connectionName(ctx.request.headers.get("x-agentroom-name") ?? "", "viewer");
    const link = ctx.request.headers.get(LINK_HEADER) ?? undefined;
    conn.setState({ name, ...(link ? { link } : {}) });
    this.#joins++;
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#roster.set({ id: conn.id, name, role: "viewer" });
    this.#scheduleReport();
    try {
      const cursorRaw = new URL(ctx.request.url).searchParams.get("cursor");
      const cursor = cursorRaw !== null && /^\d+$/.test(cursorRaw) ? Number(cursorRaw) : undefined;
      // A relay starting afresh (new, retired, or restarted after a crash) asks the room for what
      // follows its first joiner's cursor: after a crash every viewer rejoins from about the same
      // seq, so the others are served from this tail instead of each asking the room.
      if (cursor !== undefined && !this.#room.linking && this.#tail.seq === 0 && !this.#snapshot) this.#tail.reset(cursor);
      await this.#link();
      await this.#catchUp(conn, cursor);
    } catch (e) {
      console.warn(`relay ${this.name}: could not catch a viewer up`, e);
      // Retryable: the client reconnects with its cursor, to this relay or another.
      conn.close(1011, "relay unavailable");
    }
  }

  /** Replay from the relay's tail, else from the room's log, else a snapshot; then live. */
  async #catchUp(conn: Connection<ViewerState>, cursor: number | undefined): Promise<void> {
    const st = conn.state!;
    // As the room says it: the link this socket came in with; relays hold reading viewers only.
    const you: PresenceUser = { id: conn.id, name: st.name, role: "viewer", linkId: st.link ?? `conn-${conn.id}`, canChat: false };
    const seq = this.#tail.seq;
    if (cursor !== undefined) {
      const frames = cursor <= seq ? this.#replayFrames(cursor, seq) : undefined;
      if (frames) {
        send(conn, { type: "welcome", protocol: PROTOCOL_VERSION, you, catchup: "replay", seq });
        for (const f of frames) trySend(conn, f);
        return this.#live(conn, seq);
      }
      // Older than the tail, inside a merged event, or ahead of it (the viewer came from the room):
      // the room replays from its log.
      const r = await this.env.SessionRoom.getByName(this.#sessionId).relayReplay(cursor);
      if (r) {
        send(conn, { type: "welcome", protocol: PROTOCOL_VERSION, you, catchup: "replay", seq: r.seq });
        for (const f of r.frames) trySend(conn, f);
        return this.#live(conn, r.seq);
      }
    }
    send(conn, { type: "welcome", protocol: PROTOCOL_VERSION, you, catchup: "snapshot", seq });
    await this.#sendSnapshot(conn);
  }

  /**
   * A snapshot (the relay's cached one while its tail covers what followed it, otherwise the
   * room's current one, fetched once), then the tail's events after it, then `caught-up`.
   */
  async #sendSnapshot(conn: Connection<ViewerState>): Promise<void> {
    this.#audience.forget(conn);
    const snap = this.#usable(this.#snapshot) ?? (await this.#fetchSnapshot());
    trySend(conn, snap.frame);
    const after = this.#tail.after(snap.seq);
    if (after && after.length) for (const f of this.#frames(after, false)) trySend(conn, f);
    this.#live(conn, after ? this.#tail.seq : snap.seq);
  }

  /**
   * A snapshot serves a joiner while the tail can bring it from there to the present, or while it
   * is ahead of the tail (the live frames that follow catch up with it).
   */
  #usable(snap: { seq: number; frame: string } | undefined): { seq: number; frame: string } | undefined {
    return snap && (snap.seq >= this.#tail.seq || this.#tail.after(snap.seq) !== undefined) ? snap : undefined;
  }

  /** The room's current snapshot, asked once for every joiner waiting at the same time. */
  #fetchSnapshot(): Promise<{ seq: number; frame: string }> {
    this.#snapshotFetch ??= this.env.SessionRoom.getByName(this.#sessionId)
      .relaySnapshot()
      .then((fresh) => {
        if (!fresh) throw new Error("the room has no such session");
        this.#snapshot = fresh;
        return fresh;
      })
      .finally(() => {
        this.#snapshotFetch = undefined;
      });
    return this.#snapshotFetch;
  }

  /** The viewer is caught up to `seq` and live from here. */
  #live(conn: Connection<ViewerState>, seq: number): void {
    if (conn.readyState !== WebSocket.OPEN) return;
    send(conn, { type: "caught-up", seq });
    if (this.#presence) trySend(conn, this.#presence);
    this.#audience.hold(conn, seq);
    // Live frames that arrived while this viewer waited on the room go out now.
    if (seq < this.#tail.seq) this.#deliver(undefined);
  }

  /** Events as `events` frames under the frame cap, consecutive deltas merged (as the room does). */
  #frames(events: readonly RoomEvent[], replay: boolean): string[] {
    const max = this.limits.maxOutgoingFrameBytes;
    return eventFrames(mergeDeltas(events, deltaTextBudget(max)), max, replay);
  }

  /** Replay frames for (cursor, upTo] from the tail, cached; undefined when the tail lacks them. */
  #replayFrames(cursor: number, upTo: number): string[] | undefined {
    const key = `${cursor}:${upTo}`;
    const hit = this.#replayCache.get(key);
    if (hit) return hit;
    const events = this.#tail.after(cursor);
    if (!events) return undefined;
    const frames = this.#frames(events, true);
    if (this.#replayCache.size >= REPLAY_CACHE_ENTRIES) this.#replayCache.delete(this.#replayCache.keys().next().value!);
    this.#replayCache.set(key, frames);
    return frames;
  }

  override async onMessage(conn: Connection<ViewerState>, raw: WSMessage): Promise<void> {
    let ref: string | undefined;
    try {
      const size = typeof raw === "string" ? raw.length : raw.byteLength;
      if (size > this.limits.maxClientFrameBytes) return sendError(conn, "frame_too_large", `frames are limited to ${this.limits.maxClientFrameBytes} bytes`);
      if (!this.#rate.take(conn.id, Date.now())) return sendError(conn, "rate_limited", "too many frames; slow down");
      const parsed = parseFrame(ClientFrameSchema, typeof raw === "string" ? raw : new ArrayBuffer(0));
      if (!parsed.ok) return sendError(conn, parsed.code, parsed.message, parsed.ref);
      const f = parsed.frame;
      ref = f.ref;
      if (!VIEWER_FRAME_TYPES.includes(f.type)) return sendError(conn, "forbidden", `a viewer may not send ${f.type}`, f.ref);
      switch (f.type) {
        case "chat.history": {
          const frame = await this.env.SessionRoom.getByName(this.#sessionId).relayChatHistory(f.ref, f.before, f.limit);
          if (frame === null) return sendError(conn, "not_found", "no such session", f.ref);
          return trySend(conn, frame);
        }
        case "history": {
          const frame = await this.env.SessionRoom.getByName(this.#sessionId).relayHistory(f.ref, f.before, f.limit);
          if (frame === null) return sendError(conn, "not_found", "no such session", f.ref);
          return trySend(conn, frame);
        }
        case "resync":
          return await this.#sendSnapshot(conn);
        case "replay.log":
        case "replay.follow":
          // Replay pages connect with `replay=1`, which the Worker keeps on the room.
          return sendError(conn, "forbidden", "replay is served by the room: connect with replay=1", f.ref);
        case "typing":
          conn.setState({ ...conn.state!, ...((f.where ?? "prompt") === "chat" ? { chatTyping: f.typing } : { typing: f.typing }) });
          this.#roster.set(presenceOf(conn.id, conn.state!));
          return this.#scheduleReport();
      }
    } catch (e) {
      console.error(`relay ${this.name}: frame handler failed`, e);
      sendError(conn, "internal", "the relay could not process this frame; nothing changed", ref);
    }
  }

  override onClose(conn: Connection<ViewerState>): void {
    this.#audience.forget(conn);
    this.#roster.remove(conn.id);
    this.#rate.forget(conn.id);
    this.#scheduleReport();
    if (this.#audience.size === 0 && this.#idleTimer === undefined && !this.#retired) {
      this.#idleTimer = setTimeout(() => {
        this.#idleTimer = undefined;
        if (this.#audience.size === 0 && [...this.getConnections()].length === 0) this.#retire();
      }, this.limits.relayIdleMs);
    }
  }

  override onError(conn: Connection<ViewerState>, error: unknown): void {
    console.warn(`relay ${this.name}: socket error on ${conn.id}`, error);
  }

  // ───────────────────────────── presence ─────────────────────────────

  #scheduleReport(): void {
    if (this.#reportTimer !== undefined) return;
    this.#reportTimer = setTimeout(() => {
      this.#reportTimer = undefined;
      this.#report();
    }, REPORT_MS);
  }

  /** Tells the room how many viewers this relay holds and lists a few (typists first). */
  #report(): void {
    const { users, total } = this.#roster.frame(PRESENCE_LISTED);
    this.#room.send(JSON.stringify({ type: "relay.report", count: total, joins: this.#joins, users } satisfies RelayReport));
  }
}

function presenceOf(id: string, st: ViewerState): PresenceUser {
  return { id, name: st.name, role: "viewer", ...(st.typing ? { typing: true } : {}), ...(st.chatTyping ? { chatTyping: true } : {}) };
}
