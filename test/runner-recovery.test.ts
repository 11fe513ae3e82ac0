/**
 * Crashes mid-turn, with the real runner and OpenCode:
 *  - the runner SIGKILLed and restarted: it adopts the OpenCode that kept running, reconciles, and
 *    the room ends with exactly OpenCode's transcript — no part twice, nothing left running;
 *  - OpenCode SIGKILLed: the runner restarts it, the cut turn is shown interrupted (never stuck
 *    running), and the session goes on with the next prompt.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, joinRoom, turnDone, opencodeMessages, partSummary, until, answerChars, type Stack } from "./harness/stack.ts";
import type { TestRoomClient } from "./harness/clients.ts";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const streamedChars = (c: TestRoomClient): number => answerChars(c.transcript.messages);

/** Waits, and on a timeout says what the room and the runner were doing. */
async function waitOr(c: TestRoomClient, pred: (x: TestRoomClient) => boolean, ms: number, what: string): Promise<void> {
  await c.waitFor(pred, ms).catch((e) => {
    const t = c.transcript;
    const msgs = t.messages.map((m) => [m.info.role, m.info.id, m.info.time.completed ?? null, m.info.error?.name ?? null, m.parts.map((p) => [p.type, (p as { state?: { status?: string } }).state?.status ?? String(p.text ?? "").length])]);
    throw new Error(`${what}: ${String(e)}\nsession: ${JSON.stringify(t.session)}\nqueue: ${JSON.stringify(t.queue)}\nmessages: ${JSON.stringify(msgs)}\nrunner:\n${stack.runner.logs().slice(-4000)}`);
  });
}

/** The room's transcript and OpenCode's: same messages, same parts, same text and tool states. */
async function expectSameAsOpencode(c: TestRoomClient): Promise<void> {
  const meta = c.transcript.session!;
  const oc = await opencodeMessages(stack.runner, meta.opencodeSessionId!, meta.workspace);
  const room = c.transcript.messages;
  expect(room.map((m) => m.info.id)).toEqual(oc.map((m) => m.info.id));
  expect(room.map((m) => m.parts.map((p) => p.id))).toEqual(oc.map((m) => m.parts.map((p) => p.id)));
  oc.forEach((m, i) => {
    m.parts.forEach((p, j) => {
      const mine = room[i]!.parts[j]! as Record<string, unknown>;
      if (p.type === "text" || p.type === "reasoning") expect(mine.text).toBe(p.text);
      if (p.type === "tool") expect((mine.state as { status: string }).status).toBe((p.state as { status: string }).status);
    });
  });
  const summary = partSummary(room);
  expect(new Set(summary.ids).size).toBe(summary.ids.length);
  expect(summary.running).toEqual([]);
}

/** A session whose agent waits on a bash permission, and its driver. */
async function askingPermission(title: string): Promise<{ id: string; driver: TestRoomClient }> {
  const s = await stack.worker.createSession({ title });
  await stack.runner.waitHolding(s.id);
  const driver = await joinRoom(stack, s.id, "driver");
  await driver.prompt("please run bash");
  await driver.waitFor((x) => x.transcript.permissions.length === 1 && x.transcript.session?.agentStatus === "waiting", 90_000);
  return { id: s.id, driver };
}

