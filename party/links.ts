/**
 * Link records and WebSocket tickets, kept by the session's room in its own SQLite (two tables
 * this module creates; the room's event-log migrations are not involved, and deleting the session
 * deletes them with everything else).
 *
 * A link is every share token the API mints (its id travels in the token as `lid`) and every
 * person a session is shared with by email. The Worker asks `use()` before honouring a token, so
 * revoking a record refuses the token everywhere at once, however long it still has to live.
 *
 * A ticket is a random single-use id standing in for a token in a WebSocket URL (a URL is logged
 * and stored where a header is not): bound to this session, a role and a name, good for one
 * upgrade within TICKET_TTL_MS. Consuming deletes it, so a replay finds nothing.
 */
import { base64url } from "jose";
import type { LinkRecord, RevokeReason, Role } from "../shared/protocol.ts";

export const TICKET_TTL_MS = 30_000;
/** Records a session keeps, revoked and expired ones included until they are pruned. */
export const MAX_LINKS_PER_SESSION = 500;
/** A link's last use is written at most this often (a rejoin storm is one write per link, not per socket). */
const LAST_USE_RESOLUTION_MS = 60_000;

export type LinkRole = LinkRecord["role"];

/** What minting a link takes; the record's times are the room's clock. */
export interface LinkInit {
  role: LinkRole;
  name: string;
  createdBy: string;
  ttlSeconds: number;
  /** A grant to a signed-in person rather than a token. */
  email?: string;
}

/** What a refused link's 401 says, by its code. */
export const LINK_ERROR_MESSAGES = {
  revoked: "this link was revoked",
  expired: "this link expired",
} as const;

/**
 * `record: null`: the token names no record here — it was signed before links were records, or
 * directly with the secret (operator, runner). Such tokens are honoured until they expire; only
 * someone holding the secret can make one.
 */
export type LinkCheck = { ok: true; record: LinkRecord | null } | { ok: false; error: "revoked" | "expired" };

export interface Ticket {
  role: Role;
  name: string;
  linkId: string;
  /** A viewer link that may chat. */
  chat?: boolean;
}

type Row = {
  id: string;
  role: string;
  name: string;
  email: string | null;
  created_by: string;
  created_at: number;
  expires_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  revoked_reason: string | null;
};

const toRecord = (r: Row): LinkRecord => ({
  id: r.id,
  role: r.role as LinkRole,
  name: r.name,
  ...(r.email !== null ? { email: r.email } : {}),
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
  ...(r.revoked_reason === "exposed_in_url" ? { revokedReason: r.revoked_reason } : {}),
});

/** A random id, url-safe (link ids are short; tickets carry 256 bits). */
export function randomId(bytes: number): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(bytes)));
}

