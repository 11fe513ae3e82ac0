/**
 * Lobby: the session index, one Durable Object named "main" with a SQLite table.
 *
 * Why a room and not D1: the index must be strongly consistent with creation (a session the index
 * does not list answers 404 and no room object is touched), rooms update it over RPC with no extra
 * binding or network hop, and the same object fans changes out live over WebSocket to the session
 * list and to runners, so nobody polls. One object holds well past the expected write rate (rooms
 * throttle activity updates to one per 10 s each); should it not, the index can move to D1 with
 * this object kept only for the live fan-out.
 */
import { Server, type Connection, type ConnectionContext } from "partyserver";
import { DEFAULT_AGENT, LOBBY_ROOM, LobbyClientFrameSchema, parseFrame, type AgentInfo, type AgentsResult, type LobbyFrame, type RunnerWait, type SessionSummary } from "../shared/protocol.ts";
import type { Env } from "./env.ts";

/** A runner's lobby connection: what it holds and may hold (absent until its first report). */
type RunnerState = { capacity?: { held: number; max: number }; agents?: AgentInfo[] };
/** Runners' lobby connections carry this tag (people's: "people"). */
const TAG_RUNNER = "agent";

type Row = {
  id: string;
  title: string;
  status: string;
  workspace: string | null;
  repository: string | null;
  created_at: number;
  updated_at: number;
  archived: number;
  demo: number | null;
  chat_count: number | null;
  waiting_since: number | null;
  agent: string | null;
};

function fromRow(r: Row): SessionSummary {
  return {
    id: r.id,
    title: r.title,
    status: r.status as SessionSummary["status"],
    ...(r.workspace !== null ? { workspace: r.workspace } : {}),
    ...(r.repository !== null ? { repository: r.repository } : {}),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    archived: r.archived === 1,
    ...(r.demo !== null ? { demo: r.demo === 1 } : {}),
    ...(r.chat_count ? { chatCount: r.chat_count } : {}),
    ...(r.status === "offline" && r.archived === 0 ? { waitingSince: r.waiting_since ?? r.created_at } : {}),
    ...(r.agent !== null ? { agent: r.agent } : {}),
  };
}

/** Cursor for paging newest-activity-first: "<updatedAt>:<id>" of the last row returned. */
function parseCursor(c: string | undefined): { at: number; id: string } | undefined {
  if (!c) return undefined;
  const i = c.indexOf(":");
  const at = Number(c.slice(0, i));
  if (i < 1 || !Number.isFinite(at)) return undefined;
  return { at, id: c.slice(i + 1) };
}

/** The one index (shared/protocol.ts LOBBY_ROOM). */
export const LOBBY_NAME = LOBBY_ROOM;
/** Sessions in the first `sessions` frame a list connection receives. */
const FIRST_PAGE = 100;

export class Lobby extends Server<Env> {
  static override options = { hibernate: true };
  #migrated = false;