describe("runner: recovery", () => {
  it("runner SIGKILLed mid-turn and restarted: the room converges to OpenCode's transcript", async () => {
    const s = await stack.worker.createSession({ title: "runner crash" });
    await stack.runner.waitHolding(s.id);
    const driver = await joinRoom(stack, s.id, "driver");
    const viewer = await joinRoom(stack, s.id, "viewer");

    await driver.prompt("please write crash.md and then a long answer chunks=120 delay=40");
    await viewer.waitFor((x) => streamedChars(x) > 60, 90_000);
    const ocBefore = stack.runner.opencode()!.pid;
    await stack.runner.kill("SIGKILL");
    await viewer.waitFor((x) => x.transcript.session?.agentOnline === false, 15_000);

    const ready = await stack.runner.restart();
    // It adopted the OpenCode that kept the turn running, rather than starting a new one.
    expect(ready.opencodePid).toBe(ocBefore);
    await stack.runner.waitHolding(s.id, 90_000);
    await waitOr(viewer, (x) => x.transcript.session?.agentOnline === true && turnDone(x, 2), 120_000, "turn done after the runner restart");
    await waitOr(driver, (x) => turnDone(x, 2), 30_000, "driver sees the turn done");

    await expectSameAsOpencode(viewer);
    expect(JSON.stringify(driver.transcript.messages)).toBe(JSON.stringify(viewer.transcript.messages));
    const text = viewer.transcript.messages.at(-1)!.parts.find((p) => p.type === "text");
    expect(String(text?.text)).toContain("Streaming a long answer");

    // And the session goes on.
    await driver.prompt("hello again");
    await waitOr(viewer, (x) => turnDone(x, 4), 120_000, "the next prompt answered");
    await expectSameAsOpencode(viewer);
    driver.close();
    viewer.close();
  }, 360_000);

  it("OpenCode killed mid-turn: the runner restarts it, the turn shows interrupted, the session goes on", async () => {
    const s = await stack.worker.createSession({ title: "opencode crash" });
    await stack.runner.waitHolding(s.id);
    const driver = await joinRoom(stack, s.id, "driver");
    const viewer = await joinRoom(stack, s.id, "viewer");

    await driver.prompt("a long answer chunks=200 delay=40");
    await viewer.waitFor((x) => streamedChars(x) > 60, 90_000);
    const seenBefore = streamedChars(viewer);
    const killed = await stack.runner.killOpencode();

    // The runner starts a new OpenCode and reconciles: the cut turn is finished, marked interrupted.
    await until(() => {
      const rec = stack.runner.opencode();
      return rec && rec.pid !== killed ? rec : null;
    }, 60_000, "a new OpenCode");
    await viewer.waitFor((x) => turnDone(x, 2), 120_000);
    const cut = viewer.transcript.messages.at(-1)!;
    expect(cut.info.error?.name).toBe("MessageAbortedError");
    expect(JSON.stringify(cut.info.error)).toContain("Interrupted");
    // What viewers saw streamed before the crash is kept, not blanked.
    expect(streamedChars(viewer)).toBeGreaterThanOrEqual(seenBefore);
    expect(partSummary(viewer.transcript.messages).running).toEqual([]);

    // The session goes on with the next prompt, on the new OpenCode.
    await driver.prompt("hello after the crash");
    await viewer.waitFor((x) => turnDone(x, 4) && x.transcript.messages.at(-1)!.info.error === undefined, 120_000);
    await expectSameAsOpencode(viewer);
    driver.close();
    viewer.close();
  }, 360_000);

  it("OpenCode killed while a permission is pending: the request closes and nothing waits forever", async () => {
    const { driver } = await askingPermission("crash while asking");
    const killed = await stack.runner.killOpencode();
    await until(() => {
      const rec = stack.runner.opencode();
      return rec && rec.pid !== killed ? rec : null;
    }, 60_000, "a new OpenCode");
    await driver.waitFor((x) => x.transcript.permissions.length === 0 && turnDone(x, 2), 120_000);
    const bash = driver.transcript.messages.flatMap((m) => m.parts).find((p) => p.type === "tool");
    expect((bash as unknown as { state: { status: string; error?: string } }).state).toMatchObject({ status: "error", error: "interrupted" });
    expect(driver.transcript.session?.agentStatus).toBe("idle");
    driver.close();
  }, 360_000);

  it("runner and OpenCode both gone while a permission is pending: the restarted runner closes it", async () => {
    const { id, driver } = await askingPermission("both gone while asking");
    // What Ctrl-C on `npm start` and a new start do: a runner that remembers nothing, a new OpenCode.
    const oc = stack.runner.opencode()!.pid;
    await stack.runner.kill("SIGKILL");
    process.kill(oc, "SIGKILL");
    await driver.waitFor((x) => x.transcript.session?.agentOnline === false, 15_000);
    const ready = await stack.runner.restart();
    expect(ready.opencodePid).not.toBe(oc);
    await stack.runner.waitHolding(id, 90_000);
    await waitOr(driver, (x) => x.transcript.permissions.length === 0 && x.transcript.session?.agentStatus === "idle", 120_000, "the stale permission closed");
    expect(partSummary(driver.transcript.messages).running).toEqual([]);
    driver.close();
  }, 360_000);
});
