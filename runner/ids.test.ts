import { describe, expect, it } from "vitest";
import { promptMessageId, isPromptFor, queueIdOf, queueSuffix } from "./ids.ts";

describe("prompt message ids", () => {
  it("look like OpenCode's, sort by time, and carry the queue id", () => {
    const a = promptMessageId("q1", 1_795_315_406_655);
    const b = promptMessageId("q2", 1_795_315_406_656);
    expect(a).toMatch(/^msg_[0-9a-f]{12}[0-9A-Za-z]{14}$/);
    expect(a.slice(4, 16)).toBe("20123173f001");
    expect(a < b).toBe(true);
    expect(isPromptFor(a, "q1")).toBe(true);
    expect(isPromptFor(a, "q2")).toBe(false);
    expect(queueIdOf(b, ["q1", "q2"])).toBe("q2");
    expect(queueSuffix("q1")).toBe(queueSuffix("q1"));
  });
});
