/**
 * Which agent runs a session: runners announce the agents they offer in their capacity report,
 * `GET /api/agents` lists them (the operator only), and a session created with `agent` keeps it in
 * its meta and its index row (so only runners offering it take it).
 */
import { describe, expect, it } from "vitest";
import { AgentsResultSchema, SessionSummarySchema } from "../shared/protocol.ts";
import { TestClient, api, createSession, operator, runner, worker } from "./test-helpers.ts";

async function lobby(tok: string): Promise<TestClient> {
  const res = await worker().fetch("http://room.test/parties/lobby/main", {
    headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": `agentroom, t.${tok}` },
  });
  if (res.status !== 101 || !res.webSocket) throw new Error(`lobby upgrade failed: ${res.status}`);
  const c = new TestClient(res.webSocket);
  await c.waitType("sessions");
  return c;
}

async function agents(): Promise<{ id: string; runners: number; protocol: string }[]> {
  const res = await api("/api/agents", { token: await operator() });
  expect(res.status).toBe(200);
  return AgentsResultSchema.parse(await res.json()).agents;
}

describe("agents", () => {
  it("lists what online runners offer; a runner that names none offers OpenCode through the SDK", async () => {
    const r1 = await lobby(await runner());
    const r2 = await lobby(await runner());
    r1.send({ type: "runner.capacity", held: 0, max: 5, agents: [{ id: "opencode", label: "OpenCode", protocol: "opencode-sdk" }, { id: "claude-code", label: "Claude Code", protocol: "acp" }] });
    r2.send({ type: "runner.capacity", held: 0, max: 5 });
    let list: Awaited<ReturnType<typeof agents>> = [];
    for (let i = 0; i < 100 && list.length < 2; i++) {
      list = await agents();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(list.find((a) => a.id === "opencode")?.runners).toBe(2);
    expect(list.find((a) => a.id === "claude-code")).toMatchObject({ protocol: "acp", runners: 1 });
    // A bad report is refused with an error frame and changes nothing.
    r1.send({ type: "runner.capacity", held: 0, max: 5, agents: [{ id: "Not An Id", label: "x", protocol: "acp" }] });
    await r1.waitType("error");
    expect((await agents()).find((a) => a.id === "claude-code")?.runners).toBe(1);
    r1.close();
    r2.close();
    // Only the operator may ask.
    expect((await api("/api/agents", { token: await runner() })).status).toBe(403);
  });

  it("a session created with an agent keeps it in its meta and its index row; a malformed id is refused", async () => {
    const { id, ownerToken } = await createSession({ title: "claude", agent: "claude-code" });
    const one = (await (await api(`/api/sessions/${id}`, { token: ownerToken })).json()) as { session: { agent?: string } };
    expect(one.session.agent).toBe("claude-code");
    const rows = (await (await api("/api/sessions?limit=200", { token: await operator() })).json()) as { sessions: unknown[] };
    const row = rows.sessions.map((s) => SessionSummarySchema.parse(s)).find((s) => s.id === id);
    expect(row?.agent).toBe("claude-code");
    const plain = await createSession({ title: "default" });
    const dflt = (await (await api(`/api/sessions/${plain.id}`, { token: plain.ownerToken })).json()) as { session: { agent?: string } };
    expect(dflt.session.agent).toBeUndefined();
    const bad = await api("/api/sessions", { method: "POST", token: await operator(), body: { agent: "Bad Agent!" } });
    expect(bad.status).toBe(400);
  });
});
