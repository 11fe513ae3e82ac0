/**
 * What the room hands the runner survives the runner's connection dropping: a prompt handed out
 * twice runs once, a Stop pressed while the runner is away still stops the turn, and a permission
 * answered while it is away reaches OpenCode once it is back.
 *
 * A prompt handed out twice runs once. The room hands the queue's head to the runner again when a
 * new lease comes before it heard "started"; a flaky network makes that happen while the first
 * hand-over is still starting (the runner waits for OpenCode to settle after the previous turn).
 * Here the runner reaches workerd through a proxy that is cut every time the room dispatches a
 * prompt, right after the frame went out, for six prompts queued at once.
 *
 * Found by the chaos test (with the runner cut every 0.3–2.5 s, 2 runs of 5 ended with a fourth
 * user turn for three prompts): two starts of one item each found no OpenCode message for it and
 * both prompted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import { startStack, joinRoom, opencodeMessages, turnDone, userTexts, answerChars, type Stack } from "./harness/stack.ts";
import type { TestRoomClient } from "./harness/clients.ts";
import { startChaosProxy, type ChaosProxy } from "./harness/proxy.ts";
import { setTimeout as sleep } from "node:timers/promises";

const PROMPTS = Array.from({ length: 6 }, (_, i) => `answer number ${i + 1} chunks=8 delay=5`);

let worker: WorkerHandle;
let stack: Stack;
let runnerProxy: ChaosProxy;

beforeAll(async () => {
  worker = await startWorker();
  // No random chaos: the test cuts by hand.
  runnerProxy = await startChaosProxy({ port: worker.port }, { seed: 1 });
  stack = await startStack({ workerHandle: worker, runnerEnv: { AGENTROOM_URL: runnerProxy.url() } });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await runnerProxy?.close();
  await worker?.stop();
});

/** The runner's connection drops and cannot come back until `runnerBack()`; OpenCode goes on. */
async function runnerAway(driver: TestRoomClient): Promise<void> {
  runnerProxy.configure({ refuseProbability: 1 });
  runnerProxy.cutAll("reset");
  await driver.waitFor((x) => x.transcript.session?.agentOnline === false, 30_000);
}

function runnerBack(): void {
  runnerProxy.configure({ refuseProbability: 0 });
}

describe("runner: a dropped connection", () => {
  it("runs once when the runner's connection drops as each prompt is dispatched", async () => {
    const s = await worker.createSession({ title: "redispatch" });
    await stack.runner.waitHolding(s.id, 90_000);
    const driver = await joinRoom(stack, s.id, "driver");

    // Each item's first dispatch cuts the runner's connection: its new lease hands the item again.
    const cutFor = new Set<string>();
    let cuts = 0;
    const timer = setInterval(() => {
      for (const q of driver.transcript.queue) {
        if (q.state === "dispatched" && !cutFor.has(q.id)) {
          cutFor.add(q.id);
          cuts += runnerProxy.cutAll("reset") > 0 ? 1 : 0;
        }
      }
    }, 2);

    for (const p of PROMPTS) await driver.prompt(p);
    await driver.waitFor((x) => x.transcript.queue.length === 0 && userTexts(x.transcript.messages).length >= PROMPTS.length && turnDone(x, 2 * PROMPTS.length), 180_000);
    clearInterval(timer);
    // Anything run twice would come after the last answer: give it time to show.
    await sleep(2_000);

    const meta = driver.transcript.session!;
    const oc = await opencodeMessages(stack.runner, meta.opencodeSessionId!, meta.workspace);
    console.log(`[redispatch] ${cuts} cuts at dispatch for ${PROMPTS.length} prompts; OpenCode user turns ${userTexts(oc).length}`);
    expect(cuts).toBeGreaterThanOrEqual(PROMPTS.length);
    expect(userTexts(oc)).toEqual(PROMPTS);
    expect(userTexts(driver.transcript.messages)).toEqual(PROMPTS);
    for (const p of PROMPTS) expect(stack.model.requests().filter((r) => r.kind === "script" && r.prompt === p)).toHaveLength(1);
    driver.close();
  }, 300_000);

  it("a Stop pressed while the runner is away stops the turn once it is back", async () => {
    const s = await worker.createSession({ title: "stop while away" });
    await stack.runner.waitHolding(s.id, 90_000);
    const driver = await joinRoom(stack, s.id, "driver");
    await driver.prompt("a long answer chunks=280 delay=100");
    await driver.waitFor((x) => answerChars(x.transcript.messages) > 40, 90_000);

    await runnerAway(driver);
    // Accepted (it was refused `agent_offline` before): the room keeps it for the runner.
    await driver.stop();

    // Back: the room hands the Stop over with the lease, and the turn ends aborted.
    const back = performance.now();
    runnerBack();
    await driver.waitFor((x) => {
      const m = x.transcript.messages.at(-1);
      return x.transcript.session?.agentOnline === true && m?.info.role === "assistant" && m.info.time.completed !== undefined;
    }, 60_000);
    const endedMs = performance.now() - back;
    const answer = driver.transcript.messages.at(-1)!;
    console.log(`[runner-dropped] Stop pressed while the runner was away: turn aborted ${endedMs.toFixed(0)} ms after it could reconnect`);
    expect(answer.info.error?.name).toBe("MessageAbortedError");
    // Stopped, not finished: the whole answer is 280 chunks of ~8 characters, 28 s of streaming.
    expect(answerChars(driver.transcript.messages)).toBeLessThan(280 * 8);
    driver.close();
  }, 300_000);

  it("a permission answered while the runner is away reaches OpenCode once it is back", async () => {
    const s = await worker.createSession({ title: "approve while away" });
    await stack.runner.waitHolding(s.id, 90_000);
    const driver = await joinRoom(stack, s.id, "driver");
    await driver.prompt("please write notes.md and then run bash");
    await driver.waitFor((x) => x.transcript.permissions.length === 1, 90_000);
    const req = driver.transcript.permissions[0]!;

    await runnerAway(driver);
    await driver.replyPermission(req.id, "once");
    runnerBack();

    // The room hands the answer over with the lease; the command runs and the turn ends.
    await driver.waitFor((x) => x.transcript.session?.agentOnline === true && x.transcript.permissions.length === 0 && turnDone(x, 4), 90_000);
    const bash = driver.transcript.messages.flatMap((m) => m.parts).filter((p) => p.type === "tool" && p.tool === "bash");
    expect(bash.map((p) => (p.state as { status: string }).status)).toEqual(["completed"]);
    driver.close();
  }, 300_000);
});