export class LinkStore {
  #sql: SqlStorage;
  #ready = false;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  #db(): SqlStorage {
    if (!this.#ready) {
      this.#sql.exec(`CREATE TABLE IF NOT EXISTS links (
        id TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL, email TEXT, created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, last_used_at INTEGER, revoked_at INTEGER)`);
      // Why a link was revoked when no owner did it; tables made before it gain the column.
      if (!this.#sql.exec<{ name: string }>(`SELECT name FROM pragma_table_info('links')`).toArray().some((c) => c.name === "revoked_reason")) {
        this.#sql.exec(`ALTER TABLE links ADD COLUMN revoked_reason TEXT`);
      }
      this.#sql.exec(`CREATE UNIQUE INDEX IF NOT EXISTS links_email ON links (email) WHERE email IS NOT NULL AND revoked_at IS NULL`);
      this.#sql.exec(`CREATE TABLE IF NOT EXISTS tickets (
        id TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL, link_id TEXT NOT NULL, chat INTEGER NOT NULL,
        expires_at INTEGER NOT NULL)`);
      this.#ready = true;
    }
    return this.#sql;
  }

  /** Storage was wiped (the session was deleted): tables are made again on next use. */
  forget(): void {
    this.#ready = false;
  }

  /**
   * A new record; null when the session already keeps MAX_LINKS_PER_SESSION live ones. Records past
   * their expiry are pruned first: an expired token is refused by its signature check anyway.
   */
  mint(init: LinkInit, now = Date.now()): LinkRecord | null {
    const db = this.#db();
    const email = init.email?.toLowerCase();
    db.exec(`DELETE FROM links WHERE expires_at <= ?`, now);
    const count = db.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM links`).one().n;
    if (count >= MAX_LINKS_PER_SESSION) return null;
    if (email !== undefined) {
      // One live grant per person: sharing again replaces the role.
      db.exec(`UPDATE links SET revoked_at = ? WHERE email = ? AND revoked_at IS NULL`, now, email);
    }
    const id = randomId(9);
    db.exec(
      `INSERT INTO links (id, role, name, email, created_by, created_at, expires_at, last_used_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
      id,
      init.role,
      init.name,
      email ?? null,
      init.createdBy,
      now,
      now + init.ttlSeconds * 1000,
    );
    return this.get(id)!;
  }

  get(id: string): LinkRecord | null {
    const row = this.#db().exec<Row>(`SELECT * FROM links WHERE id = ?`, id).toArray()[0];
    return row ? toRecord(row) : null;
  }

  /** Newest first. */
  list(): LinkRecord[] {
    return this.#db().exec<Row>(`SELECT * FROM links ORDER BY created_at DESC, id`).toArray().map(toRecord);
  }

  /** Whether a token of this link may be honoured now; notes the use. */
  use(id: string, now = Date.now()): LinkCheck {
    const record = this.get(id);
    if (!record) return { ok: true, record: null };
    if (record.revokedAt !== null) return { ok: false, error: "revoked" };
    if (record.expiresAt <= now) return { ok: false, error: "expired" };
    if (record.lastUsedAt === null || now - record.lastUsedAt >= LAST_USE_RESOLUTION_MS) {
      this.#db().exec(`UPDATE links SET last_used_at = ? WHERE id = ?`, now, id);
      record.lastUsedAt = now;
    }
    return { ok: true, record };
  }

  /** The live grant of a signed-in person, if the session is shared with them. */
  grantFor(email: string, now = Date.now()): LinkCheck | null {
    const row = this.#db()
      .exec<{ id: string }>(`SELECT id FROM links WHERE email = ? AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1`, email.toLowerCase())
      .toArray()[0];
    return row ? this.use(row.id, now) : null;
  }

  /**
   * Revokes the given records (or every live one matching `where`); returns the ids this call
   * revoked. Unknown and already revoked ids are skipped. `reason`: why, when no owner did it.
   */
  revoke(ids: readonly string[], now = Date.now(), reason?: RevokeReason): string[] {
    const db = this.#db();
    const done: string[] = [];
    for (const id of ids) {
      const r = db.exec(`UPDATE links SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL`, now, reason ?? null, id);
      if (r.rowsWritten > 0) done.push(id);
    }
    return done;
  }

  /** Ids of live records, optionally of some roles only. */
  liveIds(roles?: readonly LinkRole[]): string[] {
    return this.list()
      .filter((r) => r.revokedAt === null && (!roles || roles.includes(r.role)))
      .map((r) => r.id);
  }

  // ───────────────────────────── tickets ─────────────────────────────

  issueTicket(t: Ticket, now = Date.now()): { ticket: string; expiresAt: number } {
    const db = this.#db();
    db.exec(`DELETE FROM tickets WHERE expires_at <= ?`, now);
    const ticket = randomId(32);
    const expiresAt = now + TICKET_TTL_MS;
    db.exec(
      `INSERT INTO tickets (id, role, name, link_id, chat, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
      ticket,
      t.role,
      t.name,
      t.linkId,
      t.chat ? 1 : 0,
      expiresAt,
    );
    return { ticket, expiresAt };
  }

  /** Spends a ticket: whom it stands for, if it was good and its link still stands. */
  redeemTicket(ticket: string, now = Date.now()): { ok: true; ticket: Ticket } | { ok: false; error: "bad_ticket" | "revoked" | "expired"; message: string } {
    const t = this.consumeTicket(ticket, now);
    if (!t) return { ok: false, error: "bad_ticket", message: "the ticket is unknown, used or expired; ask for a new one" };
    const link = this.use(t.linkId, now);
    if (!link.ok) return { ok: false, error: link.error, message: LINK_ERROR_MESSAGES[link.error] };
    return { ok: true, ticket: t };
  }

  /** The ticket's grant, once: it is deleted whether or not it was still good. */
  consumeTicket(ticket: string, now = Date.now()): Ticket | null {
    if (ticket.length > 100) return null;
    const row = this.#db()
      .exec<{ role: string; name: string; link_id: string; chat: number; expires_at: number }>(
        `DELETE FROM tickets WHERE id = ? RETURNING role, name, link_id, chat, expires_at`,
        ticket,
      )
      .toArray()[0];
    if (!row || row.expires_at <= now) return null;
    return { role: row.role as Role, name: row.name, linkId: row.link_id, ...(row.chat ? { chat: true } : {}) };
  }
}
