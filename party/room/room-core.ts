/**
 * The room's working parts, wired: its stores, the commit transaction (the one path every event
 * takes to storage), the lifecycle, partyserver's hooks (connections, frames, closes, the alarm)
 * and what the room's modules call on it. SessionRoom (party/session-room.ts) adds the methods the
 * Worker and the relays call over RPC.
 */
import { Server, type Connection, type ConnectionContext, type WSMessage } from "partyserver";
import {
  CLOSE_CODES,
  LOBBY_ROOM,
  UNTITLED_SESSION,
  parseFrame,
  type LinkRecord,
  type PresenceUser,
  type RoomEvent,
  type RoomEventBody,
  type SessionMeta,
} from "../../shared/protocol.ts";
import { mayChat } from "../../shared/chat.ts";
import { limitsFromEnv, type Limits } from "../../shared/limits.ts";
import type { Env } from "../env.ts";
import { hasSchema, migrate } from "./migrations.ts";
import { MetaStore } from "./meta.ts";
import { EventLog } from "./log.ts";
import { TranscriptStore } from "./transcript-store.ts";
import { snapshotFrame } from "./snapshot.ts";
import { sendError } from "./send.ts";
import { PromptQueue } from "./queue.ts";
import { RequestStore } from "./requests.ts";
import { Dedupe } from "./dedupe.ts";
import { roomSessionState, type RoomStores } from "./apply.ts";
import { FrameGate } from "./frames.ts";
import { Lease } from "./lease.ts";
import { reduceSessionEvent, type SessionState } from "../../shared/session-reducer.ts";
import { LiveFanout } from "./live-fanout.ts";
import { LobbySync } from "./lobby-sync.ts";
import { ChatStore } from "./chat-store.ts";
import { PRESENCE_LISTED } from "./presence.ts";
import { RoomPresence } from "./room-presence.ts";
import { RelayRouter } from "./relay-router.ts";
import { RELAY_HEADER, RelayReportSchema } from "../../shared/relay.ts";
import { LinkStore, type LinkInit } from "../links.ts";
import { admitUpgrade } from "./admit.ts";
import { ConnectionBound, joining } from "./joining.ts";
import { replayLeft } from "./replay-lead.ts";
import { joinAskLeft, sendJoinRequests } from "./join-ask.ts";
import type { ConnState, CreateRoomInit } from "./conn-state.ts";
import { RoomStreams, STREAM_READER_HEADER } from "./stream-read.ts";
import { httpError } from "../http.ts";

/** Tags: agents and people get different traffic (people get events, the agent gets commands). */
export const TAG_AGENT = "agent";
export const TAG_PEOPLE = "people";
/** A relay gets what people get (events, presence) and reports its viewers; it is not a person. */
export const TAG_RELAY = "relay";
/** Close codes (4000–4999 are ours): one list, in shared/protocol.ts. */
export const CLOSE = CLOSE_CODES;

export abstract class RoomCore extends Server<Env> {
  readonly limits: Limits;
  readonly meta: MetaStore;
  readonly log: EventLog;
  readonly transcript: TranscriptStore;
  readonly queue: PromptQueue;
  readonly requests: RequestStore;
  readonly chat: ChatStore;
  readonly dedupe: Dedupe;
  readonly stores: RoomStores;
  /** The stores as the shared reducer sees them. */
  readonly #state: SessionState;
  /** The runner lease and prompt dispatch (party/room/lease.ts). */
  protected readonly lease = new Lease(this);
  readonly links: LinkStore;

