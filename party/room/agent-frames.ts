/**
 * Frames from the runner (`AgentFrame`), accepted only from the connection holding the lease:
 * batches (deduplicated by batch id + frame digest and by event id, applied in one transaction,
 * acked after commit), prompt started/failed, closed requests, heartbeats.
 */
import type { Connection } from "partyserver";
import type { AgentFrame, EventBody, RoomEvent, RoomEventBody } from "../../shared/protocol.ts";
import type { Limits } from "../../shared/limits.ts";
import type { ConnState } from "./conn-state.ts";
import type { MetaStore } from "./meta.ts";
import type { PromptQueue } from "./queue.ts";
import type { RequestStore } from "./requests.ts";
import { digestOf, type Dedupe } from "./dedupe.ts";
import { sendAgent, sendError } from "./send.ts";
import { deltaTextBudget, splitToBytes } from "../../shared/delta.ts";

/** What the runner's frames need from the room. */
export interface AgentHost {
  readonly limits: Limits;
  readonly meta: MetaStore;
  readonly queue: PromptQueue;
  readonly requests: RequestStore;
  readonly dedupe: Dedupe;
  commit(bodies: readonly RoomEventBody[], extra?: (lastSeq: number) => void, now?: number): RoomEvent[];
  holdsLease(conn: Connection<ConnState>): boolean;
  /** The holder's heartbeat (party/room/lease.ts writes the lease record). */
  renewLease(runnerId: string, now: number): void;
  maybeDispatch(): void;
}

export function handleAgentFrame(room: AgentHost, conn: Connection<ConnState>, f: AgentFrame, now: number, raw: string): void {
  if (!room.meta.get("lease") || !room.holdsLease(conn)) {
    sendError(conn, "lease_held", "this connection does not hold the session's lease");
    return;
  }
  switch (f.type) {
    case "agent.batch":
      return agentBatch(room, conn, f, now, digestOf(raw));
    case "agent.prompt.started": {
      const item = room.queue.get(f.queueId);
      // Until OpenCode reports, the agent is busy with this prompt: never hand out the next.
      room.meta.set("rawStatus", "busy");
      if (item) room.commit([{ type: "queue.remove", id: f.queueId, reason: "started" }]);
      return;
    }
    case "agent.prompt.failed": {
      if (room.queue.get(f.queueId)) {
        room.commit([
          { type: "queue.remove", id: f.queueId, reason: "failed" },
          { type: "session.error", error: f.error },
        ]);
      }
      return room.maybeDispatch();
    }
    case "agent.request.closed": {
      const req = room.requests.get(f.requestID);
      if (req && req.state !== "closed") room.commit([{ type: "request.closed", requestID: f.requestID }]);
      return room.maybeDispatch();
    }
    case "agent.heartbeat": {
      return room.renewLease(f.runnerId, now);
    }
  }
}

/**
 * A runner batch: dropped whole if its id was applied before (acked again), events whose eid
 * was applied before are skipped, the rest applied in one transaction and acked after commit.
 */
function agentBatch(room: AgentHost, conn: Connection<ConnState>, f: Extract<AgentFrame, { type: "agent.batch" }>, now: number, digest: string): void {
  const prior = room.dedupe.batchSeq(f.batchId, digest);
  if (prior !== undefined) {
    sendAgent(conn, { type: "agent.ack", batchId: f.batchId, seq: prior, duplicate: true });
    return;
  }
  const bodies: EventBody[] = [];
  const eids: string[] = [];
  const inBatch = new Set<string>();
  for (const e of f.events) {
    if (e.eid !== undefined) {
      if (inBatch.has(e.eid) || room.dedupe.hasEid(e.eid)) continue;
      inBatch.add(e.eid);
      eids.push(e.eid);
    }
    for (const body of splitLarge(e.body, room.limits)) bodies.push(body);
  }
  let seq = room.meta.seq();
  room.commit(
    bodies,
    (lastSeq) => {
      seq = lastSeq;
      const base = room.meta.reserveCounter(eids.length + 1);
      eids.forEach((eid, i) => room.dedupe.rememberEid(eid, base + i));
      const n = base + eids.length;
      room.dedupe.rememberBatch(f.batchId, digest, lastSeq, n);
    },
    now,
  );
  sendAgent(conn, { type: "agent.ack", batchId: f.batchId, seq });
  if (bodies.some((b) => b.type === "status")) room.maybeDispatch();
}

/**
 * A long delta is split on character boundaries so each piece fits one SQLite value (`chunkChars`)
 * and, alone, one frame to a viewer (`maxOutgoingFrameBytes`): no log row nears a cap.
 */
function* splitLarge(body: EventBody, limits: Limits): Generator<EventBody> {
  if (body.type !== "part.delta" || body.delta.length <= 1024) {
    yield body;
    return;
  }
  for (const delta of splitToBytes(body.delta, limits.chunkChars, deltaTextBudget(limits.maxOutgoingFrameBytes))) yield { ...body, delta };
}
