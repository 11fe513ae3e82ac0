/**
 * Links you can take back (party/links.ts), tickets instead of tokens in socket URLs, and no token
 * in any URL — through the real Worker and room in workerd.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import type { SessionRoom } from "./session-room.ts";
import type { SessionRelay } from "./relay.ts";
import type { Env } from "./env.ts";
import { relayName } from "../shared/relay.ts";
import { api, connect, connectRaw, createSession, operator, token, worker, TestClient } from "./test-helpers.ts";
import { LinkRecordSchema, type LinkRecord, type PresenceUser } from "../shared/protocol.ts";

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

async function share(id: string, ownerToken: string, role: "viewer" | "driver", name: string): Promise<{ token: string; linkId: string }> {
  const res = await api(`/api/sessions/${id}/share`, { method: "POST", token: ownerToken, body: { role, name } });
  expect(res.status).toBe(200);
  return (await res.json()) as { token: string; linkId: string };
}

async function listLinks(id: string, tok: string): Promise<LinkRecord[]> {
  const res = await api(`/api/sessions/${id}/links`, { token: tok });
  expect(res.status).toBe(200);
  return ((await res.json()) as { links: unknown[] }).links.map((l) => LinkRecordSchema.parse(l));
}

const revoke = (id: string, tok: string, linkId?: string) =>
  api(`/api/sessions/${id}/links${linkId ? "/" + linkId : ""}`, { method: "DELETE", token: tok });

/** Waits until the socket is closed; returns its code and how long that took from `since`. */
async function closedWithin(c: TestClient, since: number, ms: number): Promise<{ code: number; after: number }> {
  for (;;) {
    if (c.closed) return { code: c.closed.code, after: Date.now() - since };
    if (Date.now() - since > ms) throw new Error(`socket still open after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("link records", () => {
  it("every minted link is a record the owner lists; viewers and drivers may not list or revoke", async () => {
    const { id, ownerToken } = await createSession({ name: "Olive" });
    const v = await share(id, ownerToken, "viewer", "Vic");
    expect(v.linkId).toMatch(/^[A-Za-z0-9_-]+$/);
    const links = await listLinks(id, ownerToken);
    expect(links.map((l) => l.role).sort()).toEqual(["owner", "viewer"]);
    const rec = links.find((l) => l.id === v.linkId)!;
    expect(rec).toMatchObject({ role: "viewer", name: "Vic", createdBy: "Olive", revokedAt: null });
    expect(rec.expiresAt - rec.createdAt).toBe(7 * 24 * 3600 * 1000);
    // A use is noted.
    expect((await api(`/api/sessions/${id}`, { token: v.token })).status).toBe(200);
    expect((await listLinks(id, ownerToken)).find((l) => l.id === v.linkId)!.lastUsedAt).toBeGreaterThanOrEqual(rec.createdAt);
    for (const t of [v.token, (await share(id, ownerToken, "driver", "Dee")).token]) {
      expect((await api(`/api/sessions/${id}/links`, { token: t })).status).toBe(403);
      expect((await revoke(id, t, v.linkId)).status).toBe(403);
    }
    expect((await revoke(id, ownerToken, "no-such-link")).status).toBe(404);
  });

  it("a revoked link gets 401 revoked on HTTP and upgrade; its live viewer and driver sockets close with 4411 within 1 s; presence and owners' lists update", async () => {
    const { id, ownerToken } = await createSession();
    const v = await share(id, ownerToken, "viewer", "Vic");
    const d = await share(id, ownerToken, "driver", "Dee");
    const keep = await share(id, ownerToken, "viewer", "Kim");
    const owner = await connect(id, ownerToken);
    await owner.waitType("caught-up");
    const viewer = await connect(id, v.token);
    const driver = await connect(id, d.token);
    const other = await connect(id, keep.token);
    for (const c of [viewer, driver, other]) await c.waitType("caught-up");
    await owner.waitFor((f) => f.type === "presence" && (f.users as PresenceUser[]).length === 4);

    const from = owner.frames.length;
    const t0 = Date.now();
    const r1 = await revoke(id, ownerToken, v.linkId);
    const r2 = await revoke(id, ownerToken, d.linkId);
    expect(await r1.json()).toEqual({ revoked: [v.linkId] });
    expect(await r2.json()).toEqual({ revoked: [d.linkId] });
    for (const c of [viewer, driver]) {
      const { code, after } = await closedWithin(c, t0, 1000);
      expect(code).toBe(4411);
      expect(after).toBeLessThan(1000);
    }
    expect(other.closed).toBeUndefined();
    // Presence drops them; every owner's list shows the revocation.
    const p = await owner.waitFor((f) => f.type === "presence" && (f.users as PresenceUser[]).length === 2, 5000, from);
    expect((p.users as PresenceUser[]).map((u) => u.name).sort()).toEqual(["Kim", "operator"]);
    const lf = await owner.waitFor((f) => f.type === "links" && (f.links as LinkRecord[]).some((l) => l.id === d.linkId && l.revokedAt !== null), 5000, from);
    expect((lf.links as LinkRecord[]).find((l) => l.id === keep.linkId)!.revokedAt).toBeNull();
    expect(other.ofType("links")).toEqual([]); // viewers never see the list

    for (const t of [v.token, d.token]) {
      const http = await api(`/api/sessions/${id}`, { token: t });
      expect(http.status).toBe(401);
      expect(await errorOf(http)).toMatchObject({ code: "revoked" });
      const up = await connectRaw(id, t);
      expect(up.status).toBe(401);
      expect(up.webSocket).toBeNull();
      expect(await errorOf(up)).toMatchObject({ code: "revoked" });
    }
    // Revoking again changes nothing.
    expect(await (await revoke(id, ownerToken, v.linkId)).json()).toEqual({ revoked: [] });
    for (const c of [owner, other]) c.close();
  });

  it("a viewer a relay holds is refused and closed like any other: revoke reaches the relay, and its upgrade gets 401 revoked", async () => {
    const { id, ownerToken } = await createSession();
    const relays = (env as unknown as Env & { SessionRelay: DurableObjectNamespace<SessionRelay> }).SessionRelay;
    // Every viewer goes to a relay.
    await runInDurableObject(env.SessionRoom.getByName(id), (room: SessionRoom) => {
      room.limits.relayAfterViewers = 0;
      room.limits.relayCapacity = 10;
    });
    const v = await share(id, ownerToken, "viewer", "Vic");
    const viewer = await connect(id, v.token);
    await viewer.waitType("caught-up");
    const onRelay = () => runInDurableObject(relays.getByName(relayName(id, 0)), (r: SessionRelay) => [...r.getConnections()].length);
    expect(await onRelay()).toBe(1);
    const t0 = Date.now();
    await revoke(id, ownerToken, v.linkId);
    const { code, after } = await closedWithin(viewer, t0, 1000);
    expect(code).toBe(4411);
    expect(after).toBeLessThan(1000);
    const up = await connectRaw(id, v.token);
    expect(up.status).toBe(401);
    expect(await errorOf(up)).toMatchObject({ code: "revoked" });
  });

  it("DELETE /links revokes every share link but not the owner's", async () => {
    const { id, ownerToken } = await createSession();
    const a = await share(id, ownerToken, "viewer", "a");
    const b = await share(id, ownerToken, "driver", "b");
    const res = await revoke(id, ownerToken);
    expect(((await res.json()) as { revoked: string[] }).revoked.sort()).toEqual([a.linkId, b.linkId].sort());
    expect((await api(`/api/sessions/${id}`, { token: a.token })).status).toBe(401);
    expect((await api(`/api/sessions/${id}`, { token: ownerToken })).status).toBe(200);
  });

  it("rotation issues a new owner link and revokes the old one (its socket closes)", async () => {
    const { id, ownerToken } = await createSession();
    const old = await connect(id, ownerToken);
    await old.waitType("caught-up");
    const res = await api(`/api/sessions/${id}/links/rotate`, { method: "POST", token: ownerToken });
    expect(res.status).toBe(200);
    const rotated = (await res.json()) as { token: string; url: string; linkId: string; revoked: string[] };
    expect(rotated.revoked).toHaveLength(1);
    expect(rotated.url).toBe(`/s/${id}#token=${rotated.token}`);
    expect((await closedWithin(old, Date.now(), 1000)).code).toBe(4411);
    expect(await errorOf(await api(`/api/sessions/${id}`, { token: ownerToken }))).toMatchObject({ code: "revoked" });
    const links = await listLinks(id, rotated.token);
    expect(links.filter((l) => l.role === "owner" && l.revokedAt === null).map((l) => l.id)).toEqual([rotated.linkId]);
    // The operator (no link of its own) rotating revokes every owner link but the new one.
    const op = await api(`/api/sessions/${id}/links/rotate`, { method: "POST", token: await operator() });
    const byOp = (await op.json()) as { token: string; revoked: string[] };
    expect(byOp.revoked).toEqual([rotated.linkId]);
    expect((await api(`/api/sessions/${id}`, { token: rotated.token })).status).toBe(401);
    expect((await api(`/api/sessions/${id}`, { token: byOp.token })).status).toBe(200);
  });
});

