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
import type { LobbyFrame, SessionSummary } from "../shared/protocol.ts";
import type { Env } from "./env.ts";

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

export const LOBBY_NAME = "main";
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
      this.#migrated = true;
    }
    return sql;
  }

  /** Adds or updates a session's row and tells every live list. */
  upsert(s: SessionSummary): void {
    this.#db().exec(
      `INSERT INTO sessions (id, title, status, workspace, repository, created_at, updated_at, archived, demo, chat_count)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET title = excluded.title, status = excluded.status, workspace = excluded.workspace,
         repository = excluded.repository, updated_at = excluded.updated_at, archived = excluded.archived, demo = excluded.demo,
         chat_count = excluded.chat_count`,
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
    );
    this.#broadcast({ type: "session.changed", session: s });
  }

  remove(id: string): void {
    this.#db().exec(`DELETE FROM sessions WHERE id = ?`, id);
    this.#broadcast({ type: "session.deleted", id });
  }

  get(id: string): SessionSummary | null {
    const r = this.#db().exec<Row>(`SELECT * FROM sessions WHERE id = ?`, id).toArray()[0];
    return r ? fromRow(r) : null;
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
    const page = rows.slice(0, limit).map(fromRow);
    const last = page[page.length - 1];
    return rows.length > limit && last ? { sessions: page, nextCursor: `${last.updatedAt}:${last.id}` } : { sessions: page };
  }

  /** Sessions by status and who listens (runners by their role tag), for /health. */
  stats(): { sessions: Record<string, number>; runnersOnline: number; listeners: number } {
    const sessions: Record<string, number> = {};
    for (const r of this.#db().exec<{ status: string; n: number }>(`SELECT status, COUNT(*) AS n FROM sessions GROUP BY status`)) {
      sessions[r.status] = r.n;
    }
    return { sessions, runnersOnline: this.ctx.getWebSockets("agent").length, listeners: this.ctx.getWebSockets().length };
  }

  /** Ids of sessions active since `since` (epoch ms), newest first: the rooms /health asks about. */
  activeIds(since: number, limit: number): string[] {
    return this.#db()
      .exec<{ id: string }>(`SELECT id FROM sessions WHERE archived = 0 AND updated_at >= ? ORDER BY updated_at DESC LIMIT ?`, since, limit)
      .toArray()
      .map((r) => r.id);
  }

  override getConnectionTags(_c: Connection, ctx: ConnectionContext): string[] {
    return [ctx.request.headers.get("x-agentroom-role") === "agent" ? "agent" : "people"];
  }

  override onConnect(conn: Connection, _ctx: ConnectionContext): void {
    const first = this.list({ limit: FIRST_PAGE });
    conn.send(JSON.stringify({ type: "sessions", ...first } satisfies LobbyFrame));
  }

  override onMessage(conn: Connection): void {
    // The lobby socket is one-way; anything sent is answered with an error, never acted on.
    conn.send(JSON.stringify({ type: "error", code: "forbidden", message: "the lobby accepts no frames" }));
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
