/**
 * Text never breaks mid-stream, with the real runner and the real OpenCode: the scripted model
 * streams emoji, ZWJ sequences, skin tones, flags and combining marks three UTF-16 units at a
 * time (most chunks end between a surrogate pair's halves). Ten viewers join at ten moments while
 * it streams; none ever sees U+FFFD or a lone surrogate, in its snapshot or in any frame after,
 * and every one ends with exactly the text the model sent.
 */
import { describe, expect, it } from "vitest";
import { stackPerFile, joinRoom, sessionWithDriver, turnDone, until } from "./harness/stack.ts";
import { emojiText } from "../runner/scripted-model.ts";
import { hasLoneSurrogate, isHighSurrogate } from "../shared/delta.ts";
import type { RoomClient } from "../shared/room-client.ts";
import { DEFAULT_LIMITS } from "../shared/limits.ts";
import { setTimeout as sleep } from "node:timers/promises";

const getStack = stackPerFile();

/** The assistant's text as a client holds it now. */
function answer(c: RoomClient): string {
  const m = c.transcript.messages.filter((x) => x.info.role === "assistant").at(-1);
  return (m?.parts ?? []).map((p) => (p.type === "text" && typeof p.text === "string" ? p.text : "")).join("");
}

describe("unicode at every cut", () => {
  it("viewers joining at ten moments mid-stream never see U+FFFD", async () => {
    const stack = getStack();
    const { id, driver } = await sessionWithDriver(stack, "emoji");
    stack.model.reset();
    const chunks = 240;
    await driver.prompt(`emoji chunks=${chunks} delay=25`);
    const expected = emojiText(chunks * 3);

    await until(() => answer(driver).length > 0, 60_000, "the answer to start streaming");
    const joiners: { c: RoomClient; atJoin: string; bad: string[] }[] = [];
    for (let i = 0; i < 10; i++) {
      const c = await joinRoom(stack, id, "viewer", `v${i}`);
      const bad: string[] = [];
      c.onFrame((f) => {
        const raw = JSON.stringify(f);
        if (raw.includes("\ufffd") || hasLoneSurrogate(raw)) bad.push(raw.slice(0, 300));
      });
      joiners.push({ c, atJoin: answer(c), bad });
      await sleep(450);
    }
    await until(() => turnDone(driver), 60_000, "the turn to finish");

    // The model really split characters across its chunks (else this test tests nothing).
    const pieces = stack.model.chunks().filter((k) => k.kind === "text").map((k) => k.text);
    const splits = pieces.filter((t) => t.length && isHighSurrogate(t.charCodeAt(t.length - 1))).length;
    expect(splits).toBeGreaterThan(25);
    expect(pieces.join("")).toBe(expected);

    // Joins landed mid-stream: their snapshots hold a partial answer, and different ones.
    const partial = joiners.filter((j) => j.atJoin.length > 0 && j.atJoin.length < expected.length);
    expect(partial.length).toBeGreaterThanOrEqual(5);
    expect(new Set(joiners.map((j) => j.atJoin.length)).size).toBeGreaterThanOrEqual(5);
    for (const j of joiners) {
      expect(j.atJoin).not.toContain("\ufffd");
      expect(hasLoneSurrogate(j.atJoin)).toBe(false);
      expect(expected.startsWith(j.atJoin)).toBe(true);
      expect(j.bad).toEqual([]);
    }
    for (const c of [driver, ...joiners.map((j) => j.c)]) {
      await until(() => answer(c) === expected, 15_000, "every client to hold the whole answer");
      expect(c.stats.largestFrameBytes).toBeLessThanOrEqual(DEFAULT_LIMITS.maxOutgoingFrameBytes);
      c.close();
    }
    console.log(`[frames] largest frame a client received: ${Math.max(driver.stats.largestFrameBytes, ...joiners.map((j) => j.c.stats.largestFrameBytes))} bytes`);
  });
});
