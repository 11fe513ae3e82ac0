/**
 * Small, valid protocol values for unit tests (no test framework imports, so any test may use
 * them): a session's metadata and a snapshot around it.
 */
import type { SessionMeta, Snapshot } from "./protocol.ts";

export function sessionMeta(over: Partial<SessionMeta> = {}): SessionMeta {
  return {
    id: "s1",
    title: "Untitled",
    mode: "build",
    agentStatus: "idle",
    agentOnline: true,
    archived: false,
    createdAt: 1,
    updatedAt: 1,
    allowedOrigins: [],
    ...over,
  };
}

/** An empty snapshot at `seq`; override any field. */
export function snapshotOf(seq = 0, over: Partial<Snapshot> = {}): Snapshot {
  return {
    seq,
    session: sessionMeta(),
    messages: [],
    hasMore: false,
    queue: [],
    permissions: [],
    questions: [],
    todos: [],
    diff: [],
    ...over,
  };
}
