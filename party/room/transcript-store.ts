/**
 * The materialized transcript: messages, their parts, pending text deltas and the chunks of
 * large fields.
 *
 * - A delta is stored once, as its row in the event log (room/log.ts): a part that is receiving
 *   deltas is listed in `pending_parts` with the seq after which the log's deltas to it are its
 *   pending text (one row per run of deltas, not per delta). They are folded into the part when
 *   its full snapshot arrives (the snapshot replaces them), when its message completes, or before
 *   the log is compacted past them. Never `text = text || ?`, which rewrites the growing text on
 *   every token. Rooms written before migration 5 may still hold pending deltas in the `deltas`
 *   table; they are read first and deleted on the part's next fold.
 * - A string longer than `inlineFieldChars`, at any depth of a part or message info, is stored in
 *   chunks of `chunkChars` cut on character boundaries (SQLite caps a value at 2 MB and a statement
 *   at 100 KB); the row keeps a prefix and a `truncated` marker, which is what clients receive.
 *   Objects still too big after that (many small strings) are set aside whole (deep-fields.ts).
 *   `readPart(id, true)` / `readMessage(id, true)` restore the full value.
 */
import type { Message, MessageWithParts, Part, Truncation } from "../../shared/parts.ts";
import { splitText } from "../../shared/delta.ts";
import { budgetFor, getPath, marksFor, setPath, shorten, type Json } from "../../shared/deep-fields.ts";

export interface TranscriptLimits {
  inlineFieldChars: number;
  chunkChars: number;
}

/** Chunks of a message info live beside parts' chunks, under this prefix (ids never start with it). */
const MESSAGE_CHUNKS = "message:";

/**
 * Shortens every part and message info of a page to `chars` per string (and `budgetFor(chars)`
 * per object), with `truncated` marks (keeping a mark's fullChars when the field was already
 * shortened). For a page that would not fit in one frame even with a single message.
 */
export function shrinkParts(messages: MessageWithParts[], chars: number): MessageWithParts[] {
  const shrink = <T extends { truncated?: Truncation[] }>(o: T): T => {
    const { value, cuts } = shorten(o as unknown as Json, chars, budgetFor(chars));
    if (cuts.length === 0) return o;
    return { ...value, truncated: marksFor(cuts, o.truncated) } as unknown as T;
  };
  return messages.map((m) => ({ info: shrink(m.info), parts: m.parts.map(shrink) }));
}

export class TranscriptStore {
  private readonly sql: SqlStorage;
  private readonly limits: TranscriptLimits;
  constructor(sql: SqlStorage, limits: TranscriptLimits) {
    this.sql = sql;
    this.limits = limits;
  }

  // ───────────── messages ─────────────

  /** Stores a message info; returns it as clients should see it (long fields shortened, marked). */
  upsertMessage(info: Message, seq: number): Message {
    const stored = this.#shortenAndChunk(MESSAGE_CHUNKS + info.id, info as unknown as Json);
    this.sql.exec(
      `INSERT INTO messages (id, ord, info) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET info = excluded.info`,
      info.id,
      seq,
      JSON.stringify(stored),
    );
    return stored as unknown as Message;
  }

