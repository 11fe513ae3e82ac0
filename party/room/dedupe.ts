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

  /** The seq the batch committed at, when it was applied before. */
  batchSeq(batchId: string): number | undefined {
    return this.sql.exec<{ seq: number }>(`SELECT seq FROM batches WHERE batch_id = ?`, batchId).toArray()[0]?.seq;
  }

  hasEid(eid: string): boolean {
    return this.sql.exec(`SELECT 1 FROM eids WHERE eid = ?`, eid).toArray().length > 0;
  }

  rememberBatch(batchId: string, seq: number, n: number): void {
    this.sql.exec(`INSERT OR REPLACE INTO batches (batch_id, seq, n) VALUES (?, ?, ?)`, batchId, seq, n);
    this.sql.exec(`DELETE FROM batches WHERE n <= ?`, n - this.remember);
  }

  rememberEid(eid: string, n: number): void {
    this.sql.exec(`INSERT OR IGNORE INTO eids (eid, n) VALUES (?, ?)`, eid, n);
  }

  /** Forgets event ids older than the remembered window (called once per batch). */
  trimEids(n: number): void {
    this.sql.exec(`DELETE FROM eids WHERE n <= ?`, n - this.rememberEids);
  }
}