  #db(): SqlStorage {
    const sql = this.ctx.storage.sql;
    if (!this.#migrated) {
      sql.exec(`CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY, title TEXT NOT NULL, status TEXT NOT NULL, workspace TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, archived INTEGER NOT NULL, demo INTEGER)`);
      sql.exec(`CREATE INDEX IF NOT EXISTS sessions_recent ON sessions (archived, updated_at DESC, id DESC)`);
      // Added after the first release: an index made before it gains the column, empty.
      const hasRepository = sql.exec(`SELECT 1 FROM pragma_table_info('sessions') WHERE name = 'repository'`).toArray().length > 0;
      if (!hasRepository) sql.exec(`ALTER TABLE sessions ADD COLUMN repository TEXT`);
      const hasChat = sql.exec(`SELECT 1 FROM pragma_table_info('sessions') WHERE name = 'chat_count'`).toArray().length > 0;
      if (!hasChat) sql.exec(`ALTER TABLE sessions ADD COLUMN chat_count INTEGER`);
      // Also later: since when a session has had no runner (rows from before count from creation).
      const hasWaiting = sql.exec(`SELECT 1 FROM pragma_table_info('sessions') WHERE name = 'waiting_since'`).toArray().length > 0;
      if (!hasWaiting) sql.exec(`ALTER TABLE sessions ADD COLUMN waiting_since INTEGER`);
      // And the agent a session runs (rows from before run the default, OpenCode through the SDK).
      const hasAgent = sql.exec(`SELECT 1 FROM pragma_table_info('sessions') WHERE name = 'agent'`).toArray().length > 0;
      if (!hasAgent) sql.exec(`ALTER TABLE sessions ADD COLUMN agent TEXT`);
      sql.exec(`CREATE TABLE IF NOT EXISTS lobby_state (k TEXT PRIMARY KEY, v TEXT NOT NULL)`);
      this.#migrated = true;
    }
    return sql;
  }

  /**
   * Adds or updates a session's row and tells every live list. A session without a runner keeps
   * the time it started waiting; if every runner is full, its room is told why nobody takes it.
   */
  upsert(s: SessionSummary): void {
    this.#db().exec(
      `INSERT INTO sessions (id, title, status, workspace, repository, created_at, updated_at, archived, demo, chat_count, waiting_since, agent)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? = 'offline' THEN ? END, ?)
       ON CONFLICT(id) DO UPDATE SET title = excluded.title, status = excluded.status, workspace = excluded.workspace,
         repository = excluded.repository, updated_at = excluded.updated_at, archived = excluded.archived, demo = excluded.demo,
         chat_count = excluded.chat_count, agent = excluded.agent,
         waiting_since = CASE WHEN excluded.status = 'offline' THEN COALESCE(sessions.waiting_since, excluded.waiting_since) END`,
      s.id,
      s.title,
      s.status,
      s.workspace ?? null,
      s.repository ?? null,
      s.createdAt,
      s.updatedAt,
      s.archived ? 1 : 0,
      s.demo === undefined ? null : s.demo ? 1 : 0,
      s.chatCount ?? null,
      s.status,
      Date.now(),
      s.agent ?? null,
    );
    const row = this.get(s.id);
    if (!row) return;
    this.#broadcast({ type: "session.changed", session: row });
    if (row.status === "pending") this.#tellRoom(row);
  }

  remove(id: string): void {
    this.#db().exec(`DELETE FROM sessions WHERE id = ?`, id);
    this.#broadcast({ type: "session.deleted", id });
  }

  get(id: string): SessionSummary | null {
    const r = this.#db().exec<Row>(`SELECT * FROM sessions WHERE id = ?`, id).toArray()[0];
    return r ? this.#present(r, this.#capacity().full) : null;
  }

  /** A row as lists and runners see it: `offline` reads `pending` while every runner is full. */
  #present(r: Row, full: boolean): SessionSummary {
    const s = fromRow(r);
    return s.status === "offline" && !s.archived && full ? { ...s, status: "pending" } : s;
  }

  /** A page, newest activity first. `archived` undefined lists all. */
  list(opts: { cursor?: string; limit?: number; archived?: boolean }): { sessions: SessionSummary[]; nextCursor?: string } {
    const limit = Math.min(Math.max(opts.limit ?? 50, 1), 200);
    const c = parseCursor(opts.cursor);
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (opts.archived !== undefined) {
      where.push(`archived = ?`);
      args.push(opts.archived ? 1 : 0);
    }
    if (c) {
      where.push(`(updated_at < ? OR (updated_at = ? AND id < ?))`);
      args.push(c.at, c.at, c.id);
    }
    const rows = this.#db()
      .exec<Row>(
        `SELECT * FROM sessions ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY updated_at DESC, id DESC LIMIT ?`,
        ...args,
        limit + 1,
      )
      .toArray();
    const full = this.#capacity().full;
    const page = rows.slice(0, limit).map((r) => this.#present(r, full));
    const last = page[page.length - 1];
    return rows.length > limit && last ? { sessions: page, nextCursor: `${last.updatedAt}:${last.id}` } : { sessions: page };
  }

  /** Sessions by status and who listens (runners by their role tag), for /health. */
  stats(): { sessions: Record<string, number>; runnersOnline: number; listeners: number } {
    const sessions: Record<string, number> = {};
    for (const r of this.#db().exec<{ status: string; n: number }>(`SELECT status, COUNT(*) AS n FROM sessions GROUP BY status`)) {
      sessions[r.status] = r.n;
    }
    return { sessions, runnersOnline: this.ctx.getWebSockets(TAG_RUNNER).length, listeners: this.ctx.getWebSockets().length };
  }

  /** Ids of sessions active since `since` (epoch ms), newest first: the rooms /health asks about. */
  activeIds(since: number, limit: number): string[] {
    return this.#db()
      .exec<{ id: string }>(`SELECT id FROM sessions WHERE archived = 0 AND updated_at >= ? ORDER BY updated_at DESC LIMIT ?`, since, limit)
      .toArray()
      .map((r) => r.id);
  }

  override getConnectionTags(_c: Connection, ctx: ConnectionContext): string[] {
    return [ctx.request.headers.get("x-agentroom-role") === "agent" ? TAG_RUNNER : "people"];
  }

  override onConnect(conn: Connection, _ctx: ConnectionContext): void {
    const first = this.list({ limit: FIRST_PAGE });
    conn.send(JSON.stringify({ type: "sessions", ...first } satisfies LobbyFrame));
  }

  /** Runners report their capacity; people's list connections may send nothing. */
  override onMessage(conn: Connection<RunnerState>, message: string | ArrayBuffer): void {
    if (![...this.getConnections(TAG_RUNNER)].some((c) => c.id === conn.id)) {
      conn.send(JSON.stringify({ type: "error", code: "forbidden", message: "the lobby accepts no frames from a session list" }));
      return;
    }
    const r = parseFrame(LobbyClientFrameSchema, message);
    if (!r.ok) {
      conn.send(JSON.stringify({ type: "error", code: r.code, message: r.message }));
      return;
    }
    conn.setState({ capacity: { held: r.frame.held, max: r.frame.max }, ...(r.frame.agents ? { agents: r.frame.agents } : {}) });
    this.#recheckCapacity();
  }

  override onStart(): void {
    this.#recheckCapacity();
  }

  override onClose(conn: Connection): void {
    this.#recheckCapacity(conn.id);
  }

  override onError(conn: Connection): void {
    this.#recheckCapacity(conn.id);
  }

  // ───────────────────────────── runner capacity ─────────────────────────────

  /** The agents online runners offer (a runner that names none offers OpenCode through the SDK). */
  agents(): AgentsResult {
    const byId = new Map<string, AgentsResult["agents"][number]>();
    for (const c of this.getConnections<RunnerState>(TAG_RUNNER)) {
      if (c.readyState !== WebSocket.OPEN || !c.state?.capacity) continue;
      for (const a of c.state.agents ?? [{ id: DEFAULT_AGENT, label: "OpenCode", protocol: "opencode-sdk" as const }]) {
        const seen = byId.get(a.id);
        if (seen) seen.runners++;
        else byId.set(a.id, { ...a, runners: 1 });
      }
    }
    return { agents: [...byId.values()] };
  }

  /** Runners connected and reporting, and whether every one of them is full. */
  #capacity(gone?: string): { runners: number; full: boolean } {
    let runners = 0;
    let free = false;
    for (const c of this.getConnections<RunnerState>(TAG_RUNNER)) {
      if (c.id === gone || c.readyState !== WebSocket.OPEN) continue; // closing: its slots are gone
      const cap = c.state?.capacity;
      if (!cap) continue; // not reported yet (or an older runner): counts as neither
      runners++;
      if (cap.held < cap.max) free = true;
    }
    return { runners, full: runners > 0 && !free };
  }

  /**
   * The last "every runner is full" acted on, kept in storage: a woken lobby compares with it, and
   * a lobby restarted without its runners' sockets (a workerd restart) sees it flip and tells the
   * rooms their wait is over (`onStart`).
   */
  #lastFull(): boolean {
    return this.#db().exec<{ v: string }>(`SELECT v FROM lobby_state WHERE k = 'full'`).toArray()[0]?.v === "1";
  }

  /**
   * When "every runner is full" flips, every session without a runner changes between `offline`
   * and `pending`: lists and runners get the new rows, rooms get told why (or that it is over).
   */
  #recheckCapacity(gone?: string): void {
    const { full } = this.#capacity(gone);
    if (full === this.#lastFull()) return;
    this.#db().exec(`INSERT INTO lobby_state (k, v) VALUES ('full', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, full ? "1" : "0");
    const rows = this.#db().exec<Row>(`SELECT * FROM sessions WHERE status = 'offline' AND archived = 0`).toArray();
    for (const r of rows) {
      const s = this.#present(r, full);
      this.#broadcast({ type: "session.changed", session: s });
      this.#tellRoom(s);
    }
  }

  /** Tells a session's room whether (and since when) it waits because every runner is full. */
  #tellRoom(s: SessionSummary): void {
    const wait: RunnerWait | null = s.status === "pending" ? { since: s.waitingSince ?? s.createdAt, reason: "runners_full" } : null;
    this.ctx.waitUntil(
      this.env.SessionRoom.getByName(s.id)
        .setRunnerWait(wait)
        .catch((e: unknown) => console.warn("could not tell a room it waits for a runner", e)),
    );
  }

  #broadcast(frame: LobbyFrame): void {
    const s = JSON.stringify(frame);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(s);
      } catch {
        // closing
      }
    }
  }
}
