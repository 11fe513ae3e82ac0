/**
 * SessionRoom: one Durable Object per agent session (a hibernating partyserver Server).
 *
 * Everything that matters is in `ctx.storage.sql` (see room/migrations.ts): the event log, the
 * materialized transcript, the queue, requests, metadata. Memory holds only caches and the live
 * buffer of committed-but-unsent events, so a room evicted at any moment loses nothing a client
 * cannot get back by reconnecting with its cursor.
 *
 * Trust: the Worker verified the token and passes role and name in `x-agentroom-*` headers (only
 * the Worker can reach this object). The role is kept in the connection's attachment and every
 * frame is checked against it (room/frames.ts).
 *
 * This file only wires: the commit transaction (the one path every event takes to storage), the
 * lifecycle, and partyserver's hooks and the Worker's RPC methods, which must be methods of this
 * class. Each job is in its own module: room/live-fanout.ts (who holds which seq, the live
 * buffer, the send budget, catch-up, replay and snapshot caches), room/lease.ts (the runner lease
 * and dispatch), room/frames.ts (size, rate, parse, route of every frame), room/commands.ts and
 * room/agent-frames.ts (what frames do), room/joining.ts (who a new connection is, room full),
 * room/room-presence.ts, room/snapshot.ts, room/lobby-sync.ts. It is over 500 lines because the
 * hooks and the RPC surface (sessions, history, archiving, relays, links) are ~45 public methods,
 * most of them one-line delegations; splitting them across mixins would hide what the Worker can
 * call.
 */
import { Server, type Connection, type ConnectionContext, type WSMessage } from "partyserver";
import {
  CLOSE_CODES,
  LOBBY_ROOM,
  UNTITLED_SESSION,
  parseFrame,
  type PresenceUser,
  type RunnerWait,
  type RoomEvent,
  type RoomEventBody,
  type RevokeReason,
  type ServerFrame,
  type SessionMeta,
} from "../shared/protocol.ts";
import { mayChat } from "../shared/chat.ts";
import type { Message, MessageWithParts, Part } from "../shared/parts.ts";
import { limitsFromEnv, type Limits } from "../shared/limits.ts";
import type { Env } from "./env.ts";
import { hasSchema, migrate } from "./room/migrations.ts";
import { MetaStore } from "./room/meta.ts";
import { EventLog } from "./room/log.ts";
import { TranscriptStore } from "./room/transcript-store.ts";
import { snapshotFrame } from "./room/snapshot.ts";
import { closeFinally, sendError } from "./room/send.ts";
import { PromptQueue } from "./room/queue.ts";
import { RequestStore } from "./room/requests.ts";
import { Dedupe } from "./room/dedupe.ts";
import { roomSessionState, type RoomStores } from "./room/apply.ts";
import { FrameGate } from "./room/frames.ts";
import { Lease } from "./room/lease.ts";
import { reduceSessionEvent, type SessionState } from "../shared/session-reducer.ts";
import { LiveFanout } from "./room/live-fanout.ts";
import { LobbySync } from "./room/lobby-sync.ts";
import { ChatStore } from "./room/chat-store.ts";
import { chatHistoryFrame, historyFrame } from "./room/commands.ts";
import { PRESENCE_LISTED } from "./room/presence.ts";
import { RoomPresence } from "./room/room-presence.ts";
import { RelayRouter, type Route } from "./room/relay-router.ts";
import { RELAY_HEADER, RelayReportSchema, type RelayRevoke } from "../shared/relay.ts";
import { LinkStore, type LinkCheck, type LinkInit, type Ticket } from "./links.ts";
import { admitUpgrade, closeRevokedSockets } from "./room/admit.ts";
import { ConnectionBound, joining } from "./room/joining.ts";
import { replayLeft } from "./room/replay-lead.ts";
import { joinAskLeft, sendJoinRequests } from "./room/join-ask.ts";
import type { ConnState, CreateRoomInit } from "./room/conn-state.ts";
import type { LinkRecord } from "../shared/protocol.ts";
import { RoomStreams, STREAM_READER_HEADER } from "./room/stream-read.ts";
import { httpError } from "./http.ts";

export type { ConnState, CreateRoomInit } from "./room/conn-state.ts";

