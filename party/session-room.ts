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
 * frame is checked against it here.
 */
import { Server, type Connection, type ConnectionContext, type WSMessage } from "partyserver";
import {
  AgentFrameSchema,
  CLOSE_CODES,
  ClientFrameSchema,
  LOBBY_ROOM,
  PROTOCOL_VERSION,
  UNTITLED_SESSION,
  RoleSchema,
  parseFrame,
  type Mode,
  type PresenceUser,
  type RunnerWait,
  type Role,
  type RoomEvent,
  type RoomEventBody,
  type ServerFrame,
  type SessionMeta,
  type Snapshot,
} from "../shared/protocol.ts";
import { mayChat } from "../shared/chat.ts";
import type { Message, MessageWithParts, Part } from "../shared/parts.ts";
import { limitsFromEnv, type Limits } from "../shared/limits.ts";
import type { Env } from "./env.ts";
import { hasSchema, migrate } from "./room/migrations.ts";
import { MetaStore } from "./room/meta.ts";
import { EventLog } from "./room/log.ts";
import { TranscriptStore } from "./room/transcript-store.ts";
import { fitPage } from "./room/fit.ts";
import { send, sendError } from "./room/send.ts";
import { handleClientFrame } from "./room/commands.ts";
import { handleAgentFrame } from "./room/agent-frames.ts";
import { PromptQueue } from "./room/queue.ts";
import { RequestStore } from "./room/requests.ts";
import { Dedupe } from "./room/dedupe.ts";
import { RefusedEvent, roomSessionState, type RoomStores } from "./room/apply.ts";
import { Lease } from "./room/lease.ts";
import { reduceSessionEvent, type SessionState } from "../shared/session-reducer.ts";
import { LiveBuffer, SendBucket } from "./room/fanout.ts";
import { deltaTextBudget as deltaRunBytes, eventFrames, mergeDeltas } from "../shared/delta.ts";
import { RateLimiter } from "./room/rate.ts";
import { summaryOf } from "./room/summary.ts";
import { ChatStore } from "./room/chat-store.ts";
import { CHAT_PAGE_CHARS, chatHistoryFrame, historyFrame } from "./room/commands.ts";
import { PRESENCE_LISTED, PresenceRoster } from "./room/presence.ts";
import { RelayRouter, type Route } from "./room/relay-router.ts";
import { RELAY_HEADER, RelayReportSchema, type RelayRevoke } from "../shared/relay.ts";
import { LinkStore, type LinkCheck, type LinkInit, type Ticket } from "./links.ts";
import { admitUpgrade, closeRevokedSockets } from "./room/admit.ts";
import type { LinkRecord } from "../shared/protocol.ts";

/** What a connection's attachment holds (survives hibernation). */
export interface ConnState {
  role: Role;
  name: string;
  typing?: boolean;
  /** Typing a chat message (shown apart from typing a prompt). */
  chatTyping?: boolean;
  /**
   * The link (token) this person came in with: their chat messages' author id, and what revoking
   * the link record (party/links.ts) closes.
   */
  linkId?: string;
  /** Their link lets a viewer chat. */
  chat?: boolean;
  /**
   * Set on the runner connection that holds the lease. The lease names this random id, not the
   * connection id: partyserver takes that from the client's `_pk`, which a reconnecting client
   * reuses, so the old socket's late close must not release the new socket's lease.
   */
  leaseId?: string;
  /**
   * Set on a relay's connection (party/relay.ts): its index and its last report. Kept in the
   * attachment so the relays' viewers still count after the room hibernates.
   */
  relay?: { readonly index: number; readonly count: number; readonly users: readonly PresenceUser[] };
}

/** Values the Worker hands a new room. */
export interface CreateRoomInit {
  id: string;
  title?: string;
  mode?: Mode;
  allowedOrigins?: string[];
  /** The directory asked for; the runner sets `workspace` once it accepts it. */
  directory?: string;
  repository?: string;
  now?: number;
}

