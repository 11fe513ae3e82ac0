/**
 * The live session list: one connection to the lobby room (shared/connection.ts: jittered
 * reconnects, heartbeat, explicit state), which sends the whole list on connect and then every
 * change. A reconnect simply receives the full list again, so nothing can be missed.
 */
import { Connection } from "../../../shared/connection.ts";
import { LobbyFrameSchema, type SessionSummary } from "../../../shared/protocol.ts";
import type { ConnectionView } from "./room-view.ts";
import { connectionView } from "./room-store.ts";

export interface LobbyHandlers {
  /** The first page; `nextCursor` when there are more (fetch them over HTTP). */
  onSessions(list: SessionSummary[], nextCursor?: string): void;
  onChanged(s: SessionSummary): void;
  onDeleted(id: string): void;
  onConnection(c: ConnectionView): void;
}

export function connectLobby(token: string, h: LobbyHandlers, host: string = location.origin): { close(): void } {
  const conn = new Connection(
    { host, party: "lobby", room: "main", token: () => token },
    {
      message(data) {
        let json: unknown;
        try {
          json = JSON.parse(data);
        } catch {
          return;
        }
        const r = LobbyFrameSchema.safeParse(json);
        if (!r.success) return;
        const f = r.data;
        if (f.type === "sessions") {
          h.onSessions(f.sessions, f.nextCursor);
          conn.markLive();
        } else if (f.type === "session.changed") h.onChanged(f.session);
        else h.onDeleted(f.id);
      },
      open() {},
      close() {},
      state(s) {
        h.onConnection(connectionView(s));
      },
    },
  );
  return { close: () => conn.close() };
}
