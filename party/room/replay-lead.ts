/**
 * Replay in the room: reading the event log for a replay (`replay.log`), and watching a replay
 * together (`replay.lead`, `replay.unlead`, `replay.follow`). The replay itself runs in each
 * browser (shared/replay.ts); the room only serves the log and passes the leader's position on.
 *
 * Leading is a role check like every other command: an owner or a driver may lead, anyone may
 * follow. One leader at a time: a new leader takes over. Who leads, and the leader's last
 * position, live in the connections' attachments, so a room that hibernates between two moves of
 * the leader still knows; a leader who leaves ends the lead for everyone.
 *
 * Replay frames only read, so they are allowed on archived sessions.
 */
import type { Connection } from "partyserver";
import { canDrive, type ReplayFrame, type ServerFrame, type SessionMeta } from "../../shared/protocol.ts";
import type { Limits } from "../../shared/limits.ts";
import { utf8Bytes } from "../../shared/delta.ts";
import type { ConnState } from "./conn-state.ts";
import type { EventLog } from "./log.ts";
import type { MetaStore } from "./meta.ts";
import { send, sendError } from "./send.ts";

/** The room's tag for people's sockets (party/session-room.ts): only they can be on a replay page. */
const PEOPLE = "people";
/** Events in one `replay.log` answer unless the client asks for fewer; halved until the frame fits. */
const LOG_PAGE_EVENTS = 2_000;

/** What replay needs of the room. */
export interface ReplayHost {
  readonly log: EventLog;
  readonly meta: MetaStore;
  readonly limits: Limits;
  flush(): void;
  getConnections<T>(tag?: string): Iterable<Connection<T>>;
  /** The connection's attachment changed in a way presence shows (its `replay`). */
  setReplayPresence(conn: Connection<ConnState>, replay: ConnState["replay"]): void;
}

export function handleReplayFrame(room: ReplayHost, conn: Connection<ConnState>, st: ConnState, f: ReplayFrame): void {
  switch (f.type) {
    case "replay.log":
      return void conn.send(logFrame(room, f.ref, f.after, f.limit));
    case "replay.follow":
      if (st.replay !== "leading") room.setReplayPresence(conn, f.following ? "following" : "watching");
      return send(conn, leadFrame(room));
    case "replay.lead": {
      if (!canDrive(st.role)) {
        return sendError(conn, "forbidden", `a ${st.role} may follow a replay but not lead it; an owner or a driver leads`, f.ref);
      }
      for (const c of room.getConnections<ConnState>(PEOPLE)) {
        if (c.id !== conn.id && c.state?.replay === "leading") {
          c.setState({ ...c.state, replay: "watching", lead: undefined });
          room.setReplayPresence(c, "watching");
        }
      }
      const was = st.replay;
      conn.setState({ ...st, replay: "leading", lead: f.state });
      if (was !== "leading") room.setReplayPresence(conn, "leading");
      return broadcast(room, { type: "replay.lead", leader: { id: conn.id, name: st.name }, state: f.state });
    }
    case "replay.unlead":
      if (st.replay !== "leading") return;
      conn.setState({ ...st, replay: "watching", lead: undefined });
      room.setReplayPresence(conn, "watching");
      return broadcast(room, { type: "replay.lead", leader: null });
  }
}

/** A connection closed: if it led, nobody leads now. */
export function replayLeft(room: ReplayHost, conn: Connection<ConnState>): void {
  if (conn.state?.replay !== "leading") return;
  broadcast(room, { type: "replay.lead", leader: null }, conn.id);
}

/** Who leads now and where: the open connection whose attachment says it leads. */
function leadFrame(room: ReplayHost): ServerFrame {
  for (const c of room.getConnections<ConnState>(PEOPLE)) {
    if (c.state?.replay === "leading" && c.state.lead) return { type: "replay.lead", leader: { id: c.id, name: c.state.name }, state: c.state.lead };
  }
  return { type: "replay.lead", leader: null };
}

/** To everyone on a replay page (leader included: its own frame confirms the lead). */
function broadcast(room: ReplayHost, frame: ServerFrame, except?: string): void {
  const text = JSON.stringify(frame);
  for (const c of room.getConnections<ConnState>(PEOPLE)) {
    if (!c.state?.replay || c.id === except) continue;
    try {
      c.send(text);
    } catch {
      // closing
    }
  }
}

/**
 * The events after `after`, one per seq, under the frame cap. A cursor before the log's start
 * gets no events: the run's beginning was compacted and cannot be replayed from it.
 */
export function logFrame(room: ReplayHost, ref: string | undefined, after: number, limit: number | undefined): string {
  room.flush();
  const seq = room.meta.seq();
  const start = room.log.start(seq);
  const base = { type: "replay.log" as const, ...(ref !== undefined ? { ref } : {}), after, start, seq };
  const origin = after === 0 ? { origin: room.meta.get("origin") ?? originOf(room.meta.session()) } : {};
  if (after < start - 1 || after >= seq) return JSON.stringify({ ...base, to: after, ...origin, events: [] } satisfies ServerFrame);
  let n = Math.min(limit ?? LOG_PAGE_EVENTS, LOG_PAGE_EVENTS * 2);
  for (;;) {
    const to = Math.min(seq, after + n);
    const text = JSON.stringify({ ...base, to, ...origin, events: room.log.read(after, to) } satisfies ServerFrame);
    if (n === 1 || utf8Bytes(text) <= room.limits.maxOutgoingFrameBytes) return text;
    n = Math.ceil(n / 2);
  }
}

/**
 * The session as it was created, for a room made before it kept that (`meta.origin`): today's
 * metadata with what events changed since put back to a new session's values. Title, mode and
 * embed origins are today's (their first values are not kept anywhere).
 */
export function originOf(current: SessionMeta): SessionMeta {
  const { workspace: _w, opencodeSessionId: _o, model: _m, demo: _d, lastError: _e, chatCount: _c, runnerWait: _r, ...rest } = current;
  return { ...rest, agentStatus: "idle", agentOnline: false, archived: false, updatedAt: current.createdAt };
}