/** Tags: agents and people get different traffic (people get events, the agent gets commands). */
const TAG_AGENT = "agent";
const TAG_PEOPLE = "people";
/** A relay gets what people get (events, presence) and reports its viewers; it is not a person. */
const TAG_RELAY = "relay";
/** Close codes (4000–4999 are ours): one list, in shared/protocol.ts. */
export const CLOSE = CLOSE_CODES;
/** Agents send batches at the flush rate; they get a much larger bucket than people. */
const AGENT_RATE_MULTIPLIER = 50;
/**
 * Presence frames are debounced: 100 ms in a small room, 2 ms per person in a big one (a presence
 * frame costs one send per person, so during a rejoin storm of N people per-join frames would be
 * N² sends; 500 people → at most one presence frame per 2 s, 1,000 → per 4 s; a presence frame
 * to 500 people cost ~50 ms of the room's time in a rejoin storm's profile).
 */
const PRESENCE_DEBOUNCE_MS = 100;
const PRESENCE_DEBOUNCE_PER_PERSON_MS = 4;
/**
 * Sends in a live turn from which the next turn waits the whole flush window; after a smaller
 * turn it waits in proportion (10 people: 1.6 ms). Frames to a few people cost the thread little
 * (a turn to 100 sockets is ~5 ms), so a small room forwards tokens as they come, and only a big
 * one gathers them; the send budget still bounds every room.
 */
