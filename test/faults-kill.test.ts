/**
 * Processes killed mid-stream, with the real runner, OpenCode and the scripted model:
 *
 *  - workerd SIGKILLed three times during one streaming answer (with prompts queued behind it)
 *    and restarted on its persisted state;
 *  - the runner SIGKILLed mid-turn and restarted;
 *  - OpenCode SIGKILLed mid-turn (the runner restarts it).
 *
 * After each: no acknowledged event is lost (the room's seq never goes back below what any viewer
 * saw, and every part a viewer saw is still there), no part appears twice, the prompt queue is
 * intact (queued prompts survive and each runs exactly once, in order), no tool is left pending or
 * running, and every client ends with OpenCode's transcript.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeMessages } from "../shared/transcript.ts";
import { startStack, opencodeMessages, turnDone, until, type Stack } from "./harness/stack.ts";
import { divergence, lostCount, type Divergence } from "./harness/faults-check.ts";
import { recordSummary } from "./harness/faults-summary.ts";
import { TestRoomClient } from "./harness/clients.ts";

let stack: Stack;
const tally = { faults: 0, lost: 0, crashes: 0, notes: [] as string[] };

beforeAll(async () => {
  stack = await startStack({ runnerEnv: { AGENTROOM_PERMISSION: JSON.stringify({ bash: "allow", edit: "allow" }) } });
}, 180_000);

afterAll(async () => {
  recordSummary({
    id: "faults-kill",
    scenario: "Kills: workerd SIGKILL ×3 mid-stream, runner SIGKILL, OpenCode SIGKILL (queued prompts behind each)",
    faults: tally.faults,
    badInputs: 0,
    load: "1 driver + 2 viewers per session, 2–3 queued prompts",
    eventsLost: tally.lost,
    crashes: tally.crashes,
    notes: tally.notes.join("; "),
  });
  await stack?.stop();
});

async function client(sessionId: string, role: "viewer" | "driver", name: string): Promise<TestRoomClient> {
  const c = new TestRoomClient({
    host: stack.worker.url,
    sessionId,
    token: await stack.worker.mintToken({ sid: sessionId, role, name }),
    validate: true,
    watchNetwork: false,
    backoff: { baseMs: 500, maxMs: 3_000 },
    heartbeat: { intervalMs: 4_000, timeoutMs: 3_000 },
  });
  await c.waitFor((x) => x.live, 60_000);
  return c;
}

function userTurns(c: TestRoomClient): number {
  return c.transcript.messages.filter((m) => m.info.role === "user").length;
}

function userTexts(c: TestRoomClient): string[] {
  return c.transcript.messages
    .filter((m) => m.info.role === "user")
    .map((m) => m.parts.filter((p) => p.type === "text").map((p) => String((p as { text?: unknown }).text ?? "")).join(""));
}

function allDone(c: TestRoomClient, prompts: number): boolean {
  return c.transcript.queue.length === 0 && userTurns(c) === prompts && turnDone(c, 2 * prompts);
}

function streamedChars(c: TestRoomClient): number {
  let n = 0;
  for (const m of c.transcript.messages) for (const p of m.parts) if (p.type === "text") n += String((p as { text?: unknown }).text ?? "").length;
  return n;
}

/** Part ids with their text length a client holds: after a fault, each must still be there, no shorter. */
function seenParts(c: TestRoomClient): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of c.transcript.messages) {
    for (const p of m.parts) {
      const text = (p as { text?: unknown }).text;
      out.set(p.id, typeof text === "string" ? text.length : 0);
    }
  }
  return out;
}

/** What a client saw before a fault that the room no longer has (lost), checked on a fresh join. */
async function lostSince(sessionId: string, seenSeq: number, seen: Map<string, number>): Promise<string[]> {
  const fresh = await client(sessionId, "viewer", "after-fault");
  try {
    const lost: string[] = [];
    if (fresh.transcript.lastSeq < seenSeq) lost.push(`seq went back from ${seenSeq} to ${fresh.transcript.lastSeq}`);
    const now = seenParts(fresh);
    for (const [id, len] of seen) {
      const after = now.get(id);
      if (after === undefined) lost.push(`part ${id} gone`);
      else if (after < len) lost.push(`part ${id} shrank from ${len} to ${after} chars`);
    }
    return lost;
  } finally {
    fresh.close();
  }
}

/** Final checks for a session: OpenCode's transcript everywhere, prompts each once, in order. */
async function finalCheck(sessionId: string, clients: TestRoomClient[], prompts: string[]): Promise<Divergence> {
  await until(() => clients.every((c) => allDone(c, prompts.length)), 240_000, "every prompt answered on every client");
  const ref = await client(sessionId, "viewer", "ref");
  const seq = ref.transcript.lastSeq;
  await until(() => clients.every((c) => c.live && c.transcript.lastSeq >= seq), 30_000, "clients caught up");
  const meta = ref.transcript.session!;
  const oc = await opencodeMessages(stack.runner, meta.opencodeSessionId!, meta.workspace);
  const d = divergence(ref.transcript.messages, oc);
  const userTexts = oc.filter((m) => m.info.role === "user").map((m) => m.parts.filter((p) => p.type === "text").map((p) => String(p.text)).join(""));
  expect(userTexts).toEqual(prompts);
  for (const c of clients) expect(normalizeMessages(c.transcript.messages)).toEqual(normalizeMessages(ref.transcript.messages));
  ref.close();
  return d;
}

const CLEAN: Divergence = { missing: [], extra: [], differing: [], duplicated: [], running: [] };

