/**
 * The room's SQLite schema, as numbered migrations. A migration is never edited once shipped:
 * add a new one. The applied version lives in `schema_version` so a room woken from storage
 * written by an older build upgrades itself before it reads anything.
 */

export const MIGRATIONS: readonly (readonly string[])[] = [
  // 1: the initial schema.
  [
    // Session metadata and small singletons (mode, todos, diff, lease...), one JSON value per key.
    `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
    // The event log. seq is the room's order of everything; compaction deletes a prefix.
    `CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, body TEXT NOT NULL)`,
    // The materialized transcript: what a newcomer needs. ord keeps arrival order.
    `CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, ord INTEGER NOT NULL, info TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS messages_ord ON messages (ord)`,
    `CREATE TABLE IF NOT EXISTS parts (id TEXT PRIMARY KEY, message_id TEXT NOT NULL, ord INTEGER NOT NULL, data TEXT NOT NULL, chunked INTEGER NOT NULL DEFAULT 0)`,
    `CREATE INDEX IF NOT EXISTS parts_message ON parts (message_id, ord)`,
    // Text deltas not yet folded into their part: one row per delta, appended in O(1).
    `CREATE TABLE IF NOT EXISTS deltas (id INTEGER PRIMARY KEY, part_id TEXT NOT NULL, field TEXT NOT NULL, delta TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS deltas_part ON deltas (part_id, id)`,
    // Large string fields of parts, split below SQLite's 2 MB value cap.
    `CREATE TABLE IF NOT EXISTS chunks (part_id TEXT NOT NULL, field TEXT NOT NULL, idx INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (part_id, field, idx))`,
    // The prompt queue (FIFO by pos) and every prompt id ever accepted (idempotency).
    `CREATE TABLE IF NOT EXISTS queue (id TEXT PRIMARY KEY, pos INTEGER NOT NULL, item TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS queue_pos ON queue (pos)`,
    `CREATE TABLE IF NOT EXISTS prompt_ids (id TEXT PRIMARY KEY, at INTEGER NOT NULL)`,
    // Permission and question requests; state: open | answered | closed.
    `CREATE TABLE IF NOT EXISTS requests (id TEXT PRIMARY KEY, kind TEXT NOT NULL, data TEXT NOT NULL, state TEXT NOT NULL, answer TEXT, at INTEGER NOT NULL)`,
    // Agent batches and event ids already applied (deduplication of resends), bounded.
    `CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, n INTEGER NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS batches_n ON batches (n)`,
    `CREATE TABLE IF NOT EXISTS eids (eid TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS eids_n ON eids (n)`,
  ],
  // 2: deltas in the log as columns, not JSON: a replay of 10k deltas merges strings without
  // parsing 10k JSON bodies (rows written before keep their JSON body and still read).
  [
    `ALTER TABLE events ADD COLUMN d_message TEXT`,
    `ALTER TABLE events ADD COLUMN d_part TEXT`,
    `ALTER TABLE events ADD COLUMN d_field TEXT`,
    `ALTER TABLE events ADD COLUMN d_text TEXT`,
  ],
  // 3: a digest of each applied batch's frame, so a batch id reused for different content (a
  // runner restarted with its counter back at 1) is applied instead of taken for a resend.
  [`ALTER TABLE batches ADD COLUMN digest TEXT`],
  // 4: chat messages (shared/chat.ts), by id; seq orders and pages them; log_seqs lists the log
  // rows that carry the message's text, scrubbed when it is deleted.
  [
    `CREATE TABLE IF NOT EXISTS chat (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL, log_seqs TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS chat_seq ON chat (seq)`,
  ],
  // 5: a delta is stored once, as its log row; `pending_parts` lists each part receiving deltas
  // with the seq after which the log's deltas to it are its pending text (room/transcript-store.ts).
  // Deltas still in the old `deltas` table (also in the log, up to the current seq) stay pending
  // there: their parts' log runs start after the current seq.
  [
    `CREATE TABLE IF NOT EXISTS pending_parts (part_id TEXT PRIMARY KEY, after_seq INTEGER NOT NULL)`,
    `INSERT OR IGNORE INTO pending_parts (part_id, after_seq) SELECT DISTINCT part_id, (SELECT COALESCE(MAX(seq), 0) FROM events) FROM deltas`,
  ],
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Applies the migrations this storage has not seen yet; returns the version now in force. */
export function migrate(sql: SqlStorage): number {
  sql.exec(`CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)`);
  const row = sql.exec<{ version: number }>(`SELECT version FROM schema_version WHERE id = 1`).toArray()[0];
  let version = row?.version ?? 0;
  while (version < MIGRATIONS.length) {
    for (const stmt of MIGRATIONS[version]!) sql.exec(stmt);
    version++;
    sql.exec(`INSERT INTO schema_version (id, version) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET version = excluded.version`, version);
  }
  return version;
}

/** True when this storage holds a room (it was created through the API). */
export function hasSchema(sql: SqlStorage): boolean {
  return sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).toArray().length > 0;
}