const FULL_WINDOW_SENDS = 100;
/** The live send budget's burst: ~50 ms of sends may go back to back (a quiet room sends at once). */
const SEND_BURST_SECONDS = 0.05;
/** Distinct replay ranges kept serialized (a replay is at most ~20k events of merged text). */
const REPLAY_CACHE_ENTRIES = 4;
/** The index hears about title/status changes at once and about mere activity at most this often. */
const LOBBY_ACTIVITY_INTERVAL_MS = 10_000;

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
  #roster = new PresenceRoster();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last live turn sent anything (ms), and to how many sockets: the window follows it. */
  #lastLiveTurnAt = Number.NEGATIVE_INFINITY;
  #lastLiveTurnSends = 0;
  #presenceTimer: ReturnType<typeof setTimeout> | undefined;
  #lobbyLast: { key: string; at: number } | undefined;
  /** The serialized snapshot frame, reused by every joiner until the next change. */
  #snapshotCache: string | undefined;
  /**
   * An upper bound on open connections: the exact count at `counted.at` plus every join since.
   * Counting exactly means `getWebSockets()`, an array of every socket; doing that on every join
   * made a storm of N joins cost O(N²) (a third of the room's CPU for 500 rejoins).
   */
  #connBound: { count: number; at: number } | undefined;
  /** Serialized replays by `cursor:upTo` (see `#replayFrames`). */
  #replayCache = new Map<string, string[]>();
  #peopleRate: RateLimiter;
  #agentRate: RateLimiter;
  #chatRate: RateLimiter;
  #router: RelayRouter;

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
    this.#chatRate = new RateLimiter(this.limits.chatRatePerSecond, this.limits.chatBurst);
    this.#router = new RelayRouter(this.limits);
    this.#state = roomSessionState(this.stores);
    this.links = new LinkStore(sql);
    this.#peopleRate = new RateLimiter(this.limits.rateFramesPerSecond, this.limits.rateBurst);
    this.#sendBudget = new SendBucket(this.limits.liveSendsPerSecond, SEND_BURST_SECONDS, Date.now());
    this.#agentRate = new RateLimiter(
      this.limits.rateFramesPerSecond * AGENT_RATE_MULTIPLIER,
      this.limits.rateBurst * AGENT_RATE_MULTIPLIER,
    );
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
      for (const ws of this.ctx.getWebSockets(tag)) if (!this.#heldSeq.has(ws)) this.#heldSeq.set(ws, seq);
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
      allowedOrigins: init.allowedOrigins ?? [],
    };
    this.ctx.storage.transactionSync(() => {
      this.meta.set("session", session);
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
    this.#snapshotCache = undefined;
    for (const e of events) this.#buffer.push(e);
    this.#scheduleFlush();
    this.#compactIfNeeded();
    void this.#syncLobby(false);
    return events;
  }

  #compactIfNeeded(): void {
    this.log.compact(this.meta.seq(), this.limits.logRetainEvents, this.limits.logCompactSlack);
  }

  // ───────────────────────────── live fan-out ─────────────────────────────

  #scheduleFlush(): void {
    if (this.#flushTimer !== undefined || this.#buffer.length === 0) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#liveTurn();
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
    const gap = this.limits.flushIntervalMs * Math.min(1, this.#lastLiveTurnSends / FULL_WINDOW_SENDS);
    const gather = this.#buffer.length >= this.limits.flushMaxEvents ? 0 : this.#lastLiveTurnAt + gap - now;
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
  #liveTurnIfDue(): void {
    if (this.#buffer.length === 0 || this.#flushWait(Date.now()) > 0) return;
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#liveTurn();
  }

  /** Sends every buffered event to every person now, whatever the budget (RPCs, archiving, delete). */
  flush(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    this.#deliver();
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
      const now = Date.now();
      this.#sendBudget.spend(sends, now);
      this.#lastLiveTurnAt = now;
      this.#lastLiveTurnSends = sends;
    }
    this.#trimBuffer();
  }

  /**
   * Live frames for (held, last]: from the buffer, or from the log if the buffer no longer has
   * them (not reachable while the buffer is trimmed by what everyone holds), or null when the log
   * was compacted past them too.
   */
  #framesAfter(held: number, last: number): string[] | null {
    const max = this.limits.maxOutgoingFrameBytes;
    const events = this.#buffer.after(held) ?? (this.log.canReplayFrom(held, last) ? this.log.readMerged(held, last, deltaRunBytes(max)) : undefined);
    return events ? eventFrames(mergeDeltas(events, deltaRunBytes(max)), max, false, oversized) : null;
  }

  /** Drops what every person holds; with nobody listening that is everything (joiners read the log). */
  #trimBuffer(): void {
    if (this.#heldSeq.size === 0) return this.#buffer.clear();
    let min = Number.POSITIVE_INFINITY;
    for (const held of this.#heldSeq.values()) if (held < min) min = held;
    this.#buffer.trimThrough(min);
  }

  // ───────────────────────────── connections ─────────────────────────────

  /** Upgrades pass the link and ticket checks first (room/admit.ts). */
  override async fetch(req: Request): Promise<Response> {
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
    const role = RoleSchema.safeParse(ctx.request.headers.get("x-agentroom-role"));
    if (!role.success) {
      conn.close(1008, "no role");
      return;
    }
    const rawName = ctx.request.headers.get("x-agentroom-name") ?? "";
    const name = (rawName.startsWith("~") ? safeDecode(rawName.slice(1)) : rawName).slice(0, 100) || role.data;
    if (this.#roomFull()) {
      sendError(conn, "room_full", `this room holds at most ${this.limits.maxConnectionsPerRoom} connections`);
      conn.close(CLOSE.roomFull, "room full");
      return;
    }
    const relayIndex = ctx.request.headers.get(RELAY_HEADER);
    if (relayIndex !== null) {
      // A relay of this session (only the Worker's objects can set the header): a viewer that
      // is not listed, whose report counts its own viewers.
      conn.setState({ role: "viewer", name: "relay", relay: { index: Number(relayIndex) || 0, count: 0, users: [] } });
      const cursorRaw = new URL(ctx.request.url).searchParams.get("cursor");
      this.#catchUp(conn, cursorRaw !== null && /^\d+$/.test(cursorRaw) ? Number(cursorRaw) : undefined);
      return;
    }
    const linkId = (ctx.request.headers.get("x-agentroom-link") ?? "").slice(0, 64) || `conn-${conn.id}`;
    conn.setState({ role: role.data, name, linkId, ...(ctx.request.headers.get("x-agentroom-chat") === "1" ? { chat: true } : {}) });
    this.#roster.set({ id: conn.id, name, role: role.data });
    if (role.data !== "agent") this.#router.joinedRoom();
    if (role.data === "agent") {
      const runner = new URL(ctx.request.url).searchParams.get("runner");
      this.#lease.join(conn, runner && runner.length <= 128 ? runner : undefined);
    } else {
      const cursorRaw = new URL(ctx.request.url).searchParams.get("cursor");
      const cursor = cursorRaw !== null && /^\d+$/.test(cursorRaw) ? Number(cursorRaw) : undefined;
      this.#catchUp(conn, cursor);
    }
    this.schedulePresence();
  }

  /**
   * True when this new connection takes the room past its limit. Closes only lower the count, so
   * the bound never under-counts; only when it says "full" (or is a second old) is it recounted.
   */
  #roomFull(): boolean {
    const now = Date.now();
    const b = this.#connBound;
    if (b && now - b.at < 1_000 && b.count + 1 <= this.limits.maxConnectionsPerRoom) {
      b.count++;
      return false;
    }
    // The new socket is already accepted, so it is in the count.
    const count = this.ctx.getWebSockets().length;
    this.#connBound = { count, at: now };
    return count > this.limits.maxConnectionsPerRoom;
  }

  /**
   * Replay or snapshot, to this joiner only, up to the room's current seq. A join never flushes
   * the live buffer: in a rejoin storm that turned every join into a send to every person (500
   * joins × 500 people). The joiner is already in the broadcast set; its catch-up's seq is recorded
   * in `#heldSeq`, so live turns send it only the events after it. Every event reaches it exactly
   * once and in order: the catch-up is sent here, synchronously, before any live turn can run.
   */
  #catchUp(conn: Connection<ConnState>, cursor: number | undefined): void {
    const seq = this.meta.seq();
    const st = conn.state!;
    const you: PresenceUser = { id: conn.id, name: st.name, role: st.role, ...(st.linkId ? { linkId: st.linkId } : {}), canChat: mayChat({ role: st.role, linkAllowsChat: st.chat === true }) };
    if (cursor !== undefined && this.log.canReplayFrom(cursor, seq)) {
      send(conn, { type: "welcome", protocol: PROTOCOL_VERSION, you, catchup: "replay", seq });
      for (const f of this.#replayFrames(cursor, seq)) conn.send(f);
      this.#holds(conn, seq);
      send(conn, { type: "caught-up", seq });
    } else {
      send(conn, { type: "welcome", protocol: PROTOCOL_VERSION, you, catchup: "snapshot", seq });
      this.sendSnapshot(conn);
    }
  }

  /** This connection holds every event up to `seq`: the next flush skips those. */
  #holds(conn: WebSocket, seq: number): void {
    this.#heldSeq.set(conn, seq);
  }

  /**
   * A snapshot and its `caught-up` (a joiner, or a client's resync). The snapshot holds the room
   * at its current seq; if that is past the last flush, the next flush skips what it holds.
   */
  sendSnapshot(conn: WebSocket): void {
    const seq = this.meta.seq();
    conn.send(this.snapshotFrame());
    this.#holds(conn, seq);
    send(conn, { type: "caught-up", seq });
  }

  /**
   * Replay frames for (cursor, upTo], cached: rejoiners after a drop mostly share a cursor (they
   * were all live at the same seq), so a storm reads and serializes the log once, not per joiner.
   */
  #replayFrames(cursor: number, upTo: number): string[] {
    if (cursor >= upTo) return [];
    const key = `${cursor}:${upTo}`;
    const hit = this.#replayCache.get(key);
    if (hit) return hit;
    const max = this.limits.maxOutgoingFrameBytes;
    const frames = eventFrames(this.log.readMerged(cursor, upTo, deltaRunBytes(max)), max, true, oversized);
    // Small and short-lived: a few distinct cursors per storm; older ranges are rarely asked again.
    if (this.#replayCache.size >= REPLAY_CACHE_ENTRIES) this.#replayCache.delete(this.#replayCache.keys().next().value!);
    this.#replayCache.set(key, frames);
    return frames;
  }

  /** The latest page and current state, serialized once per change; kept under the frame cap. */
  snapshotFrame(): string {
    if (this.#snapshotCache !== undefined) return this.#snapshotCache;
    if (!this.#open()) throw new Error("room not created");
    const frame = fitPage(
      (limit) => this.transcript.page(undefined, limit),
      (page) => JSON.stringify({ type: "snapshot", snapshot: { ...this.#stateWithout(page.messages), hasMore: page.hasMore } satisfies Snapshot }),
      this.limits.snapshotMessages,
      this.limits.maxOutgoingFrameBytes,
    );
    this.#snapshotCache = frame;
    return frame;
  }

  #stateWithout(messages: MessageWithParts[]): Omit<Snapshot, "hasMore"> {
    const chat = this.chat.page(undefined, this.limits.chatSnapshotMessages, CHAT_PAGE_CHARS);
    return {
      seq: this.meta.seq(),
      session: this.meta.session(),
      messages,
      queue: this.queue.list(),
      permissions: this.requests.open("permission").map((r) => r.data) as Snapshot["permissions"],
      questions: this.requests.open("question").map((r) => r.data) as Snapshot["questions"],
      todos: this.meta.get("todos") ?? [],
      diff: this.meta.get("diff") ?? [],
      chat: chat.messages,
      chatHasMore: chat.hasMore,
      rawStatus: this.meta.get("rawStatus") ?? "idle",
    };
  }

  override onClose(conn: Connection<ConnState>): void {
    try {
      this.#heldSeq.delete(conn);
      if (conn.state?.relay) this.#router.forget(conn.state.relay.index);
      this.#roster.remove(conn.id);
      this.#peopleRate.forget(conn.id);
      this.#agentRate.forget(conn.id);
      this.#chatRate.forget(conn.id);
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
    let ref: string | undefined;
    try {
      const st = conn.state;
      if (!st || !this.#open()) {
        sendError(conn, "forbidden", "connection has no role");
        return;
      }
      const now = Date.now();
      const isAgent = st.role === "agent";
      const size = typeof raw === "string" ? raw.length : raw.byteLength;
      const max = isAgent ? this.limits.maxAgentFrameBytes : this.limits.maxClientFrameBytes;
      if (size > max) {
        sendError(conn, "frame_too_large", `frames are limited to ${max} bytes`);
        return;
      }
      if (!(isAgent ? this.#agentRate : this.#peopleRate).take(conn.id, now)) {
        sendError(conn, "rate_limited", "too many frames; slow down");
        return;
      }
      const text = typeof raw === "string" ? raw : new ArrayBuffer(0);
      if (st.relay) {
        this.#relayReport(conn, text);
        return;
      }
      if (isAgent) {
        const parsed = parseFrame(AgentFrameSchema, text);
        if (!parsed.ok) {
          sendError(conn, parsed.code, parsed.message, parsed.ref ?? batchIdOf(text));
          return;
        }
        // Errors answering a batch carry its batchId as `ref`, so the runner knows which one failed.
        if (parsed.frame.type === "agent.batch") ref = parsed.frame.batchId;
        handleAgentFrame(this, conn, parsed.frame, now, typeof text === "string" ? text : "");
      } else {
        const parsed = parseFrame(ClientFrameSchema, text);
        if (!parsed.ok) {
          sendError(conn, parsed.code, parsed.message, parsed.ref);
          return;
        }
        ref = parsed.frame.ref;
        handleClientFrame(this, conn, st, parsed.frame, now);
      }
    } catch (e) {
      if (e instanceof RefusedEvent) {
        sendError(conn, "bad_frame", `${e.message}; nothing was applied`, ref);
        return;
      }
      console.error("frame handler failed", e);
      sendError(conn, "internal", "the room could not process this frame; nothing changed", ref);
    } finally {
      this.#liveTurnIfDue();
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

  /** Hands the queue's head to the agent when it is online, idle, unblocked and nothing is out. */
  maybeDispatch(): void {
    this.#lease.dispatch();
  }

  // ───────────────────────────── presence ─────────────────────────────

  schedulePresence(): void {
    if (this.#presenceTimer !== undefined) return;
    this.#presenceTimer = setTimeout(() => {
      this.#presenceTimer = undefined;
      try {
        this.#broadcastPresence();
      } catch (e) {
        console.error("presence failed", e);
      }
    }, Math.max(PRESENCE_DEBOUNCE_MS, this.#heldSeq.size * PRESENCE_DEBOUNCE_PER_PERSON_MS));
  }

  /** A person started or stopped typing (a prompt or a chat message): kept in their attachment (durable) and in the roster. */
  setTyping(conn: Connection<ConnState>, typing: boolean, where: "prompt" | "chat"): void {
    const st: ConnState = { ...conn.state!, [where === "chat" ? "chatTyping" : "typing"]: typing };
    conn.setState(st);
    this.#roster.set(presenceOf(conn.id, st));
    this.schedulePresence();
  }

  /** Takes one token from this connection's chat bucket. */
  takeChat(connId: string, now: number): boolean {
    return this.#chatRate.take(connId, now);
  }

  /** Everyone connected; after hibernation rebuilt once from the connections' attachments. */
  presence(): { users: PresenceUser[]; total: number } {
    this.#roster.ensure(() => this.#presenceFromAttachments());
    return this.#roster.frame(undefined, [...this.#relayStates()]);
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
    return this.#router.route(this.#heldSeq.size - relays, counts, Date.now());
  }

  /** A relay's rejoining viewer whose cursor the relay's tail does not cover: replay from the log. */
  relayReplay(cursor: number): { seq: number; frames: string[] } | null {
    if (!this.#open()) return null;
    this.flush();
    const seq = this.meta.seq();
    if (!this.log.canReplayFrom(cursor, seq)) return null;
    return { seq, frames: this.#replayFrames(cursor, seq) };
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

  *#presenceFromAttachments(): Iterable<PresenceUser> {
    for (const c of this.getConnections<ConnState>()) {
      const st = c.state;
      if (st && !st.relay) yield presenceOf(c.id, st);
    }
  }

  /** One presence frame to everyone; its sends count against the live send budget. */
  #broadcastPresence(): void {
    const frame = JSON.stringify({ type: "presence", ...this.presence() } satisfies ServerFrame);
    for (const ws of this.#heldSeq.keys()) {
      try {
        ws.send(frame);
      } catch {
        // closing
      }
    }
    this.#sendBudget.spend(this.#heldSeq.size, Date.now());
  }

  // ───────────────────────────── the index ─────────────────────────────

  /**
   * Tells the Lobby about title/status changes at once, and about mere activity (updatedAt) at
   * most every 10 s, piggybacking on commits: no timer, so a quiet room can hibernate. The end of
   * a turn is a status change, so the index's last activity is never stale by more than that.
   */
  async #syncLobby(force: boolean): Promise<void> {
    const summary = summaryOf(this.meta.session());
    const key = JSON.stringify({ ...summary, updatedAt: 0 });
    const now = Date.now();
    const last = this.#lobbyLast;
    if (!force && last && last.key === key && now - last.at < LOBBY_ACTIVITY_INTERVAL_MS) return;
    this.#lobbyLast = { key, at: now };
    try {
      await this.env.Lobby.getByName(LOBBY_ROOM).upsert(summary);
    } catch (e) {
      console.warn("lobby update failed", e);
      this.#lobbyLast = undefined;
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
    const lease = this.meta.get("lease");
    if (lease && lease.expiresAt <= now) {
      this.#lease.holder()?.close(CLOSE.leaseExpired, "lease expired");
      this.#lease.release();
    }
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
  revokeLinks(ids: readonly string[]): string[] {
    if (!this.#open()) return [];
    const revoked = this.links.revoke(ids);
    if (revoked.length === 0) return revoked;
    closeRevokedSockets(this.getConnections<ConnState>(TAG_PEOPLE), new Set(revoked), (c) => this.onClose(c));
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
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.close(CLOSE.deleted, "session deleted");
      } catch {
        // already closed
      }
    }
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    if (this.#presenceTimer !== undefined) clearTimeout(this.#presenceTimer);
    this.#flushTimer = this.#presenceTimer = undefined;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.#ready = false;
    this.links.forget();
    this.#snapshotCache = undefined;
    this.#replayCache.clear();
    this.#heldSeq.clear();
    this.#buffer.clear();
    this.#roster.clear();
    this.meta.invalidate();
    this.log.reset();
    this.transcript.forget();
  }
}

/** A connection as presence lists it. */
function presenceOf(id: string, st: ConnState): PresenceUser {
  return { id, name: st.name, role: st.role, ...(st.typing ? { typing: true } : {}), ...(st.chatTyping ? { chatTyping: true } : {}) };
}

/** The batchId of a refused agent frame, when it has one, for the error's `ref`. */
function batchIdOf(text: string | ArrayBuffer): string | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const v = JSON.parse(text) as { batchId?: unknown };
    return typeof v?.batchId === "string" ? v.batchId.slice(0, 128) : undefined;
  } catch {
    return undefined;
  }
}

/** An event too large for any frame: never expected (fields are shortened, deltas split on ingestion). */
function oversized(bytes: number, e: RoomEvent): void {
  console.error(`event ${e.seq} (${e.type}) is ${bytes} bytes, over the frame cap; sent alone`);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
