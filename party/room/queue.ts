/**
 * The durable prompt queue: FIFO by position, idempotent by the client's prompt id. Every id ever
 * accepted is remembered (bounded) so a resend after a reconnect — even after the prompt ran —
 * changes nothing.
 */
import type { QueueItem } from "../../shared/protocol.ts";

const REMEMBER_PROMPT_IDS = 10_000;

export class PromptQueue {
  private readonly sql: SqlStorage;
  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  list(): QueueItem[] {
    return this.sql
      .exec<{ item: string }>(`SELECT item FROM queue ORDER BY pos`)
      .toArray()
      .map((r) => JSON.parse(r.item) as QueueItem);
  }

  get(id: string): QueueItem | undefined {
    const r = this.sql.exec<{ item: string }>(`SELECT item FROM queue WHERE id = ?`, id).toArray()[0];
    return r ? (JSON.parse(r.item) as QueueItem) : undefined;
  }

  head(): QueueItem | undefined {
    const r = this.sql.exec<{ item: string }>(`SELECT item FROM queue ORDER BY pos LIMIT 1`).toArray()[0];
    return r ? (JSON.parse(r.item) as QueueItem) : undefined;
  }

  dispatched(): QueueItem | undefined {
    return this.list().find((i) => i.state === "dispatched");
  }

  size(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM queue`).one().n;
  }

  /** True when this prompt id was accepted before (queued, running or done). */
  seen(id: string): boolean {
    return this.sql.exec(`SELECT 1 FROM prompt_ids WHERE id = ?`, id).toArray().length > 0;
  }

  add(item: QueueItem, pos: number): void {
    this.sql.exec(`INSERT INTO queue (id, pos, item) VALUES (?, ?, ?)`, item.id, pos, JSON.stringify(item));
    this.sql.exec(`INSERT OR IGNORE INTO prompt_ids (id, at) VALUES (?, ?)`, item.id, pos);
    this.sql.exec(
      `DELETE FROM prompt_ids WHERE at <= (SELECT at FROM prompt_ids ORDER BY at DESC LIMIT 1 OFFSET ?)`,
      REMEMBER_PROMPT_IDS,
    );
  }

  update(item: QueueItem): void {
    this.sql.exec(`UPDATE queue SET item = ? WHERE id = ?`, JSON.stringify(item), item.id);
  }

  remove(id: string): void {
    this.sql.exec(`DELETE FROM queue WHERE id = ?`, id);
  }
}