describe("faults: processes killed mid-stream", () => {
  it("workerd SIGKILLed three times mid-stream and restarted on its persisted state", async () => {
    const s = await stack.worker.createSession({ title: "workerd kills" });
    await stack.runner.waitHolding(s.id, 90_000);
    const driver = await client(s.id, "driver", "driver");
    const viewers = [await client(s.id, "viewer", "v1"), await client(s.id, "viewer", "v2")];
    const everyone = [driver, ...viewers];
    const prompts = ["a long answer chunks=400 delay=60", "think, then write kill.md", "a long answer chunks=40 delay=40"];
    for (const p of prompts) await driver.prompt(p);
    await viewers[0]!.waitFor((x) => x.transcript.queue.length === 2 && streamedChars(x) > 100, 90_000);

    const downtimes: number[] = [];
    for (let k = 0; k < 3; k++) {
      const before = streamedChars(viewers[0]!);
      await viewers[0]!.waitFor((x) => streamedChars(x) > before + 50, 60_000);
      const seenSeq = Math.max(...everyone.map((c) => c.transcript.lastSeq));
      const seen = seenParts(viewers[0]!);
      const queued = viewers[0]!.transcript.queue.filter((q) => q.state === "queued").map((q) => q.text);
      const t0 = performance.now();
      await stack.worker.kill("SIGKILL");
      tally.faults++;
      await stack.worker.restart();
      downtimes.push(performance.now() - t0);
      const lost = await lostSince(s.id, seenSeq, seen);
      expect(lost).toEqual([]);
      tally.lost += lost.length;
      // The queue survived: each prompt queued before the kill is queued still or has started.
      const probe = await client(s.id, "viewer", "queue-probe");
      const startedTexts = new Set(userTexts(probe));
      const stillQueued = new Set(probe.transcript.queue.map((q) => q.text));
      expect(queued.filter((t) => !stillQueued.has(t) && !startedTexts.has(t))).toEqual([]);
      probe.close();
    }
    const d = await finalCheck(s.id, everyone, prompts);
    expect(d).toEqual(CLEAN);
    tally.lost += lostCount(d);
    const reconnects = everyone.reduce((n, c) => n + c.stats.opens - 1, 0);
    tally.notes.push(`workerd down ${downtimes.map((t) => (t / 1000).toFixed(1)).join("/")} s per kill, ${reconnects} client reconnects`);
    for (const c of everyone) c.close();
  }, 420_000);

  it("the runner SIGKILLed mid-turn and restarted: the queue goes on, nothing lost or doubled", async () => {
    const s = await stack.worker.createSession({ title: "runner kill" });
    await stack.runner.waitHolding(s.id, 90_000);
    const driver = await client(s.id, "driver", "driver");
    const viewer = await client(s.id, "viewer", "v1");
    const prompts = ["a long answer chunks=200 delay=50", "hello after the runner died"];
    for (const p of prompts) await driver.prompt(p);
    await viewer.waitFor((x) => streamedChars(x) > 100 && x.transcript.queue.length === 1, 90_000);
    const seenSeq = viewer.transcript.lastSeq;
    const seen = seenParts(viewer);
    await stack.runner.kill("SIGKILL");
    tally.faults++;
    await viewer.waitFor((x) => x.transcript.session?.agentOnline === false, 60_000);
    expect(viewer.transcript.queue.map((q) => q.text)).toEqual([prompts[1]]);
    await stack.runner.restart();
    await stack.runner.waitHolding(s.id, 90_000);
    const lost = await lostSince(s.id, seenSeq, seen);
    expect(lost).toEqual([]);
    tally.lost += lost.length;
    const d = await finalCheck(s.id, [driver, viewer], prompts);
    expect(d).toEqual(CLEAN);
    tally.lost += lostCount(d);
    driver.close();
    viewer.close();
  }, 420_000);

  it("OpenCode SIGKILLed mid-turn: the turn ends interrupted, never running; the queue goes on", async () => {
    const s = await stack.worker.createSession({ title: "opencode kill" });
    await stack.runner.waitHolding(s.id, 90_000);
    const driver = await client(s.id, "driver", "driver");
    const viewer = await client(s.id, "viewer", "v1");
    const prompts = ["a long answer chunks=200 delay=50", "think, then write after.md"];
    for (const p of prompts) await driver.prompt(p);
    await viewer.waitFor((x) => streamedChars(x) > 100 && x.transcript.queue.length === 1, 90_000);
    const seenSeq = viewer.transcript.lastSeq;
    const seen = seenParts(viewer);
    const killed = await stack.runner.killOpencode();
    tally.faults++;
    await until(() => {
      const rec = stack.runner.opencode();
      return rec && rec.pid !== killed ? rec : null;
    }, 90_000, "a new OpenCode");
    const d = await finalCheck(s.id, [driver, viewer], prompts);
    const lost = await lostSince(s.id, seenSeq, seen);
    expect(lost).toEqual([]);
    tally.lost += lost.length;
    expect(d).toEqual(CLEAN);
    tally.lost += lostCount(d);
    const cut = viewer.transcript.messages.find((m) => m.info.role === "assistant" && m.info.error);
    expect(cut?.info.error?.name).toBe("MessageAbortedError");
    driver.close();
    viewer.close();
  }, 420_000);

  it("the runner's and workerd's logs, through all of that, carry no token and no secret", () => {
    // A token is base64url JSON (`{"…` → `eyJ…`), a dot, and a signature.
    const tokenLike = /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}/;
    const runnerLogs = stack.runner.logs();
    expect(runnerLogs).toMatch(/room .*: connected/); // the logs are there to be checked
    expect(runnerLogs).not.toMatch(tokenLike);
    expect(stack.worker.logs()).not.toMatch(tokenLike);
    expect(runnerLogs.includes(stack.worker.secret)).toBe(false);
    expect(stack.worker.logs().includes(stack.worker.secret)).toBe(false);
  });
});
