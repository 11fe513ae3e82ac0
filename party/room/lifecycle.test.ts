/**
 * The room's lifecycle: lease expiry and archiving by alarm, heartbeats by auto-response,
 * the connection cap, presence rebuilt after hibernation.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { Env } from "../env.ts";
import type { SessionRoom } from "../session-room.ts";
import { batch, connect, connectAgent, connectRaw, createSession, msg, token } from "../test-helpers.ts";

const ns = () => (env as unknown as Env).SessionRoom;

describe("alarms", () => {
  it("a runner that stops heartbeating loses the lease: closed 4408, agent offline", async () => {
    const { id } = await createSession();
    const v = await connect(id, await token(id, "viewer"));
    await v.waitType("caught-up");
    const agent = await connectAgent(id);
    agent.send({ type: "agent.heartbeat", runnerId: "r1" });
    // Frames are handled in order: once this batch is acked, the heartbeat was too.
    await batch(agent, [msg("m1")]);
    const stub = ns().getByName(id);
    await runInDurableObject(stub, (room: SessionRoom) => {
      const lease = room.meta.get("lease")!;
      expect(lease.runnerId).toBe("r1");
      room.meta.set("lease", { ...lease, expiresAt: Date.now() - 1 });
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await agent.waitFor(() => agent.closed !== undefined);
    expect(agent.closed!.code).toBe(4408);
    await v.waitFor((f) => f.type === "events" && (f.events as { type: string; online?: boolean }[]).some((e) => e.type === "agent.presence" && e.online === false));
    expect(await stub.getSession()).toMatchObject({ agentOnline: false });
  });

  it("archives a session after the configured inactivity; archived is read-only", async () => {
    const { id } = await createSession();
    const d = await connect(id, await token(id, "driver"));
    await d.waitType("caught-up");
    const stub = ns().getByName(id);
    // Not yet due: the alarm only reschedules.
    await runDurableObjectAlarm(stub);
    expect(await stub.getSession()).toMatchObject({ archived: false });
    await runInDurableObject(stub, (room: SessionRoom, state) => {
      room.meta.patchSession({ updatedAt: Date.now() - 15 * 86_400_000 });
      return state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.getSession()).toMatchObject({ archived: true });
    await d.waitFor((f) => f.type === "events" && (f.events as { type: string }[]).some((e) => e.type === "session.archived"));
    expect(await d.request({ type: "prompt", ref: "p", id: "x", text: "y" })).toMatchObject({ code: "archived" });
  });
});

describe("connections", () => {
  it("answers ping with pong (auto-response)", async () => {
    const { id } = await createSession();
    const res = await connectRaw(id, await token(id, "viewer"));
    const ws = res.webSocket!;
    const got: string[] = [];
    ws.accept();
    ws.addEventListener("message", (e) => {
      got.push(String(e.data));
    });
    ws.send("ping");
    const deadline = Date.now() + 3000;
    while (!got.includes("pong") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(got).toContain("pong");
    ws.close();
  });

  it("refuses connections past the room's cap with room_full (LIMIT_MAX_CONNECTIONS_PER_ROOM=20)", async () => {
    const { id } = await createSession();
    const tok = await token(id, "viewer");
    const clients = [];
    for (let i = 0; i < 20; i++) {
      const c = await connect(id, tok);
      await c.waitType("caught-up");
      clients.push(c);
    }
    const extra = await connect(id, tok);
    await extra.waitFor((f) => f.type === "error" && f.code === "room_full");
    await extra.waitFor(() => extra.closed !== undefined);
    expect(extra.closed!.code).toBe(4429);
    for (const c of clients) expect(c.closed).toBeUndefined();
  });

  it("presence is rebuilt from attachments after the room hibernates", async () => {
    const { id } = await createSession();
    const a = await connect(id, await token(id, "viewer", "Ann"));
    await a.waitType("caught-up");
    const b = await connect(id, await token(id, "driver", "Bob"));
    await b.waitType("caught-up");
    const stub = ns().getByName(id);
    await evictDurableObject(stub, { webSockets: "hibernate" });
    // A new instance: ask it who is here.
    const { users, total } = await runInDurableObject(stub, (room: SessionRoom) => room.presence());
    expect(users.map((u) => `${u.name}:${u.role}`).sort()).toEqual(["Ann:viewer", "Bob:driver"]);
    expect(total).toBe(2);
    // The hibernated sockets still work.
    expect(await b.request({ type: "prompt", ref: "p", id: "after-wake", text: "hello" })).toMatchObject({ type: "ack" });
  });
});
