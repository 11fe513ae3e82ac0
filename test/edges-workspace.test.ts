/**
 * A `directory` the runner refuses never shows as the session's workspace (real workerd, runner
 * and OpenCode): the room and the session list keep what was asked for as `directory` and say why
 * it was refused; `workspace` appears only where the agent really works.
 */
import { describe, expect, it } from "vitest";
import { stackPerFile, joinRoom, until } from "./harness/stack.ts";
import type { SessionSummary } from "../shared/protocol.ts";

const getStack = stackPerFile();

async function listed(id: string): Promise<SessionSummary | undefined> {
  const stack = getStack();
  const res = await fetch(`${stack.worker.url}/api/sessions?limit=200`, { headers: { authorization: `Bearer ${await stack.worker.operatorToken()}` } });
  return ((await res.json()) as { sessions: SessionSummary[] }).sessions.find((s) => s.id === id);
}

describe("workspace", () => {
  it("a refused directory is not shown as the workspace; an accepted one is", async () => {
    const stack = getStack();
    const refused = await stack.worker.createSession({ title: "refused", directory: "/etc" });
    const viewer = await joinRoom(stack, refused.id, "viewer");
    const session = await until(() => (viewer.transcript.session?.lastError ? viewer.transcript.session : null), 60_000, "the refusal");
    expect(session.lastError).toContain("/etc");
    expect(session.directory).toBe("/etc");
    expect(session.workspace).toBeUndefined();
    expect((await listed(refused.id))?.workspace).toBeUndefined();
    viewer.close();

    // A fresh workspace (no directory asked) shows where the agent works, in the room and the list.
    const fresh = await stack.worker.createSession({ title: "fresh" });
    const v2 = await joinRoom(stack, fresh.id, "viewer");
    const ws = await until(() => v2.transcript.session?.workspace, 60_000, "the workspace");
    expect(ws.startsWith(stack.workspacesDir)).toBe(true);
    await until(async () => (await listed(fresh.id))?.workspace === ws, 15_000, "the list to show it");
    v2.close();
  });
});
