/**
 * The event log: every durable change, numbered by seq, kept as a bounded tail. A client whose
 * cursor is inside the tail gets exactly the events it missed; older cursors get a snapshot.
 */
import type { RoomEvent, RoomEventBody } from "../../shared/protocol.ts";

export class EventLog {
  /** Smallest seq still in the log, or undefined before the first read. */
  #start: number | undefined;
  private readonly sql: SqlStorage;
  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  append(seq: number, ts: number, body: RoomEventBody): RoomEvent {
    this.sql.exec(`INSERT INTO events (seq, ts, body) VALUES (?, ?, ?)`, seq, ts, JSON.stringify(body));
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

  /** Events with seq in (after, upTo], in order. */
  read(after: number, upTo: number): RoomEvent[] {
    const out: RoomEvent[] = [];
    for (const row of this.sql.exec<{ seq: number; ts: number; body: string }>(
      `SELECT seq, ts, body FROM events WHERE seq > ? AND seq <= ? ORDER BY seq`,
      after,
      upTo,
    )) {
      out.push({ ...(JSON.parse(row.body) as RoomEventBody), seq: row.seq, ts: row.ts } as RoomEvent);
    }
    return out;
  }

  count(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM events`).one().n;
  }

  /**
   * Drops the oldest events once the log holds more than retain + slack, keeping `retain`.
   * Running in batches (not per append) keeps the amortized cost per event O(1).
   */
  compact(lastSeq: number, retain: number, slack: number): number {
    const start = this.start(lastSeq);
    const held = lastSeq - start + 1;
    if (held <= retain + slack) return 0;
    const cut = lastSeq - retain;
    this.sql.exec(`DELETE FROM events WHERE seq <= ?`, cut);
    this.#start = cut + 1;
    return cut - start + 1;
  }

  reset(): void {
    this.#start = undefined;
  }
}
