/**
 * The prompt queue through the real runner and OpenCode: follow-ups typed while the agent works run
 * later, in order, each exactly once; Stop ends a long answer as aborted at once and the queue goes on.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, joinRoom, turnDone, opencodeMessages, partSummary, until, userTexts, answerChars, type Stack } from "./harness/stack.ts";
import type { RoomClient } from "../shared/room-client.ts";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const userTextsOf = (c: RoomClient): string[] => userTexts(c.transcript.messages);
const streamedChars = (c: RoomClient): number => answerChars(c.transcript.messages);

describe("runner: queue and stop", () => {
  it("three prompts queued while the agent is busy run in order, each exactly once", async () => {
    const s = await stack.worker.createSession({ title: "queue" });
    await stack.runner.waitHolding(s.id);
    const driver = await joinRoom(stack, s.id, "driver");
    const viewer = await joinRoom(stack, s.id, "viewer");

    await driver.prompt("give me a slow answer chunks=60 delay=25");
    await driver.waitFor((x) => streamedChars(x) > 0, 90_000);
    // Typed while it works: they wait in the room's queue, visible to everyone.
    await driver.prompt("first follow-up");
    await driver.prompt("second follow-up");
    await driver.prompt("third follow-up");
    await viewer.waitFor((x) => x.transcript.queue.length >= 2, 10_000);
    expect(userTextsOf(viewer)).toEqual(["give me a slow answer chunks=60 delay=25"]);

    await driver.waitFor((x) => x.transcript.queue.length === 0 && turnDone(x, 8), 180_000);
    await viewer.waitFor((x) => turnDone(x, 8), 30_000);
    const expected = ["give me a slow answer chunks=60 delay=25", "first follow-up", "second follow-up", "third follow-up"];
    expect(userTextsOf(driver)).toEqual(expected);
    expect(userTextsOf(viewer)).toEqual(expected);

    // OpenCode ran each exactly once (its transcript and the model's requests say so).
    const ws = driver.transcript.session!.workspace!;
    const oc = await opencodeMessages(stack.runner, driver.transcript.session!.opencodeSessionId!, ws);
    expect(userTexts(oc)).toEqual(expected);
    for (const text of expected.slice(1)) {
      expect(stack.model.requests().filter((r) => r.kind === "script" && r.prompt === text)).toHaveLength(1);
    }
    // Each user message says which queue item made it.
    const queueIds = driver.transcript.messages.filter((m) => m.info.role === "user").map((m) => m.info.queueId);
    expect(queueIds.every((q) => typeof q === "string")).toBe(true);
    expect(new Set(queueIds).size).toBe(4);
    driver.close();
    viewer.close();
  }, 300_000);

  it("Stop during a long answer ends the turn as aborted within a second, and the queue goes on", async () => {
    const s = await stack.worker.createSession({ title: "stop" });
    await stack.runner.waitHolding(s.id);
    const driver = await joinRoom(stack, s.id, "owner");
    const viewer = await joinRoom(stack, s.id, "viewer");

    await driver.prompt("a long answer please");
    await viewer.waitFor((x) => streamedChars(x) > 80, 90_000);
    await driver.prompt("after the stop");
    await viewer.waitFor((x) => x.transcript.queue.length === 1, 10_000);

    const t0 = performance.now();
    await driver.stop();
    // The viewer sees the turn end: the assistant message completes with an abort error.
    await viewer.waitFor((x) => {
      const m = x.transcript.messages.find((mm) => mm.info.role === "assistant");
      return m?.info.time.completed !== undefined;
    }, 10_000);
    const stopMs = performance.now() - t0;
    const aborted = viewer.transcript.messages.find((m) => m.info.role === "assistant")!;
    expect(aborted.info.error?.name).toBe("MessageAbortedError");
    // Stop ends the turn at once (a product promise), asserted with headroom for a loaded machine.
    expect(stopMs).toBeLessThan(5_000);
    console.log(`[runner-queue] Stop → viewer saw the turn aborted in ${stopMs.toFixed(0)} ms`);

    // The long answer really stopped streaming (the model saw its stream cut).
    const longText = String(aborted.parts.find((p) => p.type === "text")?.text ?? "");
    expect(longText.length).toBeLessThan(250 * 8);

    // The queue goes on: the follow-up runs next.
    await viewer.waitFor((x) => x.transcript.queue.length === 0 && turnDone(x, 4), 120_000);
    expect(userTextsOf(viewer)).toEqual(["a long answer please", "after the stop"]);
    const last = viewer.transcript.messages[viewer.transcript.messages.length - 1]!;
    expect(last.info.error).toBeUndefined();
    expect(partSummary(viewer.transcript.messages).running).toEqual([]);
    await until(() => driver.transcript.messages.length === viewer.transcript.messages.length, 10_000, "driver caught up");
    driver.close();
    viewer.close();
  }, 300_000);

  it("a session created without a title is named by OpenCode's title request", async () => {
    const s = await stack.worker.createSession({});
    await stack.runner.waitHolding(s.id);
    const viewer = await joinRoom(stack, s.id, "viewer");
    const driver = await joinRoom(stack, s.id, "driver");
    await driver.prompt("explain the build pipeline");
    await viewer.waitFor((x) => x.transcript.session?.title === "Explain the build pipeline", 120_000);
    await viewer.waitFor((x) => turnDone(x, 2), 120_000);
    expect(stack.model.requests().some((r) => r.kind === "title" && r.prompt.includes("explain the build pipeline"))).toBe(true);
    viewer.close();
    driver.close();
  }, 240_000);
});
