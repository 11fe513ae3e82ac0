/**
 * Capacity is visible, with the real runner (AGENTROOM_MAX_SESSIONS=1) and OpenCode: a session the
 * full runner cannot take says "waiting for a runner" — `pending` in the session list (with since
 * when), `runnerWait` in its room, a line in the runner's log — and when a slot frees the session
 * that has waited longest is taken first: on an archive, on a delete, and when a runner is added.
 * Chromium shows the list's pill and the room's badge.
 */
import { describe, expect, it } from "vitest";
import { stackPerFile, joinRoom, until } from "./harness/stack.ts";
import { launchBrowser, openPage, screenshot } from "./harness/browser.ts";
import type { LobbyFrame, SessionSummary } from "../shared/protocol.ts";
import type { RoomClient } from "../shared/room-client.ts";

const stack = stackPerFile({ runnerEnv: { AGENTROOM_MAX_SESSIONS: "1" } });

/** The session list as an operator's browser receives it. */
async function sessionList(): Promise<{ rows: Map<string, SessionSummary>; close(): void }> {
  const s = stack();
  const rows = new Map<string, SessionSummary>();
  const ws = new WebSocket(s.worker.lobbyUrl(), ["agentroom", `t.${await s.worker.operatorToken()}`]);
  ws.addEventListener("message", (e) => {
    const f = JSON.parse(String(e.data)) as LobbyFrame;
    if (f.type === "sessions") for (const r of f.sessions) rows.set(r.id, r);
    if (f.type === "session.changed") rows.set(f.session.id, f.session);
    if (f.type === "session.deleted") rows.delete(f.id);
  });
  await until(() => ws.readyState === WebSocket.OPEN, 10_000, "the lobby socket");
  return { rows, close: () => ws.close() };
}

const held = (c: RoomClient): boolean => c.transcript.session?.agentOnline === true;
const waitingWhy = (c: RoomClient) => c.transcript.session?.runnerWait;

describe("capacity: sessions waiting for a runner", () => {
  it("says why a session waits, and gives a freed slot to the longest-waiting session", async () => {
    const s = stack();
    const list = await sessionList();
    const owner = s.runners[0]!;

    const a = await s.worker.createSession({ title: "a" });
    await owner.waitHolding(a.id);
    const b = await s.worker.createSession({ title: "b" });
    const c = await s.worker.createSession({ title: "c" });
    const viewB = await joinRoom(s, b.id, "viewer");
    const viewC = await joinRoom(s, c.id, "viewer");

    // The list, the room and the runner's log all say it, with why.
    await until(() => list.rows.get(b.id)?.status === "pending" && list.rows.get(c.id)?.status === "pending", 15_000, "b and c pending in the list");
    expect(list.rows.get(b.id)!.waitingSince!).toBeLessThanOrEqual(list.rows.get(c.id)!.waitingSince!);
    await until(() => waitingWhy(viewB) && waitingWhy(viewC), 15_000, "the rooms to say why");
    expect(waitingWhy(viewB)).toEqual({ since: list.rows.get(b.id)!.waitingSince, reason: "runners_full" });
    expect(owner.logs()).toMatch(new RegExp(`room ${b.id}: waiting for a runner: this runner is full \\(1 of 1 sessions`));
    expect(owner.logs()).toMatch(new RegExp(`room ${c.id}: waiting for a runner`));

    // Archive a: its slot goes to b, which waited longer than c.
    const archived = await fetch(`${s.worker.url}/api/sessions/${a.id}/archive`, {
      method: "POST",
      headers: { authorization: `Bearer ${a.ownerToken}`, "content-type": "application/json" },
      body: JSON.stringify({ archived: true }),
    });
    expect(archived.status).toBe(200);
    await until(() => held(viewB), 30_000, "b taken after a was archived");
    expect(waitingWhy(viewB)).toBeUndefined();
    expect(held(viewC)).toBe(false);
    await until(() => list.rows.get(b.id)?.status === "idle", 15_000, "b idle in the list");
    expect(list.rows.get(c.id)?.status).toBe("pending");
    expect(owner.logs()).toMatch(new RegExp(`room ${b.id}: taking it \\(waited \\d+ s for a free slot\\)`));

    // Delete b: the slot goes to c.
    const deleted = await fetch(`${s.worker.url}/api/sessions/${b.id}`, { method: "DELETE", headers: { authorization: `Bearer ${b.ownerToken}` } });
    expect(deleted.status).toBeLessThan(300);
    await until(() => held(viewC), 30_000, "c taken after b was deleted");
    await until(() => list.rows.get(c.id)?.status === "idle", 15_000, "c idle in the list");

    // Full again with d and e waiting (d longer); a second runner is added: it takes d first.
    const d = await s.worker.createSession({ title: "d" });
    await until(() => list.rows.get(d.id)?.status === "pending", 15_000, "d pending");
    const e = await s.worker.createSession({ title: "e" });
    await until(() => list.rows.get(e.id)?.status === "pending", 15_000, "e pending");
    const viewD = await joinRoom(s, d.id, "viewer");
    const viewE = await joinRoom(s, e.id, "viewer");
    const second = await s.startRunner({ name: "second", env: { AGENTROOM_MAX_SESSIONS: "1" } });
    await until(() => held(viewD), 60_000, "d taken by the added runner");
    await second.waitHolding(d.id);
    // e still waits (both runners full again), and says so.
    await until(() => list.rows.get(e.id)?.status === "pending" && waitingWhy(viewE), 15_000, "e still pending");
    expect(held(viewE)).toBe(false);

    // In Chromium: the list's pill and the room's badge say it, with why.
    const browser = await launchBrowser();
    try {
      const listPage = await openPage(browser, `${s.worker.url}/#token=${await s.worker.operatorToken()}`, { waitFor: `[data-session-id="${e.id}"]` });
      const row = listPage.page.locator(`[data-session-id="${e.id}"]`);
      expect(await row.locator(".status-pill").textContent()).toContain("Needs a runner");
      expect(await row.locator(".session-meta").textContent()).toMatch(/^Waiting for a runner: all runners are full \(since /);
      await screenshot(listPage.page, "list-waiting-for-runner");
      const viewerToken = await s.worker.mintToken({ sid: e.id, role: "viewer", name: "Vic" });
      const room = await openPage(browser, `${s.worker.url}/s/${e.id}#token=${viewerToken}`, { waitFor: ".agent-badge" });
      await room.page.waitForFunction(() => document.querySelector(".agent-badge")?.textContent?.includes("Waiting for a runner — all runners are full"), null, { timeout: 15_000 });
      expect([...listPage.errors, ...room.errors]).toEqual([]);
    } finally {
      await browser.close();
    }

    for (const v of [viewB, viewC, viewD, viewE]) v.close();
    list.close();
  }, 240_000);
});
