/**
 * Bad input against a live room on real workerd: ≥ 10,000 random and mutated frames (invalid JSON,
 * wrong types, huge strings, deep nesting, unknown types, binary, valid frames from the wrong
 * role, replayed batch ids, oversized frames) from viewers, drivers and the agent itself, while
 * the agent streams a transcript to three watching viewers.
 *
 * Must hold: every bad frame gets the error the protocol says (or a duplicate ack for a replayed
 * batch); the room never fails (no `internal` errors, still answers, the agent still streams);
 * the transcript, queue and mode are unchanged by the bad frames; the watching viewers notice
 * nothing (no error frames, no gaps) and end with exactly the agent's transcript.
 *
 * Each connection's frames are a seeded fast-check property (test/harness/fuzz.ts), one run per
 * window of frames: a window answered wrongly is shrunk to simpler frames and reported with its
 * seed (FUZZ_SEED) and path.
 *
 * The per-connection rate limit is raised for the flood (LIMIT_RATE_* in the worker's env); the
 * second part checks the limit itself with the default numbers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, limitsFromEnv } from "../shared/limits.ts";
import { normalizeMessages } from "../shared/transcript.ts";
import { ErrorCodeSchema, type ErrorCode } from "../shared/protocol.ts";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import fc from "fast-check";
import { fuzzFrameArb, type FuzzFrame, type FuzzKind, type FuzzOptions, type FuzzRole } from "./harness/fuzz.ts";
import { RawSocket, type Frame } from "./harness/raw-socket.ts";
import { SyntheticAgent } from "./harness/synthetic-agent.ts";
import { recordSummary } from "./harness/faults-summary.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { TestRoomClient } from "./harness/clients.ts";

const FLOOD_ENV = {
  LIMIT_RATE_FRAMES_PER_SECOND: "1000000",
  LIMIT_RATE_BURST: "1000000",
  // Oversized agent frames are generated at 1.25–1.5× this; keep them far below workerd's own cap.
  LIMIT_MAX_AGENT_FRAME_BYTES: String(512 * 1024),
};
const limits = limitsFromEnv(FLOOD_ENV);
/** Frames per connection and role; 3 + 3 + 1 connections → 10,000 frames. */
const PLAN: { role: FuzzRole; conns: number; perConn: number }[] = [
  { role: "viewer", conns: 3, perConn: 1400 },
  { role: "driver", conns: 3, perConn: 1400 },
  { role: "agent", conns: 1, perConn: 1600 },
];
/** Bad frames in flight per connection before waiting for their answers. */
const WINDOW = 25;
const SEED = Number(process.env.FUZZ_SEED ?? 20261122);

let w: WorkerHandle;
let sessionId: string;

function isAnswer(f: Frame): boolean {
  return f.type === "error" || (f.type === "agent.ack" && f.duplicate === true);
}

interface Tally {
  sent: number;
  byKind: Partial<Record<FuzzKind, number>>;
  byCode: Partial<Record<string, number>>;
  mismatches: string[];
}

/** The mismatches of one window's answers with its frames' expectations (and the tally). */
function check(window: readonly FuzzFrame[], answers: readonly Frame[], tally: Tally): string[] {
  const bad: string[] = [];
  window.forEach((f, k) => {
    const a = answers[k]!;
    tally.sent++;
    tally.byKind[f.kind] = (tally.byKind[f.kind] ?? 0) + 1;
    const code = a.type === "error" ? String(a.code) : "duplicate_ack";
    tally.byCode[code] = (tally.byCode[code] ?? 0) + 1;
    const ok =
      "duplicateAck" in f.expect
        ? a.type === "agent.ack" && a.batchId === f.expect.duplicateAck
        : a.type === "error" &&
          ErrorCodeSchema.safeParse(a.code).success &&
          f.expect.error.includes(a.code as ErrorCode) &&
          typeof a.message === "string" &&
          a.message.length > 0;
    if (!ok) {
      const preview = typeof f.data === "string" ? f.data.slice(0, 160) : `<${f.data.length} binary bytes>`;
      bad.push(`${f.role} ${f.kind}: expected ${JSON.stringify(f.expect)}, got ${JSON.stringify(a).slice(0, 200)} for ${preview}`);
    }
  });
  return bad;
}

/**
 * Sends `windows` windows of WINDOW bad frames on one connection, each a fast-check run of one
 * property: every answer is the one the oracle expects. Seeded; a failing window is shrunk (its
 * frames made simpler, sent again: bad frames change nothing, so a resend is as good as the
 * first) and reported with its seed and path.
 */
