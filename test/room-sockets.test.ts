/**
 * The room over real sockets, against the Worker served by workerd (wrangler dev) on a free port:
 * one agent and three viewers; a viewer drops for 2 s mid-stream and comes back; a late viewer
 * joins; then workerd is SIGKILLed mid-stream and restarted on the same persisted state. Every
 * transcript must equal the agent's exactly (nothing lost, nothing twice).
 *
 * Viewers are the shared room client (`RoomClient`), except the one that drops: a `SimViewer`
 * whose socket the test cuts and restores at will.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import { normalizeMessages } from "../shared/transcript.ts";
import { SimAgent, SimViewer, streamMessages, waitUntil } from "./room-clients.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { TestRoomClient } from "./harness/clients.ts";

let w: WorkerHandle;

beforeAll(async () => {
  w = await startWorker();
});

afterAll(async () => {
  await w?.stop();
});

describe("room over real sockets", () => {
  it("viewers converge through a 2 s drop, a late join and a SIGKILL of workerd", async () => {
    const { id } = await w.createSession({ title: "sockets" });
    const viewerToken = await w.mintToken({ sid: id, role: "viewer", name: "v" });
    const mkClient = () => new TestRoomClient({ host: w.url, sessionId: id, token: viewerToken, watchNetwork: false, backoff: { baseMs: 100, maxMs: 1000 } });
    const clients = [mkClient(), mkClient()];
    const dropped = new SimViewer({ baseUrl: w.roomUrl(id), token: viewerToken, reconnectDelayMs: 150 });
    dropped.start();
    type Viewer = { live: boolean; transcript: TestRoomClient["transcript"] };
    const viewers: Viewer[] = [clients[0]!, dropped, clients[1]!];
    await waitUntil(() => viewers.every((v) => v.live), 10_000, "viewers live");

    const agent = new SimAgent({ url: () => w.roomUrl(id), token: await w.agentToken(), reconnectDelayMs: 150 });
    agent.start();
    await waitUntil(() => agent.leased, 10_000, "agent lease");

    // Phase 1: ~4 s of streaming; viewer 1 drops for 2 s in the middle.
    const phase1 = streamMessages(agent, { prefix: "a", messages: 20, deltasPerMessage: 60, perBatch: 8, everyMs: 20 });
    await sleep(800);
    const connectsBefore = dropped.connects;
    await dropped.drop(2000);
    await phase1;
    await waitUntil(() => agent.unacked.size === 0, 15_000, "phase 1 acked");
    await waitUntil(() => viewers.every((v) => v.live && v.transcript.lastSeq === agent.lastSeq), 15_000, "phase 1 converged");

    const expected1 = normalizeMessages(agent.truth.messages);
    for (const v of viewers) expect(normalizeMessages(v.transcript.messages)).toEqual(expected1);
    expect(dropped.connects).toBe(connectsBefore + 1);
    expect(dropped.catchups.at(-1)).toBe("replay");

    // A late viewer converges from its snapshot.
    const late = mkClient();
    await waitUntil(() => late.live, 10_000, "late viewer live");
    expect(late.stats.snapshots).toBe(1);
    expect(normalizeMessages(late.transcript.messages)).toEqual(expected1);
    clients.push(late);
    viewers.push(late);

    // Phase 2: SIGKILL workerd mid-stream, restart on the same state; the agent keeps producing
    // while the server is down, so some batches are sent before, some queued, some resent.
    let stopStream = false;
    const phase2 = streamMessages(agent, {
      prefix: "b",
      messages: 20,
      deltasPerMessage: 60,
      perBatch: 8,
      everyMs: 20,
      shouldStop: () => stopStream,
    });
    await sleep(1000);
    await w.kill("SIGKILL");
    await sleep(300);
    await w.restart();
    await phase2;
    stopStream = true;
    await waitUntil(() => agent.leased && agent.unacked.size === 0, 30_000, "phase 2 acked").catch((e) => {
      throw new Error(
        `${e}: leased=${agent.leased} unacked=${agent.unacked.size} connects=${agent.connects} errors=${JSON.stringify(agent.errors).slice(0, 500)}\n${w.logs().slice(-3000)}`,
      );
    });
    await waitUntil(() => viewers.every((v) => v.live && v.transcript.lastSeq === agent.lastSeq), 30_000, "phase 2 converged");

    const expected2 = normalizeMessages(agent.truth.messages);
    expect(expected2.length).toBe(40);
    for (const v of viewers) expect(normalizeMessages(v.transcript.messages)).toEqual(expected2);
    // The agent did resend after the restart, and anything the room already had was dropped.
    expect(agent.resent).toBeGreaterThan(0);
    expect(agent.errors).toEqual([]);
    expect(dropped.errors).toEqual([]);
    // And a fresh viewer after all this sees the same.
    const after = mkClient();
    await waitUntil(() => after.live, 10_000, "fresh viewer");
    expect(normalizeMessages(after.transcript.messages)).toEqual(expected2);
    for (const c of [...clients, after]) c.close();
    dropped.stop();
    agent.stop();
  });
});
