/**
 * A bad network, with the real runner, OpenCode and the scripted model: 20 viewers and a driver
 * reach workerd through a loopback chaos proxy that adds latency and stalls, refuses connects and
 * cuts connections at random; the runner goes through a second one that cuts less often. The
 * driver queues three prompts (two long streaming answers and a tool turn, ~60 s in all).
 *
 * Must hold: every prompt runs once, in order; every client ends with the same transcript, which
 * is OpenCode's (no part lost, none twice, no tool left running); reconnects are counted and
 * reported.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeMessages } from "../shared/transcript.ts";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import { startStack, opencodeMessages, turnDone, until, type Stack } from "./harness/stack.ts";
import { startChaosProxy, type ChaosProxy } from "./harness/proxy.ts";
import { divergence, lostCount } from "./harness/faults-check.ts";
import { recordSummary } from "./harness/faults-summary.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { TestRoomClient } from "./harness/clients.ts";

/**
 * Knobs for hunting rare races by hand (the suite runs the defaults): FAULTS_SEED,
 * FAULTS_VIEWERS, FAULTS_RUNNER_CUT_MS="min-max" (how long a runner connection lives). With
 * FAULTS_VIEWERS=4 FAULTS_RUNNER_CUT_MS=300-2500, 2 runs of 5 found a prompt run twice
 * (test/runner-dropped.test.ts now pins that down).
 */
const VIEWERS = Number(process.env.FAULTS_VIEWERS ?? 20);
const RUNNER_CUT_MS = (process.env.FAULTS_RUNNER_CUT_MS ?? "6000-15000").split("-").map(Number) as [number, number];

/**
 * All prompts ran: at least as many user turns as prompts (more is a prompt run twice, which the
 * checks below report; waiting for an exact count would only time out), nothing queued, the last
 * answer complete, idle.
 */
function allDone(c: TestRoomClient, prompts: number): boolean {
  const t = c.transcript;
  return t.queue.length === 0 && t.messages.filter((m) => m.info.role === "user").length >= prompts && turnDone(c, 2 * prompts);
}
/** Why clients are not done: each one's connection and transcript, the room's own view, the runner's log. */
async function stuckReport(sessionId: string, clients: TestRoomClient[]): Promise<string> {
  const brief = (c: TestRoomClient) => {
    const t = c.transcript;
    const last = t.messages.at(-1)?.info;
    return JSON.stringify({
      state: c.state.status,
      live: c.live,
      seq: t.lastSeq,
      msgs: t.messages.length,
      users: t.messages.filter((m) => m.info.role === "user").length,
      status: t.session?.agentStatus,
      online: t.session?.agentOnline,
      queue: t.queue.map((q) => q.state),
      last: last && { role: last.role, completed: last.time.completed !== undefined },
      opens: c.stats.opens,
    });
  };
  const stuck = clients.map((c, i) => [i, c] as const).filter(([, c]) => !allDone(c, PROMPTS.length));
  const ref = new TestRoomClient({ host: worker.url, sessionId, token: await worker.mintToken({ sid: sessionId, role: "viewer", name: "diag" }), watchNetwork: false });
  const refState = await ref
    .waitFor((x) => x.live, 10_000)
    .then(() => brief(ref))
    .catch(() => "no answer in 10 s");
  const users = ref.transcript.messages
    .filter((m) => m.info.role === "user")
    .map((m) => `${String(m.info.id)} "${m.parts.map((p) => (p.type === "text" ? String(p.text) : "")).join("").slice(0, 40)}"`);
  if (process.env.CHAOS_LOG) writeFileSync(process.env.CHAOS_LOG, stack.runner.logs());
  const report = [
    `clients not done: ${stuck.length} of ${clients.length}`,
    `room's user messages: ${users.join(", ")}`,
    ...stuck.slice(0, 5).map(([i, c]) => `  client ${i}: ${brief(c)}`),
    `room (direct): ${refState}`,
    `runner log (tail):\n${stack.runner.logs().slice(-3000)}`,
  ].join("\n");
  ref.close();
  return report;
}

const SEED = Number(process.env.FAULTS_SEED ?? 6060);
const PROMPTS = [
  "a long answer chunks=280 delay=100",
  "think, then write chaos.md and run bash `ls -la`",
  "a long answer chunks=280 delay=100",
];

let worker: WorkerHandle;
let stack: Stack;
let clientProxy: ChaosProxy;
let runnerProxy: ChaosProxy;

