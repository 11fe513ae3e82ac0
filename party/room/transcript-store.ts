/**
 * The materialized transcript: messages, their parts, pending text deltas and the chunks of
 * large fields.
 *
 * - A delta is one INSERT (O(1)); it is folded into its part when the part's full snapshot
 *   arrives (the snapshot replaces the deltas) or when its message completes. Never
 *   `text = text || ?`, which rewrites the growing text on every token.
 * - A string field longer than `inlineFieldChars` is stored in chunks of `chunkChars` (SQLite caps
 *   a value at 2 MB and a statement at 100 KB); the part row keeps a prefix and a `truncated`
 *   marker, which is what clients receive. `readPart(id, true)` restores the full text.
 */
import type { Message, MessageWithParts, Part, Truncation } from "../../shared/parts.ts";

export interface TranscriptLimits {
  inlineFieldChars: number;
  chunkChars: number;
}

type Json = Record<string, unknown>;

/** Paths of string fields that may be large: top level and one object down (e.g. state.output). */
function largeStringPaths(part: Json, limit: number): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(part)) {
    if (k === "id" || k === "messageID" || k === "type" || k === "truncated") continue;
    if (typeof v === "string" && v.length > limit) out.push(k);
    else if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v as Json)) {
        if (typeof v2 === "string" && v2.length > limit) out.push(`${k}.${k2}`);
      }
    }
  }
  return out;
}

function getPath(obj: Json, path: string): unknown {
  const [a, b] = path.split(".") as [string, string | undefined];
  const v = obj[a];
  return b === undefined ? v : v && typeof v === "object" ? (v as Json)[b] : undefined;
}

/** Sets a top-level or one-level-down field, copying the inner object (never mutate inputs). */
function setPath(obj: Json, path: string, value: unknown): void {
  const [a, b] = path.split(".") as [string, string | undefined];
  if (b === undefined) obj[a] = value;
  else obj[a] = { ...((obj[a] as Json | undefined) ?? {}), [b]: value };
}

/**
 * Shortens every large string field of the parts to `chars`, with `truncated` markers (keeping a
 * marker's fullChars when the field was already shortened). For a page that would not fit in one
 * frame even with a single message (a message with dozens of large tool outputs).
 */
export function shrinkParts(messages: MessageWithParts[], chars: number): MessageWithParts[] {
  return messages.map((m) => ({
    info: m.info,
    parts: m.parts.map((part) => {
      const paths = largeStringPaths(part as Json, chars);
      if (paths.length === 0) return part;
      const out: Json = { ...part };
      const marks = ((out.truncated as Truncation[] | undefined) ?? []).map((t) => ({ ...t }));
      for (const path of paths) {
        const value = getPath(out, path) as string;
        setPath(out, path, value.slice(0, chars));
        const known = marks.find((t) => t.field === path);
        if (!known) marks.push({ field: path, fullChars: value.length });
      }
      out.truncated = marks;
      return out as Part;
    }),
  }));
}

export class TranscriptStore {
  private readonly sql: SqlStorage;
  private readonly limits: TranscriptLimits;
  constructor(sql: SqlStorage, limits: TranscriptLimits) {
    this.sql = sql;
    this.limits = limits;
  }

  // ───────────── messages ─────────────

  upsertMessage(info: Message, seq: number): void {
    this.sql.exec(
      `INSERT INTO messages (id, ord, info) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET info = excluded.info`,
      info.id,
      seq,
      JSON.stringify(info),
    );
  }

  removeMessage(id: string): void {
    for (const row of this.sql.exec<{ id: string }>(`SELECT id FROM parts WHERE message_id = ?`, id).toArray()) {
      this.removePart(row.id);
    }
    this.sql.exec(`DELETE FROM messages WHERE id = ?`, id);
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
    this.sql.exec(`DELETE FROM deltas WHERE part_id = ?`, part.id);
    return this.#writePart(part, seq);
  }

