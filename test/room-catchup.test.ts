/**
 * Catch-up over real sockets, with figures printed for the record (not timed assertions):
 *  - a reconnect that missed 10,000 deltas: replayed, merged per part, bytes ~ the missed text;
 *  - a new viewer of a 5,000-message session: one snapshot of the latest page, older pages on demand.
 * Correctness is asserted; time and bytes are printed (median of 5 joins, through wrangler dev).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import { Transcript, normalizeMessages } from "../shared/transcript.ts";
import type { EventBody, Snapshot } from "../shared/protocol.ts";
import { SimAgent, SimViewer, waitUntil } from "./room-clients.ts";

let w: WorkerHandle;
beforeAll(async () => {
  w = await startWorker();
});
afterAll(async () => {
  await w?.stop();
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Joins once, fresh or (with `from`) holding the state of that snapshot, so it reconnects with
 * its seq as cursor; returns ms from socket creation to caught-up, bytes received, the viewer.
 */
async function timedJoin(baseUrl: string, token: string, from?: Snapshot): Promise<{ ms: number; bytes: number; viewer: SimViewer }> {
  const v = new SimViewer({ baseUrl, token });
  if (from) v.transcript = Transcript.fromSnapshot(from);
  const t0 = performance.now();
  v.start();
  await waitUntil(() => v.live, 20_000, "caught-up");
  const ms = performance.now() - t0;
  const bytes = v.bytes;
  v.stop();
  return { ms, bytes, viewer: v };
}

async function sendAll(agent: SimAgent, bodies: EventBody[], perBatch: number): Promise<void> {
  for (let i = 0; i < bodies.length; i += perBatch) {
    agent.sendBatch(bodies.slice(i, i + perBatch));
    // Bounded in flight, so the agent never outruns its acks by much.
    await waitUntil(() => agent.unacked.size < 4, 20_000, "acks");
  }
  await waitUntil(() => agent.unacked.size === 0, 20_000, "all acked");
}

describe("catch-up figures", () => {
  it("a reconnect that missed 10,000 deltas gets exactly them, merged", async () => {
    const { id } = await w.createSession({ title: "10k deltas" });
    const token = await w.mintToken({ sid: id, role: "viewer" });
    const agent = new SimAgent({ url: () => w.roomUrl(id), token: await w.agentToken() });
    agent.start();
    await waitUntil(() => agent.leased, 10_000, "lease");
    const head: EventBody[] = [];
    for (let m = 0; m < 10; m++) {
      head.push({ type: "message.upsert", message: { id: `m${m}`, role: "assistant", time: { created: m } } });
      head.push({ type: "part.upsert", part: { id: `m${m}-p`, messageID: `m${m}`, type: "text", text: "" } });
    }
    await sendAll(agent, head, 100);
    const before = await timedJoin(w.roomUrl(id), token);
    const atCursor = before.viewer.lastSnapshot!;

    const deltas: EventBody[] = [];
    let missedChars = 0;
    for (let i = 0; i < 10_000; i++) {
      const m = Math.floor(i / 1000);
      const d = `tok${i} `;
      missedChars += d.length;
      deltas.push({ type: "part.delta", messageID: `m${m}`, partID: `m${m}-p`, field: "text", delta: d });
    }
    await sendAll(agent, deltas, 500);

    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(await timedJoin(w.roomUrl(id), token, atCursor));
    for (const r of runs) {
      // Replayed from the cursor (never a snapshot), ending exactly where the agent is.
      expect(r.viewer.catchups).toEqual(["replay"]);
      expect(r.viewer.resyncs).toBe(0);
      expect(normalizeMessages(r.viewer.transcript.messages)).toEqual(normalizeMessages(agent.truth.messages));
    }
    agent.stop();

    const ms = median(runs.map((r) => r.ms));
    const bytes = median(runs.map((r) => r.bytes));
    console.log(
      `[figure] reconnect that missed 10,000 deltas (${missedChars} chars of text, 10 parts): ` +
        `median ${ms.toFixed(1)} ms to caught-up, ${bytes} bytes received (${(bytes / missedChars).toFixed(2)} bytes per missed char); ` +
        `runs ms=[${runs.map((r) => r.ms.toFixed(1)).join(", ")}]`,
    );
    // Bytes follow the text, not the event count: merged deltas cost far less than 10k events would.
    expect(bytes).toBeLessThan(missedChars * 3);
  });

  it("a new viewer of a 5,000-message session receives one page, not the session", async () => {
    const { id } = await w.createSession({ title: "5k messages" });
    const token = await w.mintToken({ sid: id, role: "viewer" });
    const agent = new SimAgent({ url: () => w.roomUrl(id), token: await w.agentToken() });
    agent.start();
    await waitUntil(() => agent.leased, 10_000, "lease");
    const bodies: EventBody[] = [];
    const line = "The quick brown fox jumps over the lazy dog. ".repeat(4);
    for (let m = 0; m < 5000; m++) {
      const mid = `m${String(m).padStart(5, "0")}`;
      bodies.push({ type: "message.upsert", message: { id: mid, role: m % 2 ? "assistant" : "user", time: { created: m, completed: m } } as never });
      bodies.push({ type: "part.upsert", part: { id: `${mid}-p`, messageID: mid, type: "text", text: `${m}: ${line}` } });
    }
    await sendAll(agent, bodies, 1000);
    agent.stop();

    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(await timedJoin(w.roomUrl(id), token));
    for (const r of runs) {
      expect(r.viewer.catchups).toEqual(["snapshot"]);
      expect(r.viewer.transcript.messages).toHaveLength(50);
      expect(r.viewer.transcript.hasMore).toBe(true);
      expect(r.viewer.transcript.messages.at(-1)!.info.id).toBe("m04999");
    }
    const ms = median(runs.map((r) => r.ms));
    const bytes = median(runs.map((r) => r.bytes));
    console.log(
      `[figure] new viewer of a 5,000-message session: median ${ms.toFixed(1)} ms to caught-up, ${bytes} bytes ` +
        `(latest 50 messages; older pages on demand); runs ms=[${runs.map((r) => r.ms.toFixed(1)).join(", ")}]`,
    );
    expect(bytes).toBeLessThan(100_000);
  });
});
