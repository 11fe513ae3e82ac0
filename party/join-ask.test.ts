/**
 * Asking to join (party/room/join-ask.ts), through the real Worker on workerd: a viewer asks,
 * owners see it with the person's name and answer in one frame.
 */
import { describe, expect, it } from "vitest";
import { api, connect, createSession, token, type TestClient } from "./test-helpers.ts";

type Requests = { requests: { id: string; name: string; role: string }[] };

async function join(id: string, tok: string): Promise<TestClient> {
  const c = await connect(id, tok);
  await c.waitType("caught-up");
  return c;
}

async function asking(id: string, ownerToken: string, role: "driver" | "approver" = "driver") {
  const owner = await join(id, ownerToken);
  const viewer = await join(id, await token(id, "viewer", "Vic Viewer"));
  expect(await viewer.request({ type: "join.ask", ref: "ask", role })).toMatchObject({ type: "ack" });
  const list = await owner.waitFor<Requests>((f) => f.type === "join.requests" && (f.requests as unknown[]).length === 1);
  expect(list.requests[0]).toMatchObject({ name: "Vic Viewer", role });
  return { owner, viewer, requestId: list.requests[0]!.id };
}

describe("asking to join", () => {
  it("request → accept: the viewer prompts, through a new link record that is listed and revocable", async () => {
    const { id, ownerToken } = await createSession();
    const { owner, viewer, requestId } = await asking(id, ownerToken);
    expect(await viewer.request({ type: "prompt", ref: "p0", id: "p0", text: "hi" })).toMatchObject({ code: "forbidden" });
    const from = owner.frames.length;
    expect(await owner.request({ type: "join.answer", ref: "yes", requestId, accept: true })).toMatchObject({ type: "ack" });
    const result = await viewer.waitFor<{ outcome: string; role: string; linkId: string }>((f) => f.type === "join.result");
    expect(result).toMatchObject({ outcome: "accepted", role: "driver" });
    await owner.waitFor((f) => f.type === "join.requests" && (f.requests as unknown[]).length === 0, 5000, from);
    expect(await viewer.request({ type: "prompt", ref: "p1", id: "p1", text: "hello from the new driver" })).toMatchObject({ type: "ack" });
    await viewer.waitFor((f) => f.type === "presence" && (f.users as { name: string; role: string }[]).some((u) => u.name === "Vic Viewer" && u.role === "driver"));

    const links = (await (await api(`/api/sessions/${id}/links`, { token: ownerToken })).json()) as { links: { id: string; role: string; name: string }[] };
    expect(links.links.find((l) => l.id === result.linkId)).toMatchObject({ role: "driver", name: "Vic Viewer" });
    const res = await api(`/api/sessions/${id}/links/${result.linkId}`, { method: "DELETE", token: ownerToken });
    expect(res.status).toBe(200);
    await viewer.waitFor(() => viewer.closed?.code === 4411 || viewer.frames.some((f) => f.type === "closing"), 5000);
  });

  it("request → decline: the viewer is still refused, and may not ask again for a minute", async () => {
    const { id, ownerToken } = await createSession();
    const { owner, viewer, requestId } = await asking(id, ownerToken, "approver");
    expect(await owner.request({ type: "join.answer", ref: "no", requestId, accept: false })).toMatchObject({ type: "ack" });
    expect(await viewer.waitFor((f) => f.type === "join.result")).toMatchObject({ outcome: "declined" });
    expect(await viewer.request({ type: "prompt", ref: "p", id: "p", text: "x" })).toMatchObject({ code: "forbidden" });
    expect(await viewer.request({ type: "join.ask", ref: "again", role: "driver" })).toMatchObject({ code: "rate_limited" });
    const links = (await (await api(`/api/sessions/${id}/links`, { token: ownerToken })).json()) as { links: { role: string }[] };
    expect(links.links.filter((l) => l.role !== "owner")).toEqual([]);
  });

  it("two owners answering at once: one outcome, the other hears already_answered", async () => {
    const { id, ownerToken } = await createSession();
    const { owner, viewer, requestId } = await asking(id, ownerToken);
    const second = await join(id, ownerToken);
    const [a, b] = await Promise.all([
      owner.request({ type: "join.answer", ref: "a", requestId, accept: true }),
      second.request({ type: "join.answer", ref: "b", requestId, accept: false }),
    ]);
    const outcomes = [a, b].map((r) => (r.type === "ack" ? "ack" : r.code));
    expect(outcomes.sort()).toEqual(["ack", "already_answered"]);
    const results = await viewer.waitFor(() => viewer.ofType("join.result").length >= 1).then(() => viewer.ofType<{ outcome: string }>("join.result"));
    expect(results).toHaveLength(1);
    expect(results[0]!.outcome).toBe(a.type === "ack" ? "accepted" : "declined");
  });

  it("only viewers ask, once at a time; only owners answer", async () => {
    const { id, ownerToken } = await createSession();
    const driver = await join(id, await token(id, "driver"));
    expect(await driver.request({ type: "join.ask", ref: "d", role: "driver" })).toMatchObject({ code: "forbidden" });
    const { viewer, requestId } = await asking(id, ownerToken);
    expect(await viewer.request({ type: "join.ask", ref: "twice", role: "driver" })).toMatchObject({ code: "rate_limited" });
    expect(await driver.request({ type: "join.answer", ref: "x", requestId, accept: true })).toMatchObject({ code: "forbidden" });
    expect(await viewer.request({ type: "join.answer", ref: "self", requestId, accept: true })).toMatchObject({ code: "forbidden" });
    expect(await viewer.request({ type: "join.ask", ref: "bad", role: "owner" })).toMatchObject({ code: "bad_frame" });
  });
});
