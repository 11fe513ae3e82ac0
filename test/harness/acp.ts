/** Helpers for the ACP agent tests (test/acp-*.test.ts). */
import { expect } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { answerChars, partSummary, turnDone, userTexts, type joinRoom, type RunnerHandle } from "./stack.ts";

/** A room client of the tests (joinRoom's). */
type RoomClient = Awaited<ReturnType<typeof joinRoom>>;

/** The pids of the ACP agents the runner started, from its log. */
export function agentPids(r: RunnerHandle): number[] {
  return [...r.logs().matchAll(/\(pid (\d+)\) initialized/g)].map((m) => Number(m[1]));
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Awaits `p`; a failure says what the runner logged (CI shows the failure summary, not the test's
 * output). `skip` drops noisy lines (JSON dumps, the ACP SDK's own error lines).
 */
export async function withRunnerLog<T>(runner: RunnerHandle, what: string, p: Promise<T>, skip = /^\s|^[{}]/): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const tail = runner.logs().split("\n").filter((l) => !skip.test(l)).slice(-40).join("\n");
    throw new Error(`${what}: ${e instanceof Error ? e.message : String(e)}\nrunner log:\n${tail}`);
  }
}

type ToolPart = { tool: string; state: { status: string; output?: string; title?: string; metadata?: { filediff?: { file: string; after: string } } } };
export const toolParts = (c: RoomClient): ToolPart[] => c.transcript.messages.flatMap((m) => m.parts).filter((p) => p.type === "tool") as unknown as ToolPart[];
export const aborted = (c: RoomClient): boolean => c.transcript.messages.some((m) => (m.info.error as { name?: string } | undefined)?.name === "MessageAbortedError");
type Logged = <T>(what: string, p: Promise<T>) => Promise<T>;

/**
 * The slow answer is streaming: its own text, not the previous turn's (the last message is the
 * previous answer until the slow prompt's turn begins; a Stop then would end nothing).
 */
export const streamingSlowAnswer = (c: RoomClient): boolean => userTexts(c.transcript.messages).at(-1) === "a slow answer chunks=600 delay=40" && answerChars(c.transcript.messages) > 20;

/**
 * After "please write notes.md and then run bash": the file is written, the edit shows its diff,
 * the shell call completed, the closing text quotes its output, and the viewer sees what the
 * driver sees.
 */
export async function expectWriteAndBash(driver: RoomClient, viewer: RoomClient, logged: Logged): Promise<void> {
  const workspace = driver.transcript.session!.workspace!;
  expect(readFileSync(join(workspace, "notes.md"), "utf8")).toContain("Hello from the scripted model");
  const edit = toolParts(viewer).find((t) => t.tool === "edit");
  expect(edit?.state.status).toBe("completed");
  expect(edit?.state.metadata?.filediff?.after).toContain("Hello from the scripted model");
  expect(toolParts(viewer).find((t) => t.tool === "bash")?.state.status).toBe("completed");
  const texts = viewer.transcript.messages.at(-1)!.parts.flatMap((p) => (p.type === "text" ? [String(p.text)] : []));
  expect(texts.join("\n")).toMatch(/Done\. The last tool reported:[\s\S]*notes\.md/);
  expect(partSummary(viewer.transcript.messages).running).toEqual([]);
  await logged("viewer caught up", viewer.waitFor((x) => JSON.stringify(x.transcript.messages) === JSON.stringify(driver.transcript.messages), 30_000));
}

/**
 * Stop during a long answer, with a follow-up queued behind it: the stopped turn ends aborted, the
 * follow-up runs to its end (`turns` messages in all). Returns ms from Stop to the aborted turn.
 */
export async function stopThenFollowUp(driver: RoomClient, turns: number, logged: Logged): Promise<number> {
  await driver.prompt("a slow answer chunks=600 delay=40");
  await driver.prompt("and a short follow-up");
  await logged("streaming", driver.waitFor(streamingSlowAnswer, 60_000));
  const t0 = Date.now();
  await driver.stop();
  await logged("aborted", driver.waitFor(aborted, 10_000));
  const stopMs = Date.now() - t0;
  await logged("follow-up", driver.waitFor((x) => turnDone(x, turns) && x.transcript.queue.length === 0, 60_000));
  expect(userTexts(driver.transcript.messages).slice(-2)).toEqual(["a slow answer chunks=600 delay=40", "and a short follow-up"]);
  return stopMs;
}
