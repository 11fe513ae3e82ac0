/**
 * The runner: one OpenCode server, one OpenCode event stream, many rooms.
 *
 * It learns of sessions through the lobby (`/parties/lobby/main`, an agent token for all
 * sessions): a session whose status is `offline` (or `pending`) has no runner, so it joins that
 * room as the agent.
 * The room grants one agent connection a lease; a runner refused (another holds it) lets go and
 * tries again only when the lobby reports the session offline again. Several runners can therefore
 * run at once, and when one dies the others take its sessions over.
 *
 * Capacity: it serves at most `maxSessions` (AGENTROOM_MAX_SESSIONS) and tells the lobby how many
 * it holds, on connect and on every change, so the lobby can mark sessions nobody can take
 * `pending` (every runner full) and tell their rooms. Sessions it must leave waiting are logged
 * once each; when a slot frees it takes the one that has waited longest (the lobby's
 * `waitingSince`), and a runner starting up takes the oldest first too.
 *
 * OpenCode events are routed to rooms by OpenCode session id; when the event stream is lost (or
 * OpenCode restarts) every held session is reconciled from `session.messages`.
 */
import { randomBytes } from "node:crypto";
import { DEFAULT_AGENT, LOBBY_ROOM, LobbyFrameSchema, parseFrame, type LobbyClientFrame, type SessionSummary } from "../shared/protocol.ts";
import { signToken, ALL_SESSIONS } from "../shared/token.ts";
import { OpencodeServer } from "./opencode.ts";
import { modelLabel, type ProviderChoice } from "./opencode-config.ts";
import { Connection } from "../shared/connection.ts";
import { SessionAgent } from "./session-agent.ts";
import type { WorkspaceConfig } from "./workspace.ts";
import { AcpSessionAgent } from "./acp/session.ts";
import { offerList, type AgentOffer } from "./acp/agents.ts";

/** A room this runner holds: OpenCode through its SDK, or an ACP agent. */
export type RoomAgent = SessionAgent | AcpSessionAgent;

export interface RunnerConfig {
  /** http(s):// base URL of the Worker. */
  url: string;
  /** An agent token for all sessions, or the secret to mint one. */
  token?: string;
  tokenSecret?: string;
  stateDir: string;
  workspace: WorkspaceConfig;
  provider: ProviderChoice;
  permission?: Record<string, unknown>;
  runnerId?: string;
  /** Sessions this runner serves at most. */
  maxSessions?: number;
  /** Wait before taking a session another runner just dropped (it may be reconnecting). */
  takeoverDelayMs?: number;
  opencodeBinary?: string;
  /** The agents it offers (AGENTROOM_AGENTS); default OpenCode through the SDK only. */
  agents?: AgentOffer;
  flushMs?: number;
  log?: (msg: string) => void;
}

export class Runner {
  readonly cfg: RunnerConfig;
  readonly runnerId: string;
  readonly opencode: OpencodeServer;
  readonly agents = new Map<string, RoomAgent>();
  private readonly byOpencode = new Map<string, SessionAgent>();
  readonly offer: AgentOffer;
  /** Sessions skipped because they run an agent this runner does not offer (logged once each). */
  private readonly notOffered = new Set<string>();
  private readonly lobbyStatus = new Map<string, SessionSummary>();
  /** Sessions needing a runner that this one could not take (full), by when they started waiting. */
  private readonly waiting = new Map<string, number>();
  /** The last capacity report sent to the lobby ("held/max"), to send only changes. */
  private reported = "";
  private lobby: Connection | null = null;
  private cachedToken: { token: string; until: number } | null = null;
  private streamOpens = 0;
  private stopping = false;
  private readonly log: (msg: string) => void;
  /** OpenCode events that matched no held session (for diagnostics). */
  unrouted = 0;

