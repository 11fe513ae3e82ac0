/**
 * Catch-up scenarios on agentroom:
 *  - a viewer that reconnects with a cursor after missing N deltas (time, bytes, replay or snapshot);
 *  - a new viewer (no cursor) of a session with N messages: bytes, and time until its snapshot is
 *    parsed, validated and loaded into the client's transcript ("ready to render").
 */
import { SnapshotSchema } from "../../shared/protocol.ts";
import { Transcript } from "../../shared/transcript.ts";
import { timeJoin, type JoinResult } from "../lib/join.ts";
import { median, nowMs } from "../lib/stats.ts";
import {
  BenchAgent,
  assistantMessage,
  createSession,
  delta,
  protocols,
  roomUrl,
  textPart,
  viewerToken,
  type Agentroom,
} from "../systems/agentroom.ts";

/** A typical streamed token: a few characters. */
const TOKEN = "lorem ip";
/** Events per agent batch when filling a session (the protocol allows 5,000). */
const FILL_BATCH = 1_000;
/**
 * Joins whose replay the room has not cached: each reconnects from its own cursor (one event
 * earlier each time), so each is a distinct range the room must read from its log and serialize.
 * The first join of `runs` is uncached too, but it also pays one-off warm-up (about 100 ms even
 * for 1k deltas), so it tells little about the log read.
 */
const UNCACHED_RUNS = 3;

export type ReconnectResult = {
  missed: number;
  missedTextBytes: number;
  runs: JoinResult[];
  medianMs: number;
  medianBytes: number;
  catchup: string;
  /** Bytes received per byte of missed text (1.0 = only the text). */
  bytesPerTextByte: number;
  /** Joins from distinct cursors (no cached replay), after the warm-up. */
  uncachedRuns: JoinResult[];
  uncachedMedianMs: number;
};

export async function reconnectCatchup(ar: Agentroom, missedCounts: number[], runs: number): Promise<ReconnectResult[]> {
  const s = await createSession(ar, "bench catch-up");
  const token = await viewerToken(ar, s.id, s.ownerToken);
  const agent = await BenchAgent.join(ar, s.id);
  const out: ReconnectResult[] = [];
  try {
    for (const [k, n] of missedCounts.entries()) {
      const mid = `m${k}`;
      agent.send([assistantMessage(mid), textPart(mid, `p${k}`)]);
      await agent.settled();
      const cursor = agent.seq; // where a viewer that saw everything so far stands
      for (let sent = 0; sent < n; sent += FILL_BATCH) {
        const size = Math.min(FILL_BATCH, n - sent);
        agent.send(Array.from({ length: size }, () => delta(mid, `p${k}`, TOKEN)));
        if (agent.unacked() > 4) await agent.settled();
      }
      await agent.settled();
      const results: JoinResult[] = [];
      for (let r = 0; r < runs; r++) results.push(await timeJoin({ url: roomUrl(ar.base, s.id, cursor), protocols: protocols(token) }));
      const uncached: JoinResult[] = [];
      for (let r = 1; r <= UNCACHED_RUNS; r++) {
        uncached.push(await timeJoin({ url: roomUrl(ar.base, s.id, cursor - r), protocols: protocols(token) }));
      }
      const medianBytes = median(results.map((x) => x.bytes));
      const res: ReconnectResult = {
        missed: n,
        missedTextBytes: n * TOKEN.length,
        runs: results,
        medianMs: median(results.map((x) => x.ms)),
        medianBytes,
        catchup: results[0]!.catchup,
        bytesPerTextByte: medianBytes / (n * TOKEN.length),
        uncachedRuns: uncached,
        uncachedMedianMs: median(uncached.map((x) => x.ms)),
      };
      console.log(
        `  reconnect after ${n} deltas: ${res.medianMs.toFixed(1)} ms (uncached ${res.uncachedMedianMs.toFixed(1)} ms), ${(medianBytes / 1024).toFixed(1)} KB (${res.catchup}; ` +
          `${res.bytesPerTextByte.toFixed(2)} B per missed text byte)`,
      );
      out.push(res);
    }
  } finally {
    await agent.close();
  }
  return out;
}

export type NewViewerResult = {
  messages: number;
  runs: Array<JoinResult & { readyMs: number }>;
  medianBytes: number;
  /** Connect → caught-up. */
  medianJoinMs: number;
  /** Connect → snapshot parsed, validated and loaded into a Transcript. */
  medianReadyMs: number;
  snapshotMessages: number;
};

/** A message as a session holds it: the user's prompt or an answer of a few hundred characters. */
const ANSWER = "The change touches three files. ".repeat(10);

export async function newViewer(ar: Agentroom, sizes: number[], runs: number): Promise<NewViewerResult[]> {
  const out: NewViewerResult[] = [];
  for (const n of sizes) {
    const s = await createSession(ar, `bench ${n} messages`);
    const token = await viewerToken(ar, s.id, s.ownerToken);
    const agent = await BenchAgent.join(ar, s.id);
    const per = FILL_BATCH / 2;
    for (let i = 0; i < n; i += per) {
      const events: unknown[] = [];
      for (let j = i; j < Math.min(n, i + per); j++) events.push(assistantMessage(`m${j}`, 1_700_000_000_000 + j), textPart(`m${j}`, `p${j}`, ANSWER));
      agent.send(events);
      if (agent.unacked() > 4) await agent.settled();
    }
    await agent.settled();
    await agent.close();
    const results: Array<JoinResult & { readyMs: number }> = [];
    let snapshotMessages = 0;
    for (let r = 0; r < runs; r++) {
      const j = await timeJoin({ url: roomUrl(ar.base, s.id), protocols: protocols(token) }, { keep: true });
      const t0 = nowMs();
      const frame = j.texts!.find((t) => t.startsWith('{"type":"snapshot"'));
      if (!frame) throw new Error("no snapshot frame");
      const snapshot = SnapshotSchema.parse((JSON.parse(frame) as { snapshot: unknown }).snapshot);
      const transcript = Transcript.fromSnapshot(snapshot);
      snapshotMessages = snapshot.messages.length;
      void transcript;
      results.push({ ...j, texts: undefined, readyMs: j.ms + (nowMs() - t0) });
    }
    const res: NewViewerResult = {
      messages: n,
      runs: results,
      medianBytes: median(results.map((x) => x.bytes)),
      medianJoinMs: median(results.map((x) => x.ms)),
      medianReadyMs: median(results.map((x) => x.readyMs)),
      snapshotMessages,
    };
    console.log(
      `  new viewer of ${n} messages: ${(res.medianBytes / 1024).toFixed(1)} KB, caught up ${res.medianJoinMs.toFixed(1)} ms, ` +
        `ready ${res.medianReadyMs.toFixed(1)} ms (snapshot of ${snapshotMessages} messages)`,
    );
    out.push(res);
  }
  return out;
}
