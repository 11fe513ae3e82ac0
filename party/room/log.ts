/**
 * The event log: every durable change, numbered by seq, kept as a bounded tail. A client whose
 * cursor is inside the tail gets exactly the events it missed; older cursors get a snapshot.
 *
 * Deltas (most of the log) are stored as columns rather than a JSON body, so a replay merges runs
 * of deltas to one part by joining strings, with no JSON parsing per token.
 */
import type { RoomEvent, RoomEventBody } from "../../shared/protocol.ts";
import { DeltaMerger } from "../../shared/delta.ts";

type Row = {
  seq: number;
  ts: number;
  body: string;
  d_message: string | null;
  d_part: string | null;
  d_field: string | null;
  d_text: string | null;
};

export class EventLog {
  /** Smallest seq still in the log, or undefined before the first read. */
  #start: number | undefined;
  private readonly sql: SqlStorage;
  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  append(seq: number, ts: number, body: RoomEventBody): RoomEvent {
    if (body.type === "part.delta") {
      this.sql.exec(
        `INSERT INTO events (seq, ts, body, d_message, d_part, d_field, d_text) VALUES (?, ?, '', ?, ?, ?, ?)`,
        seq,
        ts,
        body.messageID,
        body.partID,
        body.field,
        body.delta,
      );
    } else {
      this.sql.exec(`INSERT INTO events (seq, ts, body) VALUES (?, ?, ?)`, seq, ts, JSON.stringify(body));
    }
    if (this.#start === undefined) this.#start = this.#readStart(seq);
    return { ...body, seq, ts } as RoomEvent;
  }

  #readStart(fallback: number): number {
    const row = this.sql.exec<{ s: number | null }>(`SELECT MIN(seq) AS s FROM events`).one();
    return row.s ?? fallback;
  }

  /** First seq the log still holds; `lastSeq + 1` when it is empty. */
  start(lastSeq: number): number {
    if (this.#start === undefined) this.#start = this.#readStart(lastSeq + 1);
    return this.#start;
  }

  /** True when every event after `cursor` up to `lastSeq` is still in the log. */
  canReplayFrom(cursor: number, lastSeq: number): boolean {
    if (cursor > lastSeq || cursor < 0) return false;
    if (cursor === lastSeq) return true;
    return cursor + 1 >= this.start(lastSeq);
  }

  #rows(after: number, upTo: number): Iterable<Row> {
    return this.sql.exec<Row>(
      `SELECT seq, ts, body, d_message, d_part, d_field, d_text FROM events WHERE seq > ? AND seq <= ? ORDER BY seq`,
      after,
      upTo,
    );
  }

  /** Events with seq in (after, upTo], in order, one per seq. */
  read(after: number, upTo: number): RoomEvent[] {
    const out: RoomEvent[] = [];
    for (const row of this.#rows(after, upTo)) out.push(toEvent(row));
    return out;
  }

  /**
   * Like `read`, with runs of consecutive deltas to one part+field merged into one event covering
   * `fromSeq..seq` while the merged text's JSON stays within `maxRunBytes` (the same result as
   * `mergeDeltas(read(...), maxRunBytes)`: both go through shared/delta.ts's `DeltaMerger`).
   */
  readMerged(after: number, upTo: number, maxRunBytes?: number): RoomEvent[] {
    const merger = new DeltaMerger(maxRunBytes);
    // raw() yields arrays: no row objects on the hot path (a replay reads up to 20k rows).
    const rows = this.sql
      .exec(
        `SELECT seq, ts, d_message, d_part, d_field, d_text, body FROM events WHERE seq > ? AND seq <= ? ORDER BY seq`,
        after,
        upTo,
      )
      .raw<[number, number, string | null, string | null, string | null, string | null, string]>();
    for (const [seq, ts, dm, dp, df, dt, body] of rows) {
      if (dp !== null) merger.row({ messageID: dm ?? "", partID: dp, field: df ?? "text" }, dt ?? "", seq, ts);
      else merger.add(toEvent({ seq, ts, body, d_message: dm, d_part: dp, d_field: df, d_text: dt }));
    }
    return merger.done();
  }

  /**
   * Replaces the stored bodies of these events through `rewrite` (rows compacted away are simply
   * gone). For chat deletes: the log keeps that a message existed and was deleted, not its text.
   */
  rewriteBodies(seqs: readonly number[], rewrite: (body: RoomEventBody) => RoomEventBody): void {
    for (const seq of seqs) {
      const row = this.sql.exec<{ body: string }>(`SELECT body FROM events WHERE seq = ? AND d_part IS NULL`, seq).toArray()[0];
      if (!row) continue;
      this.sql.exec(`UPDATE events SET body = ? WHERE seq = ?`, JSON.stringify(rewrite(JSON.parse(row.body) as RoomEventBody)), seq);
    }
  }

  count(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM events`).one().n;
  }

  /**
   * Drops the oldest events once the log holds more than retain + slack, keeping `retain`.
   * Running in batches (not per append) keeps the amortized cost per event O(1). `beforeCut`
   * runs first with the last seq to go.
   */
  compact(lastSeq: number, retain: number, slack: number, beforeCut?: (cut: number) => void): number {
    const start = this.start(lastSeq);
    const held = lastSeq - start + 1;
    if (held <= retain + slack) return 0;
    const cut = lastSeq - retain;
    // The transcript folds the deltas it still reads from the rows about to go.
    beforeCut?.(cut);
    this.sql.exec(`DELETE FROM events WHERE seq <= ?`, cut);
    this.#start = cut + 1;
    return cut - start + 1;
  }

  reset(): void {
    this.#start = undefined;
  }
}

function toEvent(row: Row): RoomEvent {
  if (row.d_part !== null) {
    return {
      type: "part.delta",
      messageID: row.d_message ?? "",
      partID: row.d_part,
      field: row.d_field ?? "text",
      delta: row.d_text ?? "",
      seq: row.seq,
      ts: row.ts,
    };
  }
  return { ...(JSON.parse(row.body) as RoomEventBody), seq: row.seq, ts: row.ts } as RoomEvent;
}