beforeAll(async () => {
  worker = await startWorker();
  clientProxy = await startChaosProxy(
    { port: worker.port },
    { seed: SEED, latencyMs: [0, 25], stallProbability: 0.002, stallMs: [200, 1200], refuseProbability: 0.05, cutAfterMs: [2_000, 9_000], cutMode: "mixed" },
  );
  runnerProxy = await startChaosProxy({ port: worker.port }, { seed: SEED + 1, latencyMs: [0, 10], cutAfterMs: RUNNER_CUT_MS, cutMode: "mixed" });
  stack = await startStack({
    workerHandle: worker,
    runnerEnv: { AGENTROOM_URL: runnerProxy.url(), AGENTROOM_PERMISSION: JSON.stringify({ bash: "allow", edit: "allow" }) },
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await clientProxy?.close();
  await runnerProxy?.close();
  await worker?.stop();
});

describe("faults: a chaotic network between everyone and workerd", () => {
  it("20 viewers and a driver through ~60 s of streaming end with OpenCode's transcript", async () => {
    const s = await worker.createSession({ title: "chaos" });
    await stack.runner.waitHolding(s.id, 90_000);
    const client = async (role: "viewer" | "driver", name: string, host: string) =>
      new TestRoomClient({
        host,
        sessionId: s.id,
        token: await worker.mintToken({ sid: s.id, role, name }),
        validate: true,
        watchNetwork: false,
        // Quicker than the app's defaults, so a 60 s run sees many cycles; still jittered.
        backoff: { baseMs: 500, maxMs: 4_000 },
        heartbeat: { intervalMs: 4_000, timeoutMs: 3_000 },
        connectionTimeoutMs: 5_000,
      });
    const viewers = await Promise.all(Array.from({ length: VIEWERS }, (_, i) => client("viewer", `viewer${i}`, clientProxy.url())));
    const driver = await client("driver", "driver", clientProxy.url());
    const gaps: string[] = [];
    for (const c of [...viewers, driver]) c.onError((e) => e.code === "gap" && gaps.push(e.message));
    await Promise.all([...viewers, driver].map((c) => c.waitFor((x) => x.live, 60_000)));

    const started = performance.now();
    // Queued at once: the first runs, the others wait, each exactly once despite resends.
    const ids = await Promise.all(PROMPTS.map((p) => driver.prompt(p)));
    const everyone = [...viewers, driver];
    await until(() => everyone.every((c) => allDone(c, PROMPTS.length)), 240_000, "all three turns on every client").catch(async (e: Error) => {
      // Said in the error itself: CI shows the failure summary, not every test's output.
      throw new Error(`${e.message}\n${await stuckReport(s.id, everyone)}`);
    });
    const streamingMs = performance.now() - started;

    // Calm the network, then let every client settle on the room's latest seq.
    clientProxy.configure({ cutAfterMs: null, refuseProbability: 0, stallProbability: 0, latencyMs: [0, 0] });
    runnerProxy.configure({ cutAfterMs: null });
    const reference = new TestRoomClient({ host: worker.url, sessionId: s.id, token: await worker.mintToken({ sid: s.id, role: "viewer", name: "ref" }), watchNetwork: false });
    await reference.waitFor((x) => x.live && allDone(x, PROMPTS.length), 30_000);
    await sleep(1_500);
    const finalSeq = reference.transcript.lastSeq;
    await until(() => everyone.every((c) => c.live && c.transcript.lastSeq >= finalSeq), 60_000, "every client caught up");

    const meta = reference.transcript.session!;
    const oc = await opencodeMessages(stack.runner, meta.opencodeSessionId!, meta.workspace);
    const d = divergence(reference.transcript.messages, oc);
    if (d.differing.length) {
      const brief = (ms: readonly { info: { id?: unknown }; parts: readonly Record<string, unknown>[] }[]) =>
        ms.map((m) => `${String(m.info.id)}: ${m.parts.map((p) => `${String(p.type)}:${String(p.id).slice(-6)}:${typeof p.text === "string" ? p.text.length : "-"}`).join(" ")}`).join("\n");
      console.log("DIAG room\n" + brief(reference.transcript.messages as never) + "\nDIAG opencode\n" + brief(oc as never));
      console.log("DIAG runner\n" + stack.runner.logs().slice(-6000));
    }
    expect(d).toEqual({ missing: [], extra: [], differing: [], duplicated: [], running: [] });
    // Each prompt ran once and in order: OpenCode has exactly three user turns, with our texts.
    const userTexts = oc.filter((m) => m.info.role === "user").map((m) => m.parts.filter((p) => p.type === "text").map((p) => String(p.text)).join(""));
    expect(userTexts).toEqual(PROMPTS);
    // Three distinct prompts. (An ack may say `duplicate` when the driver's connection was cut
    // between a prompt and its ack and the resend was answered: correct, and the check above
    // already says each ran once.)
    expect(new Set(ids.map((x) => x.id)).size).toBe(PROMPTS.length);

    const want = normalizeMessages(reference.transcript.messages);
    let mismatched = 0;
    for (const c of everyone) {
      const mine = normalizeMessages(c.transcript.messages);
      if (JSON.stringify(mine) !== JSON.stringify(want)) mismatched++;
      expect(mine).toEqual(want);
      expect(c.transcript.queue).toEqual([]);
    }

    const reconnects = everyone.map((c) => c.stats.opens - 1);
    const total = reconnects.reduce((a, b) => a + b, 0);
    const sorted = [...reconnects].sort((a, b) => a - b);
    const resyncs = everyone.reduce((n, c) => n + c.stats.resyncs, 0);
    const cs = clientProxy.stats;
    const rs = runnerProxy.stats;
    const line =
      `${(streamingMs / 1000).toFixed(0)} s of streaming; client proxy: ${cs.accepted} connections, ${cs.cuts} cut, ${cs.refused} refused, ${cs.stalls} stalls; ` +
      `runner proxy: ${rs.cuts} cut; client reconnects: ${total} (per client min ${sorted[0]}, median ${sorted[Math.floor(sorted.length / 2)]}, max ${sorted.at(-1)}); resyncs ${resyncs}, gaps ${gaps.length}`;
    console.log(`chaos: ${line}`);
    expect(total).toBeGreaterThan(everyone.length); // the chaos really cut them, more than once each on average
    expect(rs.cuts).toBeGreaterThan(0);

    recordSummary({
      id: "faults-chaos",
      scenario: "Chaos proxy: latency, stalls, refused connects, random cuts (clients and runner)",
      faults: cs.cuts + cs.refused + cs.stalls + rs.cuts,
      badInputs: 0,
      load: `${VIEWERS} viewers + 1 driver, 3 queued prompts, ${(streamingMs / 1000).toFixed(0)} s streaming`,
      eventsLost: lostCount(d) + mismatched,
      crashes: 0,
      notes: line,
    });
    for (const c of [...everyone, reference]) c.close();
  }, 420_000);
});
