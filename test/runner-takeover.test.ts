/**
 * Several runners at once: each session is held by exactly one of them (the room's lease), and
 * when a holder dies (runner and its OpenCode SIGKILLed, as a machine would) another runner takes
 * its sessions over and they go on.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, joinRoom, turnDone, until, type Stack, type RunnerHandle } from "./harness/stack.ts";
import { setTimeout as sleep } from "node:timers/promises";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  await stack.startRunner({ name: "runner2" });
}, 240_000);

afterAll(async () => {
  await stack?.stop();
});

const holds = (r: RunnerHandle, id: string): boolean => r.logs().includes(`room ${id}: reconciled (lease granted)`);

describe("runner: several runners, one holder per session, takeover", () => {
  it("each session has one holder; when it dies another runner takes over and the session goes on", async () => {
    const sessions = await Promise.all([0, 1, 2, 3].map((i) => stack.worker.createSession({ title: `shared ${i}` })));
    const holderOf = new Map<string, RunnerHandle>();
    for (const s of sessions) {
      const h = await until(() => stack.runners.find((r) => holds(r, s.id)), 90_000, `a holder for ${s.id}`);
      holderOf.set(s.id, h);
    }
    // Give any second attempt time to show up, then check nobody else holds it.
    await sleep(3_000);
    for (const s of sessions) expect(stack.runners.filter((r) => holds(r, s.id))).toHaveLength(1);

    const target = sessions[0]!;
    const holder = holderOf.get(target.id)!;
    const survivor = stack.runners.find((r) => r !== holder)!;
    const viewer = await joinRoom(stack, target.id, "driver");
    await viewer.prompt("hello before the crash");
    await viewer.waitFor((x) => turnDone(x, 2), 120_000);

    // The holder's machine dies: runner and OpenCode gone at once.
    await holder.killOpencode();
    await holder.kill("SIGKILL");
    await until(() => holds(survivor, target.id), 90_000, "the survivor to take the session");
    await viewer.waitFor((x) => x.transcript.session?.agentOnline === true, 30_000);

    await viewer.prompt("hello after the takeover");
    await viewer.waitFor((x) => turnDone(x, 4), 120_000);
    const users = viewer.transcript.messages.filter((m) => m.info.role === "user");
    expect(users).toHaveLength(2);
    // The earlier transcript is still there, and nothing appears twice.
    const ids = viewer.transcript.messages.map((m) => m.info.id);
    expect(new Set(ids).size).toBe(ids.length);
    viewer.close();
  }, 400_000);
});
