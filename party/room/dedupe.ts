/**
 * Remembers applied agent batch ids and upstream event ids so that a batch the runner resends
 * after a reconnect (it never saw the ack) is acknowledged again and applied zero more times.
 * Both sets are bounded: the oldest entries are forgotten first.
 */
export class Dedupe {
  /**
   * @param remember batch ids kept
   * @param rememberEids event ids kept (each delta may carry one, so this is larger)
   */
  private readonly sql: SqlStorage;
  private readonly remember: number;
  private readonly rememberEids: number;
  constructor(sql: SqlStorage, remember: number, rememberEids: number = remember * 10) {
    this.sql = sql;
    this.remember = remember;
    this.rememberEids = rememberEids;
  }

  /**
   * The seq the batch committed at, when this very batch (same id, same content digest) was
   * applied before. A known id with another digest is a different batch: undefined.
   */
  batchSeq(batchId: string, digest: string): number | undefined {
    const row = this.sql
      .exec<{ seq: number; digest: string | null }>(`SELECT seq, digest FROM batches WHERE batch_id = ?`, batchId)
      .toArray()[0];
    if (!row) return undefined;
    return row.digest === null || row.digest === digest ? row.seq : undefined;
  }

  hasEid(eid: string): boolean {
    return this.sql.exec(`SELECT 1 FROM eids WHERE eid = ?`, eid).toArray().length > 0;
  }

  rememberBatch(batchId: string, digest: string, seq: number, n: number): void {
    this.sql.exec(`INSERT OR REPLACE INTO batches (batch_id, seq, n, digest) VALUES (?, ?, ?, ?)`, batchId, seq, n, digest);
    this.#trim(n);
  }

  /** The counter value of the last trim (memory only: a new instance trims on its first batch). */
  #trimmedAt = Number.NEGATIVE_INFINITY;

  /**
   * Trims both sets every `TRIM_EVERY` counter steps rather than on every batch (two DELETEs per
   * batch were a statement-heavy share of a busy room's SQL); the sets overshoot by at most that.
   */
  #trim(n: number): void {
    if (n - this.#trimmedAt < TRIM_EVERY) return;
    this.#trimmedAt = n;
    this.sql.exec(`DELETE FROM batches WHERE n <= ?`, n - this.remember);
    this.sql.exec(`DELETE FROM eids WHERE n <= ?`, n - this.rememberEids);
  }

  rememberEid(eid: string, n: number): void {
    this.sql.exec(`INSERT OR IGNORE INTO eids (eid, n) VALUES (?, ?)`, eid, n);
  }

}

/** Counter steps between trims of the remembered batch and event ids. */
const TRIM_EVERY = 64;

/** FNV-1a (32-bit) of a string, hex: cheap, and enough to tell a resend from a different batch. */
export function digestOf(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return `${text.length.toString(36)}.${(h >>> 0).toString(16)}`;
}