async function fuzzConnection(sock: RawSocket, opts: Omit<FuzzOptions, "seed">, seed: number, windows: number, tally: Tally): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(fuzzFrameArb(opts), { minLength: WINDOW, maxLength: WINDOW }), async (window) => {
      for (const f of window) sock.send(f.data);
      const bad = check(window, await sock.take(window.length, isAnswer, 30_000), tally);
      if (bad.length) {
        tally.mismatches.push(...bad.slice(0, 20 - tally.mismatches.length));
        throw new Error(bad.join("\n"));
      }
    }),
    { seed, numRuns: windows },
  );
}

describe("fuzz: ≥ 10,000 bad frames against a streaming room", () => {
  let agent: SyntheticAgent;
  const observers: TestRoomClient[] = [];
  const observerErrors: string[] = [];

  beforeAll(async () => {
    w = await startWorker({ env: FLOOD_ENV });
    sessionId = (await w.createSession({ title: "fuzz" })).id;
    agent = await SyntheticAgent.join(w.roomUrl(sessionId), await w.agentToken(), "fz");
    for (let i = 0; i < 3; i++) {
      const c = new TestRoomClient({ host: w.url, sessionId, token: await w.mintToken({ sid: sessionId, role: "viewer", name: `watcher${i}` }), validate: true });
      c.onError((e) => observerErrors.push(`watcher${i}: ${e.code} ${e.message}`));
      observers.push(c);
    }
    await Promise.all(observers.map((c) => c.waitFor((x) => x.live, 15_000)));
  });

  afterAll(async () => {
    for (const c of observers) c.close();
    await agent?.close();
    await w?.stop();
  });

  it("answers every bad frame as the protocol says, changes nothing, and the watchers notice nothing", async () => {
    // A first message, so replayed batch ids have real batches to replay.
    await agent.streamMessage(0, { deltas: 40 });
    const before = await fetchState();

    const tally: Tally = { sent: 0, byKind: {}, byCode: {}, mismatches: [] };
    const conns: { role: FuzzRole; sock: RawSocket; seed: number; windows: number }[] = [];
    let seed = SEED;
    for (const p of PLAN) {
      for (let c = 0; c < p.conns; c++) {
        const sock =
          p.role === "agent" ? agent.sock : await RawSocket.open(w.roomUrl(sessionId), await w.mintToken({ sid: sessionId, role: p.role, name: `${p.role}-fuzz${c}` }));
        if (p.role !== "agent") await sock.waitFor((f) => f.type === "caught-up", 10_000, 0);
        sock.skipAll();
        conns.push({ role: p.role, sock, seed: seed++, windows: Math.ceil(p.perConn / WINDOW) });
      }
    }

    // The agent keeps streaming while everyone (the agent included) sends bad frames.
    const started = performance.now();
    let streaming = true;
    const stream = (async () => {
      let n = 1;
      while (streaming && n < 40) await agent.streamMessage(n++, { deltas: 30, pause: () => sleep(5) });
      return n;
    })();
    const agentConn = conns.find((c) => c.role === "agent")!;
    const run = (c: (typeof conns)[number]) => fuzzConnection(c.sock, { role: c.role, limits, appliedBatches: agent.applied }, c.seed, c.windows, tally);
    await Promise.all(conns.filter((c) => c !== agentConn).map(run));
    // The agent's own bad frames go on its streaming connection, between its real batches.
    await run(agentConn);
    streaming = false;
    const messagesStreamed = await stream;
    const fuzzMs = performance.now() - started;

    expect(tally.mismatches).toEqual([]);
    expect(tally.sent).toBeGreaterThanOrEqual(10_000);
    expect(tally.byCode.internal ?? 0).toBe(0);

    // Still answering: a valid command from a fuzzed driver connection is acknowledged.
    const driverSock = conns.find((c) => c.role === "driver")!.sock;
    driverSock.sendJson({ type: "mode.set", ref: "after-fuzz", mode: "build" });
    expect((await driverSock.waitFor((f) => f.ref === "after-fuzz")).type).toBe("ack");

    // Nothing changed but what the agent streamed: same queue, mode, requests; the transcript is
    // exactly the agent's, for the watchers, for a newcomer and over HTTP.
    const expected = normalizeMessages(agent.expectedMessages());
    const after = await fetchState();
    expect(after.session.mode).toBe(before.session.mode);
    expect(after.session.title).toBe(before.session.title);
    const fresh = new TestRoomClient({ host: w.url, sessionId, token: await w.mintToken({ sid: sessionId, role: "viewer", name: "late" }), validate: true });
    try {
      await fresh.waitFor((c) => c.live && c.transcript.lastSeq >= agent.ackedSeq, 15_000);
      while (fresh.transcript.hasMore) await fresh.loadOlder(200);
      expect(normalizeMessages(fresh.transcript.messages)).toEqual(expected);
      expect(fresh.transcript.queue).toEqual([]);
      expect(fresh.transcript.permissions).toEqual([]);
      expect(fresh.transcript.questions).toEqual([]);
    } finally {
      fresh.close();
    }
    for (const c of observers) {
      await c.waitFor((x) => x.transcript.lastSeq >= agent.ackedSeq, 15_000);
      // Watchers hold the latest page; compare it with the same page of the expectation.
      const held = normalizeMessages(c.transcript.messages);
      const ids = new Set(held.map((m) => m.info.id));
      expect(held).toEqual(expected.filter((m) => ids.has(m.info.id)));
      expect(held.length).toBeGreaterThan(0);
      expect(c.stats.gaps).toBe(0);
      expect(c.transcript.queue).toEqual([]);
    }
    expect(observerErrors).toEqual([]);
    expect(w.logs()).not.toMatch(/frame handler failed|Uncaught/);
    expect((await fetch(`${w.url}/health`)).ok).toBe(true);

    const kinds = Object.entries(tally.byKind).map(([k, n]) => `${k} ${n}`).join(", ");
    const codes = Object.entries(tally.byCode).map(([k, n]) => `${k} ${n}`).join(", ");
    console.log(`fuzz: ${tally.sent} frames in ${(fuzzMs / 1000).toFixed(1)} s; kinds: ${kinds}; answers: ${codes}; agent streamed ${messagesStreamed} messages meanwhile`);
    recordSummary({
      id: "fuzz-room",
      scenario: "WS fuzz: bad frames from viewers, drivers and the agent while it streams",
      faults: 0,
      badInputs: tally.sent,
      load: `7 fuzzing connections + agent streaming ${messagesStreamed} messages + 3 watchers`,
      eventsLost: 0,
      crashes: tally.byCode.internal ?? 0,
      notes: `answers: ${codes}; seed ${SEED}`,
    });
  }, 300_000);
});

