/**
 * The approver role and the owner's redaction allowances, enforced by the room on every frame
 * (workerd, through the real Worker).
 */
import { describe, expect, it } from "vitest";
import { api, batch, connect, connectAgent, createSession, sleep, token, type TestClient } from "./test-helpers.ts";

type Snap = { snapshot: { queue: unknown[]; permissions: { id: string }[]; session: { mode: string; redactAllowed?: string[] } } };

async function join(id: string, tok: string): Promise<TestClient> {
  const c = await connect(id, tok);
  await c.waitType("caught-up");
  return c;
}

async function snapshotOf(id: string): Promise<Snap["snapshot"]> {
  const c = await join(id, await token(id, "viewer"));
  const s = c.ofType<Snap>("snapshot")[0]!;
  c.close();
  return s.snapshot;
}

describe("approver", () => {
  it("answers a permission (forwarded to the agent) and is refused forbidden for prompt, stop, mode, allow and minting; nothing stored", async () => {
    const { id, ownerToken } = await createSession();
    const res = await api(`/api/sessions/${id}/share`, { method: "POST", token: ownerToken, body: { role: "approver", name: "Ada Approver" } });
    expect(res.status).toBe(200);
    const share = (await res.json()) as { token: string; role: string; linkId: string };
    expect(share.role).toBe("approver");

    const agent = await connectAgent(id);
    await batch(agent, [
      { type: "permission.asked", request: { id: "perm1", permission: "bash", patterns: ["ls"], createdAt: 1 } },
      { type: "question.asked", request: { id: "q1", questions: [{ question: "Which?", options: [{ label: "A" }] }], createdAt: 1 } },
    ]);
    const a = await join(id, share.token);
    expect(a.ofType<{ you: { role: string; name: string } }>("welcome")[0]!.you).toMatchObject({ role: "approver", name: "Ada Approver" });
    // Presence shows the role.
    await a.waitFor((f) => f.type === "presence" && (f.users as { role: string }[]).some((u) => u.role === "approver"));

    const before = await snapshotOf(id);
    for (const f of [
      { type: "prompt", ref: "1", id: "p1", text: "do it" },
      { type: "stop", ref: "2" },
      { type: "mode.set", ref: "3", mode: "plan" },
      { type: "queue.cancel", ref: "4", id: "p1" },
      { type: "redact.allow", ref: "5", rule: "GitHub token" },
    ]) {
      expect(await a.request(f), f.type).toMatchObject({ type: "error", code: "forbidden", ref: f.ref });
    }
    await sleep(50);
    expect(await snapshotOf(id)).toEqual(before);
    expect(agent.ofType("agent.stop")).toHaveLength(0);
    expect(agent.ofType("agent.mode")).toHaveLength(0);
    expect(agent.ofType("agent.prompt")).toHaveLength(0);
    const mint = await api(`/api/sessions/${id}/share`, { method: "POST", token: share.token, body: { role: "viewer" } });
    expect(mint.status).toBe(403);

    // Answers go through: the agent gets them, the requests close.
    expect(await a.request({ type: "permission.reply", ref: "a", requestID: "perm1", reply: "once" })).toMatchObject({ type: "ack" });
    await agent.waitFor((f) => f.type === "agent.permission.reply" && f.requestID === "perm1" && f.reply === "once");
    expect(await a.request({ type: "question.reply", ref: "b", requestID: "q1", answers: [["A"]] })).toMatchObject({ type: "ack" });
    await agent.waitFor((f) => f.type === "agent.question.reply" && f.requestID === "q1");
    expect((await snapshotOf(id)).permissions).toEqual([]);

    // The link is listed, with its role, and revocable like any other.
    const links = (await (await api(`/api/sessions/${id}/links`, { token: ownerToken })).json()) as { links: { id: string; role: string }[] };
    expect(links.links.find((l) => l.id === share.linkId)?.role).toBe("approver");
  });
});

describe("redact.allow", () => {
  it("an owner lets a rule through: stored, forwarded to the runner, in the next lease; a driver is refused", async () => {
    const { id, ownerToken } = await createSession();
    const agent = await connectAgent(id);
    const d = await join(id, await token(id, "driver"));
    expect(await d.request({ type: "redact.allow", ref: "d", rule: "GitHub token" })).toMatchObject({ code: "forbidden" });
    const o = await join(id, ownerToken);
    expect(await o.request({ type: "redact.allow", ref: "o", rule: "GitHub token" })).toMatchObject({ type: "ack" });
    await agent.waitFor((f) => f.type === "agent.redact.allow" && JSON.stringify(f.rules) === '["GitHub token"]');
    expect(await o.request({ type: "redact.allow", ref: "o2", rule: "Slack token" })).toMatchObject({ type: "ack" });
    expect((await snapshotOf(id)).session.redactAllowed).toEqual(["GitHub token", "Slack token"]);
    expect(await o.request({ type: "redact.allow", ref: "bad", rule: "" })).toMatchObject({ code: "bad_frame" });
    agent.close();
    const next = await connectAgent(id);
    const lease = next.ofType<{ session: { redactAllowed?: string[] } }>("agent.lease").find((l) => l.session);
    expect(lease?.session.redactAllowed).toEqual(["GitHub token", "Slack token"]);
  });
});
