/** The session list's rows: each status in words, and why a session waits for a runner. */
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render } from "@solidjs/testing-library";
import { SessionRow } from "./SessionList.tsx";
import type { SessionSummary } from "../../../shared/protocol.ts";

afterEach(cleanup);

const row = (s: Partial<SessionSummary>, now = 1_800_000_000_000) => {
  const base: SessionSummary = { id: "s1", title: "Fix CI", status: "idle", createdAt: now - 3_600_000, updatedAt: now - 60_000, archived: false };
  const { container } = render(() => <SessionRow s={{ ...base, ...s }} now={now} />);
  return { pill: container.querySelector(".status-pill") as HTMLElement, meta: container.querySelector(".session-meta") as HTMLElement };
};

describe("session list rows", () => {
  it("says a session no runner can take waits for a runner, and why", () => {
    const now = 1_800_000_000_000;
    const { pill, meta } = row({ status: "pending", waitingSince: now - 5 * 60_000, workspace: "/w/x" }, now);
    expect(pill.textContent).toContain("Needs a runner");
    expect(pill.className).toContain("pending");
    expect(meta.textContent).toBe("Waiting for a runner: all runners are full (since 5 min ago)");
    expect(meta.title).toContain("longest-waiting first");
  });

  it("keeps 'Agent offline' and the workspace for a session with no runner connected at all", () => {
    const { pill, meta } = row({ status: "offline", waitingSince: 0, workspace: "/w/x" });
    expect(pill.textContent).toContain("Agent offline");
    expect(meta.textContent).toBe("/w/x");
  });
});
