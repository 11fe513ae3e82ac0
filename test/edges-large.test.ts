/**
 * A multi-megabyte write through the real runner and the real OpenCode: the file is written
 * whole, the room stores the part whole (full-part route), and no frame any viewer receives —
 * live or in a late joiner's snapshot — is over the cap; no runner frame is refused.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { stackPerFile, joinRoom, sessionWithDriver, turnDone, until } from "./harness/stack.ts";
import { writeContent } from "../runner/scripted-model.ts";
import { DEFAULT_LIMITS } from "../shared/limits.ts";
import type { Part } from "../shared/parts.ts";

const getStack = stackPerFile();
const CAP = DEFAULT_LIMITS.maxOutgoingFrameBytes;

describe("large tool calls end to end", () => {
  it("a 3 MB write: written whole, stored whole, every frame under the cap", async () => {
    const stack = getStack();
    const { id, driver } = await sessionWithDriver(stack, "big write");
    const viewer = await joinRoom(stack, id, "viewer", "vic");
    const size = 3_000_000;
    await driver.prompt(`please write big.txt size=${size}`);
    await until(() => turnDone(driver), 180_000, "the turn to finish");
    const expected = writeContent("big.txt", size);

    const workspace = driver.transcript.session!.workspace!;
    expect(readFileSync(join(workspace, "big.txt"), "utf8")).toBe(expected);

    const write = driver.transcript.messages.flatMap((m) => m.parts).find((p) => p.type === "tool" && p.tool === "write") as Part & { state: { status: string; input: { content: string } } };
    expect(write.state.status).toBe("completed");
    expect(write.truncated?.map((t) => t.field)).toContain("state.input.content");
    expect(write.state.input.content.length).toBeLessThanOrEqual(DEFAULT_LIMITS.inlineFieldChars);
    const token = await stack.worker.mintToken({ sid: id, role: "viewer" });
    const res = await fetch(`${stack.worker.url}/api/sessions/${id}/parts/${write.id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await res.json()) as { part: { state: { input: { content: string } } } }).part.state.input.content).toBe(expected);

    const late = await joinRoom(stack, id, "viewer", "late");
    expect(late.transcript.messages.map((m) => m.info.id)).toEqual(driver.transcript.messages.map((m) => m.info.id));
    const largest = Math.max(driver.stats.largestFrameBytes, viewer.stats.largestFrameBytes, late.stats.largestFrameBytes);
    console.log(`[frames] 3 MB write through OpenCode: largest frame a client received ${largest} bytes`);
    expect(largest).toBeLessThanOrEqual(CAP);
    expect(stack.runner.logs()).not.toMatch(/frame_too_large/);
    for (const c of [driver, viewer, late]) c.close();
  });
});