  /** A message info as stored, or whole (`full`: chunks restored). */
  readMessage(id: string, full: boolean): Message | null {
    const row = this.sql.exec<{ info: string }>(`SELECT info FROM messages WHERE id = ?`, id).toArray()[0];
    if (!row) return null;
    const info = JSON.parse(row.info) as Json;
    return (full && info.truncated ? this.#restoreChunks(MESSAGE_CHUNKS + id, info) : info) as unknown as Message;
  }

  removeMessage(id: string): void {
    for (const row of this.sql.exec<{ id: string }>(`SELECT id FROM parts WHERE message_id = ?`, id).toArray()) {
      this.removePart(row.id);
    }
    this.sql.exec(`DELETE FROM messages WHERE id = ?`, id);
    this.sql.exec(`DELETE FROM chunks WHERE part_id = ?`, MESSAGE_CHUNKS + id);
  }

  hasMessage(id: string): boolean {
    return this.sql.exec(`SELECT 1 FROM messages WHERE id = ?`, id).toArray().length > 0;
  }

  hasPart(id: string): boolean {
    return this.sql.exec(`SELECT 1 FROM parts WHERE id = ?`, id).toArray().length > 0;
  }

  messageCount(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM messages`).one().n;
  }

  // ───────────── parts ─────────────

  /**
   * Stores a part's full snapshot, replacing its pending deltas. Returns the part as clients
   * should see it (large fields shortened, with the `truncated` marker).
   */
  upsertPart(part: Part, seq: number): Part {
    this.#dropPending(part.id);
    return this.#writePart(part, seq);
  }

  /** The part has no pending deltas any more (folded, replaced or removed). */
  #dropPending(id: string): void {
    if (this.#streamingPart === id) this.#streamingPart = undefined;
    this.sql.exec(`DELETE FROM pending_parts WHERE part_id = ?`, id);
    if (this.#hasLegacy()) this.sql.exec(`DELETE FROM deltas WHERE part_id = ?`, id);
  }

  /** Whether the pre-migration-5 `deltas` table still holds rows (checked once per instance). */
  #legacy: boolean | undefined;
  #hasLegacy(): boolean {
    this.#legacy ??= this.sql.exec(`SELECT 1 FROM deltas LIMIT 1`).toArray().length > 0;
    return this.#legacy;
  }

  /** The pending deltas of a part whose run began after `after`, in order. */
  #pendingAfter(id: string, after: number): { field: string; delta: string }[] {
    const out: { field: string; delta: string }[] = [];
    if (this.#hasLegacy()) {
      for (const r of this.sql.exec<{ field: string; delta: string }>(`SELECT field, delta FROM deltas WHERE part_id = ? ORDER BY id`, id)) out.push(r);
    }
    const rows = this.sql
      .exec(`SELECT d_field, d_text FROM events WHERE seq > ? AND d_part = ? ORDER BY seq`, after, id)
      .raw<[string | null, string | null]>();
    for (const [field, delta] of rows) out.push({ field: field ?? "text", delta: delta ?? "" });
    return out;
  }

  #pending(id: string): { field: string; delta: string }[] {
    const row = this.sql.exec<{ after_seq: number }>(`SELECT after_seq FROM pending_parts WHERE part_id = ?`, id).toArray()[0];
    return row ? this.#pendingAfter(id, row.after_seq) : [];
  }

  #writePart(part: Part, seq: number): Part {
    const stored = this.#shortenAndChunk(part.id, part as Json);
    this.sql.exec(
      `INSERT INTO parts (id, message_id, ord, data, chunked) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET message_id = excluded.message_id, data = excluded.data, chunked = excluded.chunked`,
      part.id,
      part.messageID,
      seq,
      JSON.stringify(stored),
      stored.truncated ? 1 : 0,
    );
    return stored as Part;
  }

  /**
   * The short form of `value` (any string over `inlineFieldChars` shortened, objects over the
   * budget set aside), with what was cut written to chunks under `owner` and marked `truncated`.
   */
  #shortenAndChunk(owner: string, value: Json): Json {
    const input: Json = { ...value };
    delete input.truncated;
    this.sql.exec(`DELETE FROM chunks WHERE part_id = ?`, owner);
    const { value: short, cuts } = shorten(input, this.limits.inlineFieldChars, budgetFor(this.limits.inlineFieldChars));
    for (const cut of cuts) {
      splitText(cut.full, this.limits.chunkChars).forEach((data, idx) => {
        this.sql.exec(`INSERT INTO chunks (part_id, field, idx, data) VALUES (?, ?, ?, ?)`, owner, cut.field, idx, data);
      });
    }
    if (cuts.length) short.truncated = marksFor(cuts);
    return short;
  }

  /**
   * A delta at `seq`: its text is the log's row for that seq (the caller appends it), so nothing
   * is written here but, once per run of deltas, the part's `pending_parts` row. If the part is
   * unknown (a delta raced ahead of its first snapshot) a text part is created for it so the text
   * is not lost.
   */
  appendDelta(messageID: string, partID: string, field: string, _delta: string, seq: number): void {
    // A stream sends thousands of deltas to one part in a row: look it up once, not per delta.
    if (this.#streamingPart === partID) return;
    if (this.sql.exec(`SELECT 1 FROM parts WHERE id = ?`, partID).toArray().length === 0) {
      this.#writePart({ id: partID, messageID, type: "text", [field]: "" } as Part, seq);
    }
    // A run already pending keeps its start.
    this.sql.exec(`INSERT OR IGNORE INTO pending_parts (part_id, after_seq) VALUES (?, ?)`, partID, seq - 1);
    this.#streamingPart = partID;
  }

  /**
   * The part the last delta went to, known to exist and to be listed pending. Forgotten when its
   * pending deltas are folded or dropped and when a transaction rolls back (`forget`), since the
   * rows it vouches for may be gone.
   */
  #streamingPart: string | undefined;

  forget(): void {
    this.#streamingPart = undefined;
  }

  removePart(id: string): void {
    this.#dropPending(id);
    this.sql.exec(`DELETE FROM parts WHERE id = ?`, id);
    this.sql.exec(`DELETE FROM chunks WHERE part_id = ?`, id);
  }

  /** Folds the pending deltas of a message's parts into the parts (once, when it completes). */
  foldMessage(messageID: string): void {
    const ids = this.sql
      .exec<{ id: string; ord: number }>(
        `SELECT p.id AS id, p.ord AS ord FROM parts p JOIN pending_parts pp ON pp.part_id = p.id WHERE p.message_id = ?`,
        messageID,
      )
      .toArray();
    for (const { id, ord } of ids) this.foldPart(id, ord);
  }

  foldPart(id: string, ord?: number): void {
    const full = this.readPart(id, true);
    if (!full) return;
    const o = ord ?? this.sql.exec<{ ord: number }>(`SELECT ord FROM parts WHERE id = ?`, id).one().ord;
    this.#dropPending(id);
    this.#writePart(full, o);
  }

  /**
   * Folds every part with pending deltas at or before `seq`: the log is about to drop its rows up
   * to `seq`, and with them the only copy of that text.
   */
  foldPendingThrough(seq: number): void {
    const ids = this.sql.exec<{ part_id: string }>(`SELECT part_id FROM pending_parts WHERE after_seq < ?`, seq).toArray();
    for (const { part_id } of ids) this.foldPart(part_id);
  }

  pendingDeltaCount(partID: string): number {
    return this.#pending(partID).length;
  }

  /** A part as stored plus its pending deltas; `full` restores chunked fields whole. */
  readPart(id: string, full: boolean): Part | null {
    const row = this.sql
      .exec<{ data: string; chunked: number }>(`SELECT data, chunked FROM parts WHERE id = ?`, id)
      .toArray()[0];
    if (!row) return null;
    let part = JSON.parse(row.data) as Json;
    if (full && row.chunked) part = this.#restoreChunks(id, part);
    return applyDeltas(part, this.#pending(id)) as Part;
  }

  /**
   * The value with its chunks put back: containers set aside first (outermost first: their JSON
   * holds the previews of strings inside them), then the strings.
   */
  #restoreChunks(owner: string, value: Json): Json {
    const byField = new Map<string, string[]>();
    for (const r of this.sql.exec<{ field: string; data: string }>(
      `SELECT field, data FROM chunks WHERE part_id = ? ORDER BY field, idx`,
      owner,
    )) {
      let list = byField.get(r.field);
      if (!list) byField.set(r.field, (list = []));
      list.push(r.data);
    }
    const marks = (value.truncated as Truncation[] | undefined) ?? [];
    const order = (m: Truncation) => (m.json ? m.field.length : Number.MAX_SAFE_INTEGER);
    let out: Json = { ...value };
    delete out.truncated;
    for (const m of [...marks].sort((a, b) => order(a) - order(b))) {
      const list = byField.get(m.field);
      if (!list) continue;
      const text = list.join("");
      out = setPath(out, m.field, m.json ? JSON.parse(text) : text);
    }
    return out;
  }

  // ───────────── pages ─────────────

  /**
   * `value` shortened as a stored part would be (strings over `inlineFieldChars`, objects over the
   * budget), marked `truncated`, with nothing kept of what was cut: for a part grown by deltas
   * (its full text is in the deltas) and for values the room keeps only short (diffs, todos,
   * requests).
   */
  shortened<T extends object>(value: T): T {
    const v = value as unknown as Json;
    const { value: short, cuts } = shorten(v, this.limits.inlineFieldChars, budgetFor(this.limits.inlineFieldChars));
    if (cuts.length === 0) return value;
    return { ...short, truncated: marksFor(cuts, v.truncated as Truncation[] | undefined) } as unknown as T;
  }

  /**
   * The newest `limit` messages older than message `before` (all, when absent), oldest first,
   * with their parts in order, and whether older ones exist.
   */
  page(before: string | undefined, limit: number): { messages: MessageWithParts[]; hasMore: boolean } {
    let beforeOrd = Number.MAX_SAFE_INTEGER;
    if (before !== undefined) {
      const r = this.sql.exec<{ ord: number }>(`SELECT ord FROM messages WHERE id = ?`, before).toArray()[0];
      if (!r) return { messages: [], hasMore: false };
      beforeOrd = r.ord;
    }
    const rows = this.sql
      .exec<{ id: string; info: string; ord: number }>(
        `SELECT id, info, ord FROM messages WHERE ord < ? ORDER BY ord DESC LIMIT ?`,
        beforeOrd,
        limit + 1,
      )
      .toArray();
    const hasMore = rows.length > limit;
    const chosen = rows.slice(0, limit).reverse();
    if (chosen.length === 0) return { messages: [], hasMore };
    const minOrd = chosen[0]!.ord;
    const maxOrd = chosen[chosen.length - 1]!.ord;
    // Parts of the chosen messages in one range query (message ords are a contiguous range).
    const parts = new Map<string, Json[]>();
    const partRows = this.sql
      .exec<{ id: string; message_id: string; data: string }>(
        `SELECT p.id, p.message_id, p.data FROM parts p JOIN messages m ON m.id = p.message_id
         WHERE m.ord >= ? AND m.ord <= ? ORDER BY p.ord`,
        minOrd,
        maxOrd,
      )
      .toArray();
    const pending = this.sql
      .exec<{ part_id: string; after_seq: number }>(
        `SELECT pp.part_id, pp.after_seq FROM pending_parts pp JOIN parts p ON p.id = pp.part_id JOIN messages m ON m.id = p.message_id
         WHERE m.ord >= ? AND m.ord <= ?`,
        minOrd,
        maxOrd,
      )
      .toArray();
    const deltasByPart = new Map(pending.map((r) => [r.part_id, this.#pendingAfter(r.part_id, r.after_seq)]));
    for (const p of partRows) {
      let list = parts.get(p.message_id);
      if (!list) parts.set(p.message_id, (list = []));
      const part = JSON.parse(p.data) as Json;
      const ds = deltasByPart.get(p.id);
      list.push(ds ? this.shortened(applyDeltas(part, ds)) : part);
    }
    return {
      messages: chosen.map((m) => ({ info: JSON.parse(m.info) as Message, parts: (parts.get(m.id) ?? []) as Part[] })),
      hasMore,
    };
  }
}

/**
 * Appends deltas to their fields (a dotted path reaches inside the part). A shortened (chunked)
 * field keeps its prefix and only grows its `fullChars`: the preview stays a preview; the full
 * text is read with `full`.
 */
function applyDeltas(part: Json, deltas: readonly { field: string; delta: string }[]): Json {
  if (deltas.length === 0) return part;
  let out: Json = { ...part };
  const truncated = (out.truncated as Truncation[] | undefined)?.map((t) => ({ ...t }));
  const add = new Map<string, string[]>();
  for (const d of deltas) {
    let list = add.get(d.field);
    if (!list) add.set(d.field, (list = []));
    list.push(d.delta);
  }
  for (const [field, list] of add) {
    const text = list.join("");
    const t = truncated?.find((x) => x.field === field);
    if (t) t.fullChars += text.length;
    else {
      const cur = getPath(out, field);
      out = setPath(out, field, (typeof cur === "string" ? cur : "") + text);
    }
  }
  if (truncated) out.truncated = truncated;
  return out;
}
