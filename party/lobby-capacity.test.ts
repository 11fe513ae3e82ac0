/**
 * Capacity is visible: runners report to the lobby how many sessions they hold and may hold;
 * while every runner connected is full, a session no runner holds is `pending` in the list (with
 * since when) and its room says why nobody takes it (`runnerWait`, through `agent.presence`).
 * A slot freeing, or the last full runner leaving, makes it plain `offline` again; a runner taking
 * it clears the wait. Only runners may report, and only well-formed reports count.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import type { Lobby } from "./lobby.ts";
import type { Env } from "./env.ts";
import { TestClient, connect, connectAgent, createSession, operator, runner, token, worker } from "./test-helpers.ts";
import type { SessionMeta, SessionSummary } from "../shared/protocol.ts";

async function lobby(tok: string): Promise<TestClient> {
  const res = await worker().fetch("http://room.test/parties/lobby/main", {
    headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": `agentroom, t.${tok}` },
  });
  if (res.status !== 101 || !res.webSocket) throw new Error(`lobby upgrade failed: ${res.status}`);
  const c = new TestClient(res.webSocket);
  await c.waitType("sessions");
  return c;
}

/** The latest row of `id` the list connection was sent. */
function row(list: TestClient, id: string): SessionSummary | undefined {
  let found: SessionSummary | undefined;
  for (const f of list.frames) {
    if (f.type === "sessions") found = (f.sessions as SessionSummary[]).find((s) => s.id === id) ?? found;
    if (f.type === "session.changed" && (f.session as SessionSummary).id === id) found = f.session as SessionSummary;
  }
  return found;
}

async function rowBecomes(list: TestClient, id: string, status: SessionSummary["status"]): Promise<SessionSummary> {
  await list.waitFor(() => row(list, id)?.status === status);
  return row(list, id)!;
}

/** The room's session as a viewer's last snapshot plus presence events would show it. */
async function waitRoom(viewer: TestClient, pred: (e: { online: boolean; waiting?: unknown }) => boolean, from: number): Promise<{ online: boolean; waiting?: { since: number; reason: string } }> {
  const f = await viewer.waitFor(
    (f) => f.type === "events" && (f.events as { type: string; online: boolean; waiting?: unknown }[]).some((e) => e.type === "agent.presence" && pred(e)),
    5_000,
    from,
  );
  return (f.events as { type: string; online: boolean; waiting?: { since: number; reason: string } }[]).filter((e) => e.type === "agent.presence").at(-1)!;
}