  constructor(cfg: RunnerConfig) {
    this.cfg = cfg;
    this.runnerId = cfg.runnerId ?? `r${randomBytes(4).toString("hex")}`;
    this.log = cfg.log ?? ((m) => console.log(`[runner ${this.runnerId}] ${m}`));
    this.offer = cfg.agents ?? { sdk: true, acp: new Map() };
    this.opencode = new OpencodeServer({
      stateDir: cfg.stateDir,
      provider: cfg.provider,
      permission: cfg.permission,
      binary: cfg.opencodeBinary,
      log: this.log,
    });
  }

  get wsBase(): string {
    return this.cfg.url.replace(/^http/, "ws").replace(/\/+$/, "");
  }

  async token(): Promise<string> {
    if (this.cfg.token) return this.cfg.token;
    if (!this.cfg.tokenSecret) throw new Error("the runner needs AGENTROOM_AGENT_TOKEN or TOKEN_SECRET");
    const now = Date.now();
    if (this.cachedToken && this.cachedToken.until > now) return this.cachedToken.token;
    const ttl = 24 * 3600;
    const token = await signToken(this.cfg.tokenSecret, { sid: ALL_SESSIONS, role: "agent", name: `runner ${this.runnerId}`, ttlSeconds: ttl });
    this.cachedToken = { token, until: now + (ttl / 2) * 1000 };
    return token;
  }

  async start(): Promise<void> {
    this.opencode.on("event", (env) => {
      const ev = env.payload;
      const sid = sessionIdOf(ev.properties);
      if (!sid) return;
      const agent = this.byOpencode.get(sid);
      if (agent) agent.onOpencodeEvent(ev);
      else this.unrouted++;
    });
    this.opencode.on("stream-open", () => {
      // The first open is the start; any later one follows a loss, and events may be missing.
      if (this.streamOpens++ === 0) return;
      for (const a of this.agents.values()) if (a instanceof SessionAgent && a.state === "held") a.resync("OpenCode event stream reopened");
    });
    this.opencode.on("stream-lost", (r) => this.log(`OpenCode event stream lost: ${r}`));
    // A runner offering only ACP agents needs no OpenCode server of its own.
    if (this.offer.sdk) await this.opencode.start();
    this.log(`agents offered: ${offerList(this.offer).map((a) => a.id).join(", ") || "none"}`);
    this.lobby = new Connection(
      {
        host: this.wsBase,
        party: "lobby",
        room: LOBBY_ROOM,
        token: () => this.token(),
        backoff: { baseMs: 500, maxMs: 5_000, minMs: 100 },
        // The lobby has no auto-answered ping (it answers any frame with an error, which also
        // proves it is alive): ping it rarely.
        heartbeat: { intervalMs: 30_000, timeoutMs: 30_000 },
        probe: false,
        watchNetwork: false,
        // The runner never gives up on the index: every close is followed by a reconnect.
        finalCloseCodes: {},
        log: this.log,
      },
      {
        open: () => {
          this.log("lobby: connected");
          this.reported = "";
          this.reportCapacity();
        },
        message: (d) => this.onLobby(d),
        close: ({ code, reason }) => this.log(`lobby: closed ${code} ${reason}`),
        state: () => {},
      },
    );
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.lobby?.close();
    await Promise.all([...this.agents.values()].map((a) => a.stop(true)));
    this.agents.clear();
    await this.opencode.stop();
  }

  private onLobby(data: string): void {
    const r = parseFrame(LobbyFrameSchema, data);
    if (!r.ok) return;
    const f = r.frame;
    if (f.type === "sessions") {
      // The full list arrived: a healthy connection, so the next drop's backoff starts over.
      this.lobby?.markLive();
      // The longest-waiting first: with fewer free slots than sessions waiting, they go to those.
      for (const s of [...f.sessions].sort(byWaiting)) this.consider(s, true);
    } else if (f.type === "session.changed") {
      this.consider(f.session, false);
    } else if (f.type === "session.deleted") {
      this.lobbyStatus.delete(f.id);
      this.waiting.delete(f.id);
      void this.drop(f.id);
    }
  }

  get maxSessions(): number {
    return this.cfg.maxSessions ?? 50;
  }