describe("no token in any URL", () => {
  it("?token= on any API route is 401 token_in_url, not echoed, even beside a good Bearer", async () => {
    const { id, ownerToken } = await createSession();
    for (const path of [`/api/sessions/${id}`, `/api/sessions`, `/api/sessions/${id}/links`, `/health`, `/parties/lobby/main`]) {
      const res = await api(`${path}?token=${encodeURIComponent(ownerToken)}`, { token: ownerToken });
      expect(res.status, path).toBe(401);
      const text = await res.text();
      expect(JSON.parse(text), path).toMatchObject({ error: { code: "token_in_url" } });
      expect(text).not.toContain(ownerToken.split(".")[1]!);
    }
    // The owner link travelled in a URL: it is spent (revoked, and listed as exposed).
    expect((await api(`/api/sessions/${id}`, { token: ownerToken })).status).toBe(401);
    const op = await operator();
    const listed = (await (await api(`/api/sessions/${id}/links`, { token: op })).json()) as { links: { role: string; revokedAt: number | null; revokedReason?: string }[] };
    expect(listed.links.find((l) => l.role === "owner")).toMatchObject({ revokedReason: "exposed_in_url" });
  });
});

describe("tickets", () => {
  const ticketFor = async (id: string, tok: string) => {
    const res = await api(`/api/sessions/${id}/ticket`, { method: "POST", token: tok });
    expect(res.status).toBe(200);
    return (await res.json()) as { ticket: string; expiresAt: number };
  };
  const upgradeWith = (id: string, ticket: string) =>
    worker().fetch(`http://room.test/parties/session-room/${id}?ticket=${encodeURIComponent(ticket)}`, { headers: { Upgrade: "websocket" } });

  it("a ticket opens one socket with the role and name it was issued for, once", async () => {
    const { id, ownerToken } = await createSession();
    const v = await share(id, ownerToken, "viewer", "Vic");
    const t = await ticketFor(id, v.token);
    expect(t.expiresAt - Date.now()).toBeLessThanOrEqual(30_000);
    expect(t.expiresAt - Date.now()).toBeGreaterThan(25_000);
    const res = await upgradeWith(id, t.ticket);
    expect(res.status).toBe(101);
    const c = new TestClient(res.webSocket!);
    const welcome = await c.waitType<{ you: { role: string; name: string } }>("welcome");
    expect(welcome.you).toMatchObject({ role: "viewer", name: "Vic" });
    // The role is the ticket's: a viewer's ticket cannot prompt.
    expect(await c.request({ type: "prompt", ref: "p", id: "q1", text: "hi" })).toMatchObject({ type: "error", code: "forbidden" });
    // Single use.
    const again = await upgradeWith(id, t.ticket);
    expect(again.status).toBe(401);
    expect(await errorOf(again)).toMatchObject({ code: "bad_ticket" });
    // A ticket's socket is revoked with its link.
    await revoke(id, ownerToken, v.linkId);
    expect((await closedWithin(c, Date.now(), 1000)).code).toBe(4411);
  });

  it("refuses an expired ticket, another session's, a forged one, and one whose link was revoked first", async () => {
    const a = await createSession();
    const b = await createSession();
    const expired = await ticketFor(a.id, a.ownerToken);
    await runInDurableObject(env.SessionRoom.getByName(a.id), (_room: SessionRoom, state) => {
      state.storage.sql.exec(`UPDATE tickets SET expires_at = ?`, Date.now() - 1);
    });
    expect(await errorOf(await upgradeWith(a.id, expired.ticket))).toMatchObject({ code: "bad_ticket" });
    const forB = await ticketFor(b.id, b.ownerToken);
    const wrong = await upgradeWith(a.id, forB.ticket);
    expect(wrong.status).toBe(401);
    expect(await errorOf(wrong)).toMatchObject({ code: "bad_ticket" });
    // Its own session never saw the wrong one's attempt, so it still takes it, once.
    expect((await upgradeWith(b.id, forB.ticket)).status).toBe(101);
    expect((await upgradeWith(a.id, "x".repeat(43))).status).toBe(401);
    const v = await share(a.id, a.ownerToken, "viewer", "v");
    const t = await ticketFor(a.id, v.token);
    await revoke(a.id, a.ownerToken, v.linkId);
    const late = await upgradeWith(a.id, t.ticket);
    expect(late.status).toBe(401);
    expect(await errorOf(late)).toMatchObject({ code: "revoked" });
    // Asking for a ticket needs a good Bearer for this session.
    expect((await api(`/api/sessions/${a.id}/ticket`, { method: "POST", token: await token(b.id, "owner") })).status).toBe(401);
    expect((await api(`/api/sessions/${a.id}/ticket`, { method: "POST" })).status).toBe(401);
  });
});
