/**
 * Keeps the session's row in the index (the Lobby) current. The room calls `sync` after every commit.
 */
import type { SessionMeta, SessionSummary } from "../../shared/protocol.ts";
import { summaryOf } from "./summary.ts";

/** The index hears about title/status changes at once and about mere activity at most this often. */
const LOBBY_ACTIVITY_INTERVAL_MS = 10_000;

export class LobbySync {
  readonly #upsert: (summary: SessionSummary) => Promise<unknown>;
  #last: { key: string; at: number } | undefined;

  constructor(upsert: (summary: SessionSummary) => Promise<unknown>) {
    this.#upsert = upsert;
  }

  /**
   * Tells the Lobby about title/status changes at once, and about mere activity (updatedAt) at
   * most every 10 s, piggybacking on commits: no timer, so a quiet room can hibernate. The end of
   * a turn is a status change, so the index's last activity is never stale by more than that.
   */
  async sync(session: SessionMeta, force: boolean): Promise<void> {
    const summary = summaryOf(session);
    const key = JSON.stringify({ ...summary, updatedAt: 0 });
    const now = Date.now();
    const last = this.#last;
    if (!force && last && last.key === key && now - last.at < LOBBY_ACTIVITY_INTERVAL_MS) return;
    this.#last = { key, at: now };
    try {
      await this.#upsert(summary);
    } catch (e) {
      console.warn("lobby update failed", e);
      this.#last = undefined;
    }
  }
}