  /** Tells the lobby how many sessions this runner holds and may hold (only when it changed). */
  private reportCapacity(): void {
    const now = `${this.agents.size}/${this.maxSessions}`;
    if (now === this.reported || !this.lobby?.isOpen) return;
    const frame: LobbyClientFrame = { type: "runner.capacity", held: this.agents.size, max: this.maxSessions, agents: offerList(this.offer) };
    if (this.lobby.send(JSON.stringify(frame))) this.reported = now;
  }

  /** A slot is free: the session that has waited longest gets it. */
  private takeNext(): void {
    if (this.stopping) return;
    while (this.agents.size < this.maxSessions && this.waiting.size) {
      const [id] = [...this.waiting].sort((a, b) => a[1] - b[1])[0]!;
      this.waiting.delete(id);
      const s = this.lobbyStatus.get(id);
      if (!s || !needsRunner(s) || this.agents.has(id)) continue;
      this.log(`room ${id}: taking it (waited ${Math.round((Date.now() - (s.waitingSince ?? s.createdAt)) / 1000)} s for a free slot)`);
      this.join(id, 0);
    }
    this.reportCapacity();
  }

  /** Joins a session that needs a runner. */
  private consider(s: SessionSummary, initial: boolean): void {
    this.lobbyStatus.set(s.id, s);
    const existing = this.agents.get(s.id);
    if (s.archived) {
      this.waiting.delete(s.id);
      if (existing) void this.drop(s.id);
      return;
    }
    if (!needsRunner(s)) {
      this.waiting.delete(s.id);
      return;
    }
    if (!this.offers(s.agent ?? DEFAULT_AGENT)) {
      if (!this.notOffered.has(s.id)) this.log(`room ${s.id}: runs agent "${s.agent}", which this runner does not offer (AGENTROOM_AGENTS); leaving it to another runner`);
      this.notOffered.add(s.id);
      return;
    }
    if (existing && (existing.state === "held" || existing.state === "connecting")) return;
    if (existing instanceof AcpSessionAgent && existing.state === "refused") {
      // Its agent process (and any turn it runs) lives on: only the room connection starts over.
      existing.reconnect((this.cfg.takeoverDelayMs ?? 750) * Math.random());
      return;
    }
    if (existing) {
      // Refused earlier (another runner held it) or gone: try again now that it is free.
      this.agents.delete(s.id);
      void existing.stop(false);
    }
    if (this.agents.size >= this.maxSessions) {
      if (!this.waiting.has(s.id)) {
        this.log(`room ${s.id}: waiting for a runner: this runner is full (${this.agents.size} of ${this.maxSessions} sessions, AGENTROOM_MAX_SESSIONS); it is taken when a slot frees, longest-waiting first`);
      }
      this.waiting.set(s.id, s.waitingSince ?? s.createdAt);
      this.reportCapacity();
      return;
    }
    this.waiting.delete(s.id);
    // A freshly freed session may be its holder's, reconnecting: give it a moment first,
    // with jitter so several runners do not all knock at once.
    const delay = initial ? Math.random() * 200 : (this.cfg.takeoverDelayMs ?? 750) * (1 + Math.random());
    this.join(s.id, delay);
  }

  private offers(agent: string): boolean {
    return agent === DEFAULT_AGENT ? this.offer.sdk : this.offer.acp.has(agent);
  }

  private join(roomId: string, delayMs: number): void {
    const spec = this.offer.acp.get(this.lobbyStatus.get(roomId)?.agent ?? DEFAULT_AGENT);
    const agent: RoomAgent = spec
      ? new AcpSessionAgent({
          roomId,
          wsBase: this.wsBase,
          token: () => this.token(),
          runnerId: this.runnerId,
          workspace: this.cfg.workspace,
          spec,
          launch: { stateDir: this.cfg.stateDir, provider: this.cfg.provider, permission: this.cfg.permission },
          model: `${spec.label} · ${modelLabel(this.cfg.provider)}`,
          demo: this.cfg.provider.kind === "scripted",
          onStateChange: (a) => this.onAgentState(a),
          log: this.log,
          flushMs: this.cfg.flushMs,
          startDelayMs: delayMs,
        })
      : this.sdkAgent(roomId, delayMs);
    this.agents.set(roomId, agent);
    agent.start();
    this.reportCapacity();
  }

