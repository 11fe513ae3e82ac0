/**
 * THE session-state reducer: what each durable room event does to a session's state, for the room
 * (party/room/apply.ts, SQLite) and every client (shared/transcript.ts, memory). Each event kind's
 * reducer is part of its definition (shared/events/); this dispatches to it.
 */
import type { RoomEventBody } from "./protocol.ts";
import { EVENT_DEFS } from "./events/registry.ts";
import type { SessionState } from "./events/state.ts";

export { deriveAgentStatus, type RawAgentStatus, type RequestKind, type SessionState } from "./events/state.ts";

/**
 * Folds one event into `state` and returns the body to log and fan out (the room may have stored
 * a shortened copy). A type this build does not know (a client talking to a newer room) changes
 * nothing and comes back as it is.
 */
export function reduceSessionEvent(state: SessionState, body: RoomEventBody, seq: number, ts: number): RoomEventBody {
  const def = EVENT_DEFS.get(body.type);
  if (!def) return body;
  return (def.reduce(state, body, seq, ts) as RoomEventBody | void) ?? body;
}