  #writePart(part: Part, seq: number): Part {
    const limit = this.limits.inlineFieldChars;
    const stored: Json = { ...part };
    delete stored.truncated;
    this.sql.exec(`DELETE FROM chunks WHERE part_id = ?`, part.id);
    const truncated: Truncation[] = [];
    for (const path of largeStringPaths(stored, limit)) {
      const full = getPath(stored, path) as string;
      for (let i = 0, idx = 0; i < full.length; i += this.limits.chunkChars, idx++) {
        this.sql.exec(
          `INSERT INTO chunks (part_id, field, idx, data) VALUES (?, ?, ?, ?)`,
          part.id,
          path,
          idx,
          full.slice(i, i + this.limits.chunkChars),
        );
      }
      setPath(stored, path, full.slice(0, limit));
      truncated.push({ field: path, fullChars: full.length });
    }
    if (truncated.length) stored.truncated = truncated;
    this.sql.exec(
      `INSERT INTO parts (id, message_id, ord, data, chunked) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET message_id = excluded.message_id, data = excluded.data, chunked = excluded.chunked`,
      part.id,
      part.messageID,
      seq,
      JSON.stringify(stored),
      truncated.length ? 1 : 0,
    );
    return stored as Part;
  }

  /**
   * Appends a delta: one row, O(1). If the part is unknown (a delta raced ahead of its first
   * snapshot) a text part is created for it so the text is not lost.
   */
  appendDelta(messageID: string, partID: string, field: string, delta: string, seq: number): void {
    // A stream sends thousands of deltas to one part in a row: look it up once, not per delta.
    if (this.#streamingPart !== partID) {
      if (this.sql.exec(`SELECT 1 FROM parts WHERE id = ?`, partID).toArray().length === 0) {
        this.#writePart({ id: partID, messageID, type: "text", [field]: "" } as Part, seq);
      }
      this.#streamingPart = partID;
    }
    this.sql.exec(`INSERT INTO deltas (part_id, field, delta) VALUES (?, ?, ?)`, partID, field, delta);
  }

  /**
   * The part the last delta went to, known to exist. Forgotten when a part is removed and when a
   * transaction rolls back (`forget`), since the row it vouches for may be gone.
   */
  #streamingPart: string | undefined;

  forget(): void {
    this.#streamingPart = undefined;
  }

  removePart(id: string): void {
    if (this.#streamingPart === id) this.#streamingPart = undefined;
    this.sql.exec(`DELETE FROM parts WHERE id = ?`, id);
    this.sql.exec(`DELETE FROM deltas WHERE part_id = ?`, id);
    this.sql.exec(`DELETE FROM chunks WHERE part_id = ?`, id);
  }

  /** Folds the pending deltas of a message's parts into the parts (once, when it completes). */
  foldMessage(messageID: string): void {
    const ids = this.sql
      .exec<{ id: string; ord: number }>(
        `SELECT DISTINCT p.id AS id, p.ord AS ord FROM parts p JOIN deltas d ON d.part_id = p.id WHERE p.message_id = ?`,
        messageID,
      )
      .toArray();
    for (const { id, ord } of ids) this.foldPart(id, ord);
  }

  foldPart(id: string, ord?: number): void {
    const full = this.readPart(id, true);
    if (!full) return;
    const o = ord ?? this.sql.exec<{ ord: number }>(`SELECT ord FROM parts WHERE id = ?`, id).one().ord;
    this.sql.exec(`DELETE FROM deltas WHERE part_id = ?`, id);
    this.#writePart(full, o);
  }

  pendingDeltaCount(partID: string): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM deltas WHERE part_id = ?`, partID).one().n;
  }

  /** A part as stored plus its pending deltas; `full` restores chunked fields whole. */
  readPart(id: string, full: boolean): Part | null {
    const row = this.sql
      .exec<{ data: string; chunked: number }>(`SELECT data, chunked FROM parts WHERE id = ?`, id)
      .toArray()[0];
    if (!row) return null;
    let part = JSON.parse(row.data) as Json;
    if (full && row.chunked) part = this.#restoreChunks(id, part);
    const deltas = this.sql
      .exec<{ part_id: string; field: string; delta: string }>(
        `SELECT part_id, field, delta FROM deltas WHERE part_id = ? ORDER BY id`,
        id,
      )
      .toArray();
    return applyDeltas(part, deltas) as Part;
  }

  #restoreChunks(id: string, part: Json): Json {
    const out: Json = { ...part };
    const byField = new Map<string, string[]>();
    for (const r of this.sql.exec<{ field: string; data: string }>(
      `SELECT field, data FROM chunks WHERE part_id = ? ORDER BY field, idx`,
      id,
    )) {
      let list = byField.get(r.field);
      if (!list) byField.set(r.field, (list = []));
      list.push(r.data);
    }
    for (const [field, list] of byField) setPath(out, field, list.join(""));
    delete out.truncated;
    return out;
  }

  // ───────────── pages ─────────────

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
    const deltas = this.sql
      .exec<{ part_id: string; field: string; delta: string }>(
        `SELECT d.part_id, d.field, d.delta FROM deltas d JOIN parts p ON p.id = d.part_id JOIN messages m ON m.id = p.message_id
         WHERE m.ord >= ? AND m.ord <= ? ORDER BY d.id`,
        minOrd,
        maxOrd,
      )
      .toArray();
    const deltasByPart = new Map<string, typeof deltas>();
    for (const d of deltas) {
      let list = deltasByPart.get(d.part_id);
      if (!list) deltasByPart.set(d.part_id, (list = []));
      list.push(d);
    }
    for (const p of partRows) {
      let list = parts.get(p.message_id);
      if (!list) parts.set(p.message_id, (list = []));
      const part = JSON.parse(p.data) as Json;
      const ds = deltasByPart.get(p.id);
      list.push(ds ? applyDeltas(part, ds) : part);
    }
    return {
      messages: chosen.map((m) => ({ info: JSON.parse(m.info) as Message, parts: (parts.get(m.id) ?? []) as Part[] })),
      hasMore,
    };
  }
}

/**
 * Appends deltas to their fields. A shortened (chunked) field keeps its prefix and only grows
 * its `fullChars`: the preview stays a preview; the full text is read with `full`.
 */
function applyDeltas(part: Json, deltas: readonly { field: string; delta: string }[]): Json {
  if (deltas.length === 0) return part;
  const out: Json = { ...part };
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
      const cur = out[field];
      out[field] = (typeof cur === "string" ? cur : "") + text;
    }
  }
  if (truncated) out.truncated = truncated;
  return out;
}