  private onAgentState(a: { roomId: string; state: RoomAgent["state"] }): void {
    if (a.state === "gone" || a.state === "refused") this.log(`room ${a.roomId}: ${a.state}`);
    if (a.state === "gone") void this.drop(a.roomId);
    if (a.state === "refused") {
      const held = this.agents.get(a.roomId);
      if (held) this.retryLater(held);
    }
  }

  private sdkAgent(roomId: string, delayMs: number): SessionAgent {
    return new SessionAgent({
      roomId,
      wsBase: this.wsBase,
      token: () => this.token(),
      runnerId: this.runnerId,
      opencode: () => this.opencode.ready(),
      workspace: this.cfg.workspace,
      model: modelLabel(this.cfg.provider),
      demo: this.cfg.provider.kind === "scripted",
      onOpencodeSession: (a, id) => {
        for (const [k, v] of this.byOpencode) if (v === a && k !== id) this.byOpencode.delete(k);
        this.byOpencode.set(id, a);
      },
      onStateChange: (a) => this.onAgentState(a),
      log: this.log,
      flushMs: this.cfg.flushMs,
      startDelayMs: delayMs,
    });
  }

  /**
   * A refused session is normally retried when the lobby reports it offline. A holder that hangs
   * without closing its socket never makes it offline, but its lease runs out: so knock again
   * once the holder's lease would have expired (the room hands it over then).
   */
  private retryLater(a: RoomAgent): void {
    const wait = Math.max(5_000, a.refusedForMs || 30_000) * (1.05 + Math.random() * 0.2);
    const timer = setTimeout(() => {
      if (this.agents.get(a.roomId) !== a || a.state !== "refused" || this.stopping) return;
      const s = this.lobbyStatus.get(a.roomId);
      if (!s || s.archived) return;
      this.agents.delete(a.roomId);
      if (a instanceof AcpSessionAgent) {
        a.reconnect(0);
        return;
      }
      void a.stop(false);
      this.join(a.roomId, 0);
    }, wait);
    timer.unref?.();
  }

  private async drop(roomId: string): Promise<void> {
    const a = this.agents.get(roomId);
    if (!a) return;
    this.agents.delete(roomId);
    for (const [k, v] of this.byOpencode) if (v === a) this.byOpencode.delete(k);
    this.notOffered.delete(roomId);
    this.takeNext();
    await a.stop(false);
  }

  stats(): Record<string, unknown> {
    return {
      runnerId: this.runnerId,
      opencode: { url: this.opencode.url, pid: this.opencode.pid, generation: this.opencode.generation, startupMs: this.opencode.startupTimes },
      sessions: [...this.agents.values()].map((a) => a.stats()),
      unrouted: this.unrouted,
      rssBytes: process.memoryUsage().rss,
    };
  }
}

/** No runner holds it: `offline`, or `pending` (every runner full). */
function needsRunner(s: SessionSummary): boolean {
  return !s.archived && (s.status === "offline" || s.status === "pending");
}

/** Sessions waiting longest first; the others after, as they came. */
function byWaiting(a: SessionSummary, b: SessionSummary): number {
  return (a.waitingSince ?? Number.MAX_SAFE_INTEGER) - (b.waitingSince ?? Number.MAX_SAFE_INTEGER);
}

function sessionIdOf(p: Record<string, unknown> | undefined): string | undefined {
  if (!p) return undefined;
  if (typeof p.sessionID === "string") return p.sessionID;
  const info = p.info as { sessionID?: unknown; id?: unknown } | undefined;
  if (info && typeof info.sessionID === "string") return info.sessionID;
  const part = p.part as { sessionID?: unknown } | undefined;
  if (part && typeof part.sessionID === "string") return part.sessionID;
  return undefined;
}