async function fetchState(): Promise<{ session: { mode: string; title: string } }> {
  const token = await w.mintToken({ sid: sessionId, role: "viewer", name: "probe" });
  const res = await fetch(`${w.url}/api/sessions/${sessionId}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { session: { mode: string; title: string } };
}

describe("the per-connection rate limit (default numbers)", () => {
  let rw: WorkerHandle;
  beforeAll(async () => {
    rw = await startWorker();
  });
  afterAll(async () => {
    await rw?.stop();
  });

  it("answers a flood with rate_limited, keeps serving others, and lets the sender go on after a pause", async () => {
    const sid = (await rw.createSession({ title: "rate" })).id;
    const flooder = await RawSocket.open(rw.roomUrl(sid), await rw.mintToken({ sid, role: "viewer", name: "flooder" }));
    await flooder.waitFor((f) => f.type === "caught-up", 10_000, 0);
    const driver = await RawSocket.open(rw.roomUrl(sid), await rw.mintToken({ sid, role: "driver", name: "driver" }));
    await driver.waitFor((f) => f.type === "caught-up", 10_000, 0);
    flooder.skipAll();

    // history frames each get an answer (a page or an error), so every frame is accounted for.
    const n = DEFAULT_LIMITS.rateBurst * 3;
    for (let i = 0; i < n; i++) flooder.sendJson({ type: "history", ref: `h${i}`, limit: 1 });
    const answers = await flooder.take(n, (f) => f.type === "history" || f.type === "error", 15_000);
    const limited = answers.filter((a) => a.type === "error" && a.code === "rate_limited").length;
    const served = answers.filter((a) => a.type === "history").length;
    // The burst is served; the rest (bar what refills meanwhile) is refused with rate_limited.
    expect(served).toBeGreaterThanOrEqual(DEFAULT_LIMITS.rateBurst);
    expect(limited).toBeGreaterThanOrEqual(n - DEFAULT_LIMITS.rateBurst - 2 * DEFAULT_LIMITS.rateFramesPerSecond);
    expect(served + limited).toBe(n);
    expect(answers.every((a) => a.type === "history" || a.code === "rate_limited")).toBe(true);

    // Another connection is not limited by the flooder's bucket.
    const t0 = performance.now();
    driver.sendJson({ type: "prompt", ref: "p1", id: "q-after-flood", text: "hello" });
    expect((await driver.waitFor((f) => f.ref === "p1", 5_000)).type).toBe("ack");
    const promptMs = performance.now() - t0;

    // After a pause the bucket has refilled.
    await sleep(1_000);
    flooder.sendJson({ type: "history", ref: "again", limit: 1 });
    expect((await flooder.waitFor((f) => f.ref === "again", 5_000)).type).toBe("history");

    await flooder.close();
    await driver.close();
    recordSummary({
      id: "fuzz-rate-limit",
      scenario: "Rate limit: one viewer floods 3× its burst",
      faults: 0,
      badInputs: n,
      load: `${n} frames at once from one connection`,
      eventsLost: 0,
      crashes: 0,
      notes: `${served} served, ${limited} rate_limited; another driver's prompt acked in ${promptMs.toFixed(0)} ms`,
    });
  }, 120_000);
});