  protected ready = false;
  /** Live delivery, catch-up and their caches (party/room/live-fanout.ts). */
  protected readonly fanout: LiveFanout;
  /** Who is here and the presence frames (party/room/room-presence.ts). */
  protected readonly roomPresence: RoomPresence;
  /** The session's row in the index (party/room/lobby-sync.ts). */
  readonly #lobby = new LobbySync((summary) => this.env.Lobby.getByName(LOBBY_ROOM).upsert(summary));
  /** Decides "room full" (party/room/joining.ts). */
  readonly #connBound = new ConnectionBound();
  /** Size, rate, parse and route of every frame (party/room/frames.ts). */
  readonly #frames: FrameGate;
  protected router: RelayRouter;
  /** The event log over HTTP, Durable Streams read side (party/room/stream-read.ts). */
  protected readonly streams: RoomStreams;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.limits = limitsFromEnv(env);
    const sql = ctx.storage.sql;
    this.meta = new MetaStore(sql);
    this.log = new EventLog(sql);
    this.transcript = new TranscriptStore(sql, this.limits);
    this.queue = new PromptQueue(sql);
    this.requests = new RequestStore(sql);
    this.dedupe = new Dedupe(sql, this.limits.rememberBatches);
    this.chat = new ChatStore(sql, this.log);
    this.stores = { meta: this.meta, transcript: this.transcript, queue: this.queue, requests: this.requests, chat: this.chat };
    this.router = new RelayRouter(this.limits);
    this.#state = roomSessionState(this.stores);
    this.links = new LinkStore(sql);
    this.fanout = new LiveFanout({ limits: this.limits, log: this.log, meta: this.meta, buildSnapshotFrame: () => this.#buildSnapshotFrame() });
    this.roomPresence = new RoomPresence({
      connections: () => this.getConnections<ConnState>(),
      relayStates: () => this.relayStates(),
      fanout: this.fanout,
    });
    this.streams = new RoomStreams({ limits: this.limits, log: this.log, meta: this.meta, snapshotFrame: () => this.snapshotFrame() });
    this.#frames = new FrameGate(this, () => this.openRoom(), (conn, text) => this.#relayReport(conn, text));
    // Heartbeats answered by the runtime: a ping never wakes a hibernated room.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  /**
   * Opens the room's storage: migrations, then reconciliation of what memory cannot know after a
   * restart (an agent marked online whose socket is gone). False when the room was never created.
   */
  protected openRoom(): boolean {
    if (this.ready) return true;
    const sql = this.ctx.storage.sql;
    if (!hasSchema(sql)) return false;
    migrate(sql);
    if (!this.meta.get("session")) return false;
    this.ready = true;
    const seq = this.meta.seq();
    for (const tag of [TAG_PEOPLE, TAG_RELAY]) {
      for (const ws of this.ctx.getWebSockets(tag)) this.fanout.wokeWith(ws, seq);
    }
    this.#reconcileAgent();
    return true;
  }

  /** After a restart or eviction: a lease whose socket is gone is released. */
  #reconcileAgent(): void {
    const lease = this.meta.get("lease");
    if (lease && !this.lease.holder()) this.lease.release();
    else if (!lease && this.meta.session().agentOnline) this.commit([{ type: "agent.presence", online: false }]);
  }

  override onStart(): void {
    this.openRoom();
  }

  /** Creates the room (called once, by the Worker, before the index lists it). */
  async create(init: CreateRoomInit): Promise<SessionMeta> {
    const sql = this.ctx.storage.sql;
    migrate(sql);
    const existing = this.meta.get("session");
    if (existing) return existing;
    const now = init.now ?? Date.now();
    const session: SessionMeta = {
      id: init.id,
      title: init.title ?? UNTITLED_SESSION,
      mode: init.mode ?? "build",
      agentStatus: "idle",
      agentOnline: false,
      archived: false,
      createdAt: now,
      updatedAt: now,
      ...(init.directory?.trim() ? { directory: init.directory } : {}),
      ...(init.repository !== undefined ? { repository: init.repository } : {}),
      ...(init.agent !== undefined ? { agent: init.agent } : {}),
      allowedOrigins: init.allowedOrigins ?? [],
    };
    this.ctx.storage.transactionSync(() => {
      this.meta.set("session", session);
      this.meta.set("origin", session);
      this.meta.set("seq", 0);
      this.meta.set("rawStatus", "idle");
    });
    this.ready = true;
    await this.scheduleAlarm();
    return session;
  }

  // ───────────────────────────── commits ─────────────────────────────

  /**
   * Applies events in ONE transaction (materialized state and log rows together), then buffers
   * them for live delivery. Returns the committed events. `extra` runs inside the same
   * transaction (e.g. remembering a batch id), so a crash never separates them.
   */
  commit(bodies: readonly RoomEventBody[], extra?: (lastSeq: number) => void, now = Date.now()): RoomEvent[] {
    let events: RoomEvent[] = [];
    try {
      events = this.ctx.storage.transactionSync(() =>
        this.meta.deferWrites(() => {
          let seq = this.meta.seq();
          const out: RoomEvent[] = [];
          for (const body of bodies) {
            seq++;
            const logged = reduceSessionEvent(this.#state, body, seq, now);
            out.push(this.log.append(seq, now, logged));
          }
          this.meta.set("seq", seq);
          if (out.length) this.meta.patchSession({ updatedAt: now });
          extra?.(seq);
          return out;
        }),
      );
    } catch (e) {
      // Rolled back: drop caches that may hold values written inside the transaction.
      this.meta.invalidate();
      this.log.reset();
      this.transcript.forget();
      throw e;
    }
    if (events.length === 0) return events;
    this.fanout.committed(events);
    this.streams.committed();
    this.#compactIfNeeded();
    void this.#lobby.sync(this.meta.session(), false);
    return events;
  }

  #compactIfNeeded(): void {
    this.log.compact(this.meta.seq(), this.limits.logRetainEvents, this.limits.logCompactSlack, (cut) => this.transcript.foldPendingThrough(cut));
  }

  // ───────────────────────────── live fan-out ─────────────────────────────

  /** Sends every buffered event to every person now, whatever the budget (RPCs, archiving, delete). */
  flush(): void {
    this.fanout.flush();
  }

  // ───────────────────────────── connections ─────────────────────────────

  /** Upgrades pass the link and ticket checks first (room/admit.ts). */
  override async fetch(req: Request): Promise<Response> {
    const reader = req.headers.get(STREAM_READER_HEADER);
    if (reader !== null) return this.openRoom() ? this.streams.handle(req, reader) : httpError(404, "not_found", "no such session");
    const admitted = admitUpgrade(this.links, req);
    return admitted instanceof Response ? admitted : super.fetch(admitted);
  }

  override getConnectionTags(_c: Connection, ctx: ConnectionContext): string[] {
    if (ctx.request.headers.has(RELAY_HEADER)) return [TAG_RELAY];
    return [ctx.request.headers.get("x-agentroom-role") === "agent" ? TAG_AGENT : TAG_PEOPLE];
  }

  override onConnect(conn: Connection<ConnState>, ctx: ConnectionContext): void {
    try {
      this.#onConnect(conn, ctx);
    } catch (e) {
      console.error("onConnect failed", e);
      sendError(conn, "internal", "the room failed to set up this connection");
      conn.close(1011, "internal error");
    }
  }

  #onConnect(conn: Connection<ConnState>, ctx: ConnectionContext): void {
    if (!this.openRoom()) {
      conn.close(CLOSE.notFound, "no such session");
      return;
    }
    const j = joining(conn.id, ctx.request);
    if (!j) {
      conn.close(1008, "no role");
      return;
    }
    if (this.#connBound.full(() => this.ctx.getWebSockets().length, this.limits.maxConnectionsPerRoom, Date.now())) {
      sendError(conn, "room_full", `this room holds at most ${this.limits.maxConnectionsPerRoom} connections`);
      conn.close(CLOSE.roomFull, "room full");
      return;
    }
    conn.setState(j.state);
    if (j.kind === "relay") {
      this.#catchUp(conn, j.cursor);
      return;
    }
    this.roomPresence.joined({ id: conn.id, name: j.state.name, role: j.state.role, ...(j.state.replay ? { replay: j.state.replay } : {}) });
    if (j.kind === "agent") {
      this.lease.join(conn, j.runner);
    } else {
      this.router.joinedRoom();
      this.#catchUp(conn, j.cursor);
      sendJoinRequests(this, Date.now(), conn);
    }
    this.schedulePresence();
  }