/** Tags: agents and people get different traffic (people get events, the agent gets commands). */
const TAG_AGENT = "agent";
const TAG_PEOPLE = "people";
/** A relay gets what people get (events, presence) and reports its viewers; it is not a person. */
const TAG_RELAY = "relay";
/** Close codes (4000–4999 are ours): one list, in shared/protocol.ts. */
export const CLOSE = CLOSE_CODES;

export class SessionRoom extends Server<Env> {
  static override options = { hibernate: true };

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
  readonly #lease = new Lease(this);
  readonly links: LinkStore;

  #ready = false;
  /** Live delivery, catch-up and their caches (party/room/live-fanout.ts). */
  readonly #fanout: LiveFanout;
  /** Who is here and the presence frames (party/room/room-presence.ts). */
  readonly #presence: RoomPresence;
  /** The session's row in the index (party/room/lobby-sync.ts). */
  readonly #lobby = new LobbySync((summary) => this.env.Lobby.getByName(LOBBY_ROOM).upsert(summary));
  /** Decides "room full" (party/room/joining.ts). */
  readonly #connBound = new ConnectionBound();
  /** Size, rate, parse and route of every frame (party/room/frames.ts). */
  readonly #frames: FrameGate;
  #router: RelayRouter;
  /** The event log over HTTP, Durable Streams read side (party/room/stream-read.ts). */
  readonly #streams: RoomStreams;

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
    this.#router = new RelayRouter(this.limits);
    this.#state = roomSessionState(this.stores);
    this.links = new LinkStore(sql);
    this.#fanout = new LiveFanout({ limits: this.limits, log: this.log, meta: this.meta, buildSnapshotFrame: () => this.#buildSnapshotFrame() });
    this.#presence = new RoomPresence({
      connections: () => this.getConnections<ConnState>(),
      relayStates: () => this.#relayStates(),
      fanout: this.#fanout,
    });
    this.#streams = new RoomStreams({ limits: this.limits, log: this.log, meta: this.meta, snapshotFrame: () => this.snapshotFrame() });
    this.#frames = new FrameGate(this, () => this.#open(), (conn, text) => this.#relayReport(conn, text));
    // Heartbeats answered by the runtime: a ping never wakes a hibernated room.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  /**
   * Opens the room's storage: migrations, then reconciliation of what memory cannot know after a
   * restart (an agent marked online whose socket is gone). False when the room was never created.
   */
  #open(): boolean {
    if (this.#ready) return true;
    const sql = this.ctx.storage.sql;
    if (!hasSchema(sql)) return false;
    migrate(sql);
    if (!this.meta.get("session")) return false;
    this.#ready = true;
    const seq = this.meta.seq();
    for (const tag of [TAG_PEOPLE, TAG_RELAY]) {
      for (const ws of this.ctx.getWebSockets(tag)) this.#fanout.wokeWith(ws, seq);
    }
    this.#reconcileAgent();
    return true;
  }

  /** After a restart or eviction: a lease whose socket is gone is released. */
  #reconcileAgent(): void {
    const lease = this.meta.get("lease");
    if (lease && !this.#lease.holder()) this.#lease.release();
    else if (!lease && this.meta.session().agentOnline) this.commit([{ type: "agent.presence", online: false }]);
  }

  override onStart(): void {
    this.#open();
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
    this.#ready = true;
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
    this.#fanout.committed(events);
    this.#streams.committed();
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
    this.#fanout.flush();
  }

  // ───────────────────────────── connections ─────────────────────────────

  /** Upgrades pass the link and ticket checks first (room/admit.ts). */
  override async fetch(req: Request): Promise<Response> {
    const reader = req.headers.get(STREAM_READER_HEADER);
    if (reader !== null) return this.#open() ? this.#streams.handle(req, reader) : httpError(404, "not_found", "no such session");
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
    if (!this.#open()) {
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
    this.#presence.joined({ id: conn.id, name: j.state.name, role: j.state.role, ...(j.state.replay ? { replay: j.state.replay } : {}) });
    if (j.kind === "agent") {
      this.#lease.join(conn, j.runner);
    } else {
      this.#router.joinedRoom();
      this.#catchUp(conn, j.cursor);
      sendJoinRequests(this, Date.now(), conn);
    }
    this.schedulePresence();
  }

  /** Replay or snapshot, to this joiner only (party/room/live-fanout.ts). */
  #catchUp(conn: Connection<ConnState>, cursor: number | undefined): void {
    const st = conn.state!;
    const you: PresenceUser = { id: conn.id, name: st.name, role: st.role, ...(st.linkId ? { linkId: st.linkId } : {}), canChat: mayChat({ role: st.role, linkAllowsChat: st.chat === true }) };
    this.#fanout.catchUp(conn, cursor, you);
  }

  /** A snapshot and its `caught-up` (a client's resync). */
  sendSnapshot(conn: WebSocket): void {
    this.#fanout.sendSnapshot(conn);
  }

  /** The latest page and current state, serialized once per change (cached by the fan-out). */
  snapshotFrame(): string {
    return this.#fanout.snapshotFrame();
  }

  /** The snapshot frame, kept under the frame cap. */
  #buildSnapshotFrame(): string {
    if (!this.#open()) throw new Error("room not created");
    return snapshotFrame(this.stores, this.limits);
  }

  override onClose(conn: Connection<ConnState>): void {
    try {
      this.#fanout.forget(conn);
      if (conn.state?.relay) this.#router.forget(conn.state.relay.index);
      replayLeft(this, conn);
      joinAskLeft(this, conn);
      this.#presence.left(conn.id);
      this.#frames.forget(conn.id);
      if (!this.#ready) return;
      if (this.holdsLease(conn)) this.#lease.release();
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
      this.#fanout.turnIfDue();
    }
  }

  // ───────────────────────────── the agent ─────────────────────────────

  /** The runner connection holding the lease, if any (party/room/lease.ts keeps the lease). */
  agentConnection(): Connection<ConnState> | undefined {
    return this.#lease.holder();
  }

  /** The room's open agent connections (for the lease). */
  agentConnections(): Iterable<Connection<ConnState>> {
    return this.getConnections<ConnState>(TAG_AGENT);
  }

  /** True when this connection is the one holding the lease. */
  holdsLease(conn: Connection<ConnState>): boolean {
    return this.#lease.holds(conn);
  }

  /** The holder's heartbeat. */
  renewLease(runnerId: string, now: number): void {
    this.#lease.renew(runnerId, now);
  }

  /** A person's Stop (party/room/lease.ts keeps it for the next holder while the turn runs). */
  stopAgent(by: string): boolean {
    return this.#lease.stop(by);
  }

  /** Hands the queue's head to the agent when it is online, idle, unblocked and nothing is out. */
  maybeDispatch(): void {
    this.#lease.dispatch();
  }

  // ───────────────────────────── presence ─────────────────────────────

  /** A presence frame to everyone soon (debounced). */
  schedulePresence(): void {
    this.#presence.schedule();
  }

  setTyping(conn: Connection<ConnState>, typing: boolean, where: "prompt" | "chat"): void {
    this.#presence.setTyping(conn, typing, where);
  }

  /** A person's role changed (party/room/join-ask.ts): presence shows it. */
  setPresence(conn: Connection<ConnState>): void {
    this.#presence.setReplay(conn, conn.state?.replay);
  }

  /** A person's place on a replay page, shown in presence (party/room/replay-lead.ts). */
  setReplayPresence(conn: Connection<ConnState>, replay: ConnState["replay"]): void {
    this.#presence.setReplay(conn, replay);
  }

  /** Takes one token from this connection's chat bucket. */
  takeChat(connId: string, now: number): boolean {
    return this.#frames.takeChat(connId, now);
  }

  /** Everyone connected (people, and the relays' reports). */
  presence(): { users: PresenceUser[]; total: number } {
    return this.#presence.frame();
  }

  // ───────────────────────────── relays ─────────────────────────────

  /** Each connected relay's last report. */
  *#relayStates(): Iterable<NonNullable<ConnState["relay"]>> {
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
    this.#router.reported(relay.index, parsed.frame.joins);
    this.schedulePresence();
  }

  /**
   * Where the Worker sends a new viewer: this room while its audience is small, then relays
   * (see room/relay-router.ts). An archived session has no live stream to share: its viewers stay
   * here.
   */
  routeViewer(): Route | null {
    if (!this.#open()) return null;
    if (this.meta.session().archived) return { to: "room" };
    const counts = new Map<number, number>();
    let relays = 0;
    for (const r of this.#relayStates()) {
      counts.set(r.index, (counts.get(r.index) ?? 0) + r.count);
      relays++;
    }
    return this.#router.route(this.#fanout.listeners - relays, counts, Date.now());
  }

  /** A relay's rejoining viewer whose cursor the relay's tail does not cover: replay from the log. */
  relayReplay(cursor: number): { seq: number; frames: string[] } | null {
    if (!this.#open()) return null;
    this.flush();
    const seq = this.meta.seq();
    if (!this.log.canReplayFrom(cursor, seq)) return null;
    return { seq, frames: this.#fanout.replayFrames(cursor, seq) };
  }

  /** The snapshot frame and its seq, for a relay to serve to any number of its joiners. */
  relaySnapshot(): { seq: number; frame: string } | null {
    if (!this.#open()) return null;
    this.flush();
    return { seq: this.meta.seq(), frame: this.snapshotFrame() };
  }

  /** A history page for a relay's viewer: the same frame the room sends its own people. */
  relayHistory(ref: string | undefined, before: string | undefined, limit: number | undefined): string | null {
    if (!this.#open()) return null;
    return historyFrame(this, ref, before, limit);
  }

  /** A chat history page for a relay's viewer. */
  relayChatHistory(ref: string | undefined, before: number | undefined, limit: number | undefined): string | null {
    if (!this.#open()) return null;
    return chatHistoryFrame(this, ref, before, limit);
  }

  /** Tells every relay to close its sockets opened with these links (revocation). */
  revokeOnRelays(links: readonly string[]): void {
    if (links.length === 0) return;
    const frame = JSON.stringify({ type: "relay.revoke", links: [...links] } satisfies RelayRevoke);
    for (const ws of this.ctx.getWebSockets(TAG_RELAY)) {
      try {
        ws.send(frame);
      } catch {
        // closing
      }
    }
  }

  /** Closes every relay's link with `code`; the relays close their viewers with it and retire. */
  #closeRelays(code: number, reason: string): void {
    for (const ws of this.ctx.getWebSockets(TAG_RELAY)) {
      try {
        ws.close(code, reason);
      } catch {
        // closed
      }
    }
  }

  // ───────────────────────────── alarm: lease expiry and archiving ─────────────────────────────

  /** Sets the alarm for the next due thing: lease expiry or archiving. */
  async scheduleAlarm(): Promise<void> {
    if (!this.#ready) return;
    const session = this.meta.session();
    const lease = this.meta.get("lease");
    const due: number[] = [];
    if (!session.archived) due.push(session.updatedAt + this.limits.archiveAfterDays * 86_400_000);
    if (lease) due.push(lease.expiresAt + 1);
    if (due.length === 0) return;
    await this.ctx.storage.setAlarm(Math.min(...due));
  }

  override async onAlarm(): Promise<void> {
    if (!this.#open()) return;
    const now = Date.now();
    this.#lease.expireIfDue(now);
    const session = this.meta.session();
    if (!session.archived && session.updatedAt + this.limits.archiveAfterDays * 86_400_000 <= now) {
      this.setArchived(true);
    }
    this.flush();
    await this.scheduleAlarm();
  }

  // ───────────────────────────── RPC for the Worker ─────────────────────────────

  getSession(): SessionMeta | null {
    return this.#open() ? this.meta.session() : null;
  }

  getHistory(before: string | undefined, limit: number): { messages: MessageWithParts[]; hasMore: boolean } | null {
    if (!this.#open()) return null;
    this.flush();
    return this.transcript.page(before, Math.min(Math.max(1, limit), 200));
  }

  /** The full, untruncated part (chunks joined, deltas applied). */
  getFullPart(partId: string): Part | null {
    if (!this.#open()) return null;
    return this.transcript.readPart(partId, true);
  }

  /** The full message info (long fields restored from chunks). */
  getFullMessage(messageId: string): Message | null {
    if (!this.#open()) return null;
    return this.transcript.readMessage(messageId, true);
  }

  setArchived(archived: boolean): SessionMeta | null {
    if (!this.#open()) return null;
    if (this.meta.session().archived !== archived) {
      this.commit([{ type: "session.archived", archived }]);
      if (archived) {
        const agent = this.agentConnection();
        if (agent) {
          sendError(agent, "archived", "this session was archived");
          agent.close(CLOSE.archived, "archived");
          this.#lease.release();
        }
      }
      this.flush();
      // An archived session has no live stream left to share: its relays close their viewers
      // (after the archive event, which went out just above), who reconnect to the room.
      if (archived) this.#closeRelays(CLOSE.relayRetired, "archived: reconnect to the room");
      void this.scheduleAlarm();
    }
    return this.meta.session();
  }

  /**
   * The lobby says whether anyone can take this session now (null: a runner has a free slot).
   * Only while no runner holds it; the next `agent.presence` online clears it.
   */
  setRunnerWait(wait: RunnerWait | null): void {
    if (!this.#open()) return;
    const s = this.meta.session();
    if (s.agentOnline || s.archived) return;
    if (JSON.stringify(s.runnerWait ?? null) === JSON.stringify(wait)) return;
    this.commit([{ type: "agent.presence", online: false, ...(wait ? { waiting: wait } : {}) }]);
    this.flush();
  }

  /** Replaces the pages allowed to embed the session; an archived session is read-only. */
  setAllowedOrigins(origins: string[]): { session: SessionMeta } | { archived: true } | null {
    if (!this.#open()) return null;
    if (this.meta.session().archived) return { archived: true };
    this.commit([{ type: "session.allowedOrigins", origins }]);
    this.flush();
    return { session: this.meta.session() };
  }

  // ───────────────────────────── links (party/links.ts) ─────────────────────────────

  mintLink(init: LinkInit): LinkRecord | null {
    if (!this.#open()) return null;
    const record = this.links.mint(init);
    if (record) this.#sendLinks();
    return record;
  }

  /** Open sockets, people and runner (for /health). */
  connectionCount(): number {
    return this.ctx.getWebSockets().length;
  }

  listLinks(): LinkRecord[] {
    return this.#open() ? this.links.list() : [];
  }

  useLink(linkId: string): LinkCheck {
    return this.links.use(linkId);
  }

  grantFor(email: string): LinkCheck | null {
    return this.links.grantFor(email);
  }

  issueTicket(t: Ticket): { ticket: string; expiresAt: number } {
    return this.links.issueTicket(t);
  }

  redeemTicket(ticket: string): ReturnType<LinkStore["redeemTicket"]> {
    return this.links.redeemTicket(ticket);
  }

  /**
   * Revokes link records and closes, at once, every socket opened with them (close 4411), here and
   * on anything else holding this session's viewers; owners get the new list. Returns the ids
   * revoked by this call.
   */
  revokeLinks(ids: readonly string[], reason?: RevokeReason): string[] {
    if (!this.#open()) return [];
    const revoked = this.links.revoke(ids, Date.now(), reason);
    if (revoked.length === 0) return revoked;
    closeRevokedSockets(this.getConnections<ConnState>(TAG_PEOPLE), new Set(revoked), (c) => this.onClose(c));
    this.#streams.revoke(revoked);
    this.revokeOnRelays(revoked);
    this.#sendLinks();
    return revoked;
  }

  /** The link list to every owner connected (the Share dialog updates live). */
  #sendLinks(): void {
    const frame = JSON.stringify({ type: "links", links: this.links.list() } satisfies ServerFrame);
    for (const c of this.getConnections<ConnState>(TAG_PEOPLE)) {
      if (c.state?.role !== "owner") continue;
      try {
        c.send(frame);
      } catch {
        // closing
      }
    }
  }

  /** Deletes everything: sockets closed, storage purged. The Worker then drops the index entry. */
  async destroy(): Promise<void> {
    this.flush();
    for (const ws of this.ctx.getWebSockets()) closeFinally(ws, CLOSE.deleted, "session deleted");
    this.#fanout.stop();
    this.#presence.stop();
    this.#streams.endAll();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.#ready = false;
    this.links.forget();
    this.#fanout.clear();
    this.#presence.clear();
    this.meta.invalidate();
    this.log.reset();
    this.transcript.forget();
  }
}
