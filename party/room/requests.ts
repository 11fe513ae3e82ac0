/**
 * Permission and question requests the agent is waiting on. A request is `open` until someone
 * answers it (`answered`: the first valid answer wins) and `closed` once the runner says OpenCode
 * is done with it. Answered-but-not-closed replies are resent to a runner that (re)takes the lease,
 * so a reply given while the runner was away still reaches OpenCode.
 */
import type { PermissionRequest, QuestionRequest } from "../../shared/protocol.ts";
import type { RequestKind } from "../../shared/session-reducer.ts";

export type RequestState = "open" | "answered" | "closed";

export interface StoredRequest {
  id: string;
  kind: RequestKind;
  data: PermissionRequest | QuestionRequest;
  state: RequestState;
  answer: unknown;
}

type Row = { id: string; kind: string; data: string; state: string; answer: string | null };

function fromRow(r: Row): StoredRequest {
  return {
    id: r.id,
    kind: r.kind as RequestKind,
    data: JSON.parse(r.data) as PermissionRequest | QuestionRequest,
    state: r.state as RequestState,
    answer: r.answer === null ? undefined : (JSON.parse(r.answer) as unknown),
  };
}

export class RequestStore {
  private readonly sql: SqlStorage;
  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  /** Records a request; a re-sent request keeps its state (an answer is never undone). */
  ask(kind: RequestKind, data: PermissionRequest | QuestionRequest, at: number): void {
    this.sql.exec(
      `INSERT INTO requests (id, kind, data, state, answer, at) VALUES (?, ?, ?, 'open', NULL, ?)
       ON CONFLICT(id) DO UPDATE SET data = excluded.data`,
      data.id,
      kind,
      JSON.stringify(data),
      at,
    );
  }

  get(id: string): StoredRequest | undefined {
    const r = this.sql.exec<Row>(`SELECT id, kind, data, state, answer FROM requests WHERE id = ?`, id).toArray()[0];
    return r ? fromRow(r) : undefined;
  }

  answer(id: string, answer: unknown): void {
    this.sql.exec(`UPDATE requests SET state = 'answered', answer = ? WHERE id = ?`, JSON.stringify(answer), id);
  }

  close(id: string): void {
    this.sql.exec(`UPDATE requests SET state = 'closed' WHERE id = ?`, id);
  }

  open(kind: RequestKind): StoredRequest[] {
    return this.sql
      .exec<Row>(`SELECT id, kind, data, state, answer FROM requests WHERE kind = ? AND state = 'open' ORDER BY at`, kind)
      .toArray()
      .map(fromRow);
  }

  answeredNotClosed(): StoredRequest[] {
    return this.sql
      .exec<Row>(`SELECT id, kind, data, state, answer FROM requests WHERE state = 'answered' ORDER BY at`)
      .toArray()
      .map(fromRow);
  }

  openCount(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM requests WHERE state = 'open'`).one().n;
  }
}