  /** Replay or snapshot, to this joiner only (party/room/live-fanout.ts). */
  #catchUp(conn: Connection<ConnState>, cursor: number | undefined): void {
    const st = conn.state!;
    const you: PresenceUser = { id: conn.id, name: st.name, role: st.role, ...(st.linkId ? { linkId: st.linkId } : {}), canChat: mayChat({ role: st.role, linkAllowsChat: st.chat === true }) };
    this.fanout.catchUp(conn, cursor, you);
  }

  /** A snapshot and its `caught-up` (a client's resync). */
  sendSnapshot(conn: WebSocket): void {
    this.fanout.sendSnapshot(conn);
  }

  /** The latest page and current state, serialized once per change (cached by the fan-out). */
  snapshotFrame(): string {
    return this.fanout.snapshotFrame();
  }

  /** The snapshot frame, kept under the frame cap. */
  #buildSnapshotFrame(): string {
    if (!this.openRoom()) throw new Error("room not created");
    return snapshotFrame(this.stores, this.limits);
  }

  override onClose(conn: Connection<ConnState>): void {
    try {
      this.fanout.forget(conn);
      if (conn.state?.relay) this.router.forget(conn.state.relay.index);
      replayLeft(this, conn);
      joinAskLeft(this, conn);
      this.roomPresence.left(conn.id);
      this.#frames.forget(conn.id);
      if (!this.ready) return;
      if (this.holdsLease(conn)) this.lease.release();
      this.schedulePresence();
    } catch (e) {
      console.error("onClose failed", e);
    }
  }

  override onError(conn: Connection<ConnState>, error: unknown): void {
    console.warn(`socket error on ${conn.id}`, error);
  }

  // ───────────────────────────── messages ─────────────────────────────

  override onMessage(conn: Connection<ConnState>, raw: WSMessage): void {
    try {
      this.#frames.handle(conn, raw);
    } finally {
      this.fanout.turnIfDue();
    }
  }

  // ───────────────────────────── the agent ─────────────────────────────

  /** The runner connection holding the lease, if any (party/room/lease.ts keeps the lease). */
  agentConnection(): Connection<ConnState> | undefined {
    return this.lease.holder();
  }

  /** The room's open agent connections (for the lease). */
  agentConnections(): Iterable<Connection<ConnState>> {
    return this.getConnections<ConnState>(TAG_AGENT);
  }

  /** True when this connection is the one holding the lease. */
  holdsLease(conn: Connection<ConnState>): boolean {
    return this.lease.holds(conn);
  }

  /** The holder's heartbeat. */
  renewLease(runnerId: string, now: number): void {
    this.lease.renew(runnerId, now);
  }

  /** A person's Stop (party/room/lease.ts keeps it for the next holder while the turn runs). */
  stopAgent(by: string): boolean {
    return this.lease.stop(by);
  }

  /** Hands the queue's head to the agent when it is online, idle, unblocked and nothing is out. */
  maybeDispatch(): void {
    this.lease.dispatch();
  }

  // ───────────────────────────── presence ─────────────────────────────

  /** A presence frame to everyone soon (debounced). */
  schedulePresence(): void {
    this.roomPresence.schedule();
  }

  setTyping(conn: Connection<ConnState>, typing: boolean, where: "prompt" | "chat"): void {
    this.roomPresence.setTyping(conn, typing, where);
  }

  /** A person's role changed (party/room/join-ask.ts): presence shows it. */
  setPresence(conn: Connection<ConnState>): void {
    this.roomPresence.setReplay(conn, conn.state?.replay);
  }

  /** A person's place on a replay page, shown in presence (party/room/replay-lead.ts). */
  setReplayPresence(conn: Connection<ConnState>, replay: ConnState["replay"]): void {
    this.roomPresence.setReplay(conn, replay);
  }

  /** Takes one token from this connection's chat bucket. */
  takeChat(connId: string, now: number): boolean {
    return this.#frames.takeChat(connId, now);
  }

  /** Everyone connected (people, and the relays' reports). */
  presence(): { users: PresenceUser[]; total: number } {
    return this.roomPresence.frame();
  }

  // ───────────────────────────── relays ─────────────────────────────

  /** Each connected relay's last report. */
  protected *relayStates(): Iterable<NonNullable<ConnState["relay"]>> {
    for (const c of this.getConnections<ConnState>(TAG_RELAY)) if (c.state?.relay) yield c.state.relay;
  }

  /** A relay's report of its viewers: kept in its attachment; everyone's presence follows. */
  #relayReport(conn: Connection<ConnState>, text: string | ArrayBuffer): void {
    const parsed = parseFrame(RelayReportSchema, text);
    if (!parsed.ok) {
      sendError(conn, parsed.code, parsed.message);
      return;
    }
    const relay = conn.state!.relay!;
    conn.setState({ ...conn.state!, relay: { index: relay.index, count: parsed.frame.count, users: parsed.frame.users.slice(0, PRESENCE_LISTED) } });
    this.router.reported(relay.index, parsed.frame.joins);
    this.schedulePresence();
  }

  /** Archives or unarchives (the Worker's RPC, and the alarm after `archiveAfterDays` idle). */
  abstract setArchived(archived: boolean): unknown;
  /** A new link record (the Worker's RPC, and an owner accepting a request to join). */
  abstract mintLink(init: LinkInit): LinkRecord | null;

  // ───────────────────────────── alarm: lease expiry and archiving ─────────────────────────────

  /** Sets the alarm for the next due thing: lease expiry or archiving. */
  async scheduleAlarm(): Promise<void> {
    if (!this.ready) return;
    const session = this.meta.session();
    const lease = this.meta.get("lease");
    const due: number[] = [];
    if (!session.archived) due.push(session.updatedAt + this.limits.archiveAfterDays * 86_400_000);
    if (lease) due.push(lease.expiresAt + 1);
    if (due.length === 0) return;
    await this.ctx.storage.setAlarm(Math.min(...due));
  }

  override async onAlarm(): Promise<void> {
    if (!this.openRoom()) return;
    const now = Date.now();
    this.lease.expireIfDue(now);
    const session = this.meta.session();
    if (!session.archived && session.updatedAt + this.limits.archiveAfterDays * 86_400_000 <= now) {
      this.setArchived(true);
    }
    this.flush();
    await this.scheduleAlarm();
  }
}