describe("runner capacity", () => {
  it("marks a session nobody can take pending, tells its room why, and clears both when a slot frees", async () => {
    const list = await lobby(await operator());
    const r1 = await lobby(await runner());
    const r2 = await lobby(await runner());
    r1.send({ type: "runner.capacity", held: 1, max: 1 });
    r2.send({ type: "runner.capacity", held: 2, max: 2 });

    // Created while both runners are full: pending in the list, with since when.
    const before = Date.now();
    const { id, ownerToken } = await createSession({ title: "waits" });
    const pending = await rowBecomes(list, id, "pending");
    expect(pending.waitingSince).toBeGreaterThanOrEqual(before - 1_000);
    // Runners see it too (they take pending sessions like offline ones).
    await rowBecomes(r1, id, "pending");

    // The room says why, to anyone joining (in the snapshot's session) and live.
    const room = (env as unknown as Env).SessionRoom.getByName(id);
    const deadline = Date.now() + 5_000;
    while (!(await room.getSession())?.runnerWait && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const viewer = await connect(id, ownerToken);
    const snap = await viewer.waitType<{ snapshot: { session: SessionMeta } }>("snapshot");
    expect(snap.snapshot.session.runnerWait).toEqual({ since: pending.waitingSince, reason: "runners_full" });
    expect(snap.snapshot.session.agentOnline).toBe(false);

    // A slot frees on r2: offline again, and the room's wait is cleared.
    let mark = viewer.frames.length;
    r2.send({ type: "runner.capacity", held: 1, max: 2 });
    const offline = await rowBecomes(list, id, "offline");
    expect(offline.waitingSince).toBe(pending.waitingSince); // still waiting, just no longer stuck
    const cleared = await waitRoom(viewer, (e) => !e.online && e.waiting === undefined, mark);
    expect(cleared.waiting).toBeUndefined();

    // Full again, then the full runners leave: with no runner at all it is plain offline.
    mark = viewer.frames.length;
    r2.send({ type: "runner.capacity", held: 2, max: 2 });
    await rowBecomes(list, id, "pending");
    await waitRoom(viewer, (e) => e.waiting !== undefined, mark);
    r2.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(row(list, id)?.status).toBe("pending"); // r1 is still there, and full
    r1.close();
    await rowBecomes(list, id, "offline");

    // Full once more; then a runner takes it: online, no wait, and the list shows it idle.
    const r3 = await lobby(await runner());
    r3.send({ type: "runner.capacity", held: 3, max: 3 });
    await rowBecomes(list, id, "pending");
    mark = viewer.frames.length;
    const agent = await connectAgent(id);
    const online = await waitRoom(viewer, (e) => e.online, mark);
    expect(online.waiting).toBeUndefined();
    const idle = await rowBecomes(list, id, "idle");
    expect(idle.waitingSince).toBeUndefined();
    // A later report changes nothing for a session a runner holds.
    r3.send({ type: "runner.capacity", held: 2, max: 3 });
    await new Promise((r) => setTimeout(r, 200));
    expect(row(list, id)?.status).toBe("idle");
    for (const c of [agent, viewer, r3, list]) c.close();
  });

  it("refuses reports from a session list and malformed ones, changing nothing", async () => {
    const list = await lobby(await operator());
    const { id } = await createSession({ title: "unaffected" });
    await rowBecomes(list, id, "offline");
    list.send({ type: "runner.capacity", held: 5, max: 5 });
    const refused = await list.waitType<{ code: string }>("error");
    expect(refused.code).toBe("forbidden");

    const r = await lobby(await runner());
    for (const bad of ["not json", { type: "runner.capacity", held: -1, max: 1 }, { type: "runner.capacity", held: 1 }, { type: "nope" }]) {
      const from = r.frames.length;
      r.send(bad);
      const err = await r.waitFor((f) => f.type === "error", 5_000, from);
      expect(["bad_json", "bad_frame"]).toContain(err.code);
    }
    await new Promise((res) => setTimeout(res, 200));
    expect(row(list, id)?.status).toBe("offline");
    // A viewer of one session cannot open the lobby at all.
    const res = await worker().fetch("http://room.test/parties/lobby/main", {
      headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": `agentroom, t.${await token(id, "viewer")}` },
    });
    expect(res.status).toBe(403);
    for (const c of [r, list]) c.close();
  });

  it("a lobby that wakes without its runners' sockets (a workerd restart) ends the rooms' wait", async () => {
    const { id } = await createSession({ title: "stale wait" });
    const room = (env as unknown as Env).SessionRoom.getByName(id);
    await room.setRunnerWait({ since: 1, reason: "runners_full" });
    expect((await room.getSession())?.runnerWait).toEqual({ since: 1, reason: "runners_full" });
    // An index that last saw every runner full, and has no runner connected now.
    const stub = (env as unknown as Env).Lobby.getByName("restarted");
    await runInDurableObject(stub, async (lobby: Lobby, state) => {
      lobby.upsert({ id, title: "stale wait", status: "offline", createdAt: 1, updatedAt: 1, archived: false });
      state.storage.sql.exec(`INSERT INTO lobby_state (k, v) VALUES ('full', '1') ON CONFLICT(k) DO UPDATE SET v = '1'`);
      expect(lobby.get(id)?.status).toBe("offline"); // presented from the live sockets: none
      lobby.onStart();
    });
    const deadline = Date.now() + 5_000;
    while ((await room.getSession())?.runnerWait && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect((await room.getSession())?.runnerWait).toBeUndefined();
  });
});
