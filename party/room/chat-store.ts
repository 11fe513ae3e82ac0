/**
 * The room's chat, materialized in SQLite: one row per message (shared/chat.ts `reduceChat` folds
 * the events, as every client does). A deleted message keeps its row without its text, so its id
 * stays taken (a resent `chat` frame is still recognized) and replies keep their target.
 */
import type { ChatMessage } from "../../shared/protocol.ts";
import { reduceChat, scrubbed, type ChatEventBody } from "../../shared/chat.ts";
import type { EventLog } from "./log.ts";

export class ChatStore {
  private readonly sql: SqlStorage;
  private readonly log: EventLog;
  constructor(sql: SqlStorage, log: EventLog) {
    this.sql = sql;
    this.log = log;
  }

  get(id: string): ChatMessage | undefined {
    const r = this.sql.exec<{ data: string }>(`SELECT data FROM chat WHERE id = ?`, id).toArray()[0];
    return r ? (JSON.parse(r.data) as ChatMessage) : undefined;
  }

  /**
   * Folds one event (inside the commit's transaction); a delete scrubs the text from the log too.
   * True when it changed a message.
   */
  apply(ev: ChatEventBody, seq: number, ts: number): boolean {
    const id = ev.type === "chat.add" ? ev.message.id : ev.id;
    const row = this.sql.exec<{ data: string; log_seqs: string }>(`SELECT data, log_seqs FROM chat WHERE id = ?`, id).toArray()[0];
    const current = row ? (JSON.parse(row.data) as ChatMessage) : undefined;
    const next = reduceChat(current, ev, seq, ts);
    if (!next || next === current) return false;
    const logSeqs: number[] = row ? (JSON.parse(row.log_seqs) as number[]) : [];
    if (ev.type === "chat.delete") {
      this.log.rewriteBodies(logSeqs, (body) => scrubbed(body as ChatEventBody));
      logSeqs.length = 0;
    } else if (ev.type === "chat.add" || ev.type === "chat.edit") logSeqs.push(seq);
    this.sql.exec(
      `INSERT INTO chat (id, seq, data, log_seqs) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data, log_seqs = excluded.log_seqs`,
      id,
      next.seq,
      JSON.stringify(next),
      JSON.stringify(logSeqs),
    );
    return true;
  }

  /**
   * Messages before seq `before` (all when absent), newest `limit`, returned oldest first, and
   * cut further to stay under `maxChars` of JSON (a snapshot must fit its frame cap).
   */
  page(before: number | undefined, limit: number, maxChars: number): { messages: ChatMessage[]; hasMore: boolean } {
    const rows = this.sql
      .exec<{ data: string }>(`SELECT data FROM chat WHERE seq < ? ORDER BY seq DESC LIMIT ?`, before ?? Number.MAX_SAFE_INTEGER, limit + 1)
      .toArray();
    const out: ChatMessage[] = [];
    let chars = 0;
    let hasMore = rows.length > limit;
    for (const r of rows.slice(0, limit)) {
      chars += r.data.length;
      if (chars > maxChars && out.length > 0) {
        hasMore = true;
        break;
      }
      out.push(JSON.parse(r.data) as ChatMessage);
    }
    return { messages: out.reverse(), hasMore };
  }
}
