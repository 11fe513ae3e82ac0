/**
 * The Worker's HTTP API and upgrade checks: tokens verified before anything, unknown sessions 404
 * without a room object, roles per route, bodies validated and capped, embed CSP, the lobby.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { base64url } from "jose";
import type { Lobby } from "./lobby.ts";
import type { Env } from "./env.ts";
import { api, connect, connectRaw, createSession, operator, runner, token, worker, SECRET } from "./test-helpers.ts";

/** The frame-ancestors directive of a response's policy. */
const frameAncestors = (res: Response) =>
  (res.headers.get("Content-Security-Policy") ?? "").split(";").map((d) => d.trim()).find((d) => d.startsWith("frame-ancestors")) ?? null;

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

describe("health and routing", () => {
  it("answers /health with version, uptime and build", async () => {
    const res = await api("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ version: expect.any(String), uptime: expect.any(Number), build: expect.any(String) });
  });

  it("unknown API routes are 404 with the error body; wrong methods 405", async () => {
    const res = await api("/api/nope", { token: await operator() });
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ code: "not_found" });
    expect((await api("/api/sessions", { method: "PUT", token: await operator() })).status).toBe(405);
    const { id, ownerToken } = await createSession();
    expect((await api(`/api/sessions/${id}`, { method: "POST", token: ownerToken })).status).toBe(405);
    expect((await api(`/api/sessions/${id}/share`, { method: "GET", token: ownerToken })).status).toBe(405);
    expect((await api(`/api/sessions/${id}/archive`, { method: "GET", token: ownerToken })).status).toBe(405);
    expect((await api(`/api/sessions/${id}/history`, { method: "POST", token: ownerToken })).status).toBe(405);
  });
});

describe("sessions API", () => {
  it("creates (operator only), lists newest first with paging, reads one", async () => {
    const a = await createSession({ title: "first" });
    const b = await createSession({ title: "second", mode: "plan" });
    const list = await api("/api/sessions?limit=1", { token: await operator() });
    expect(list.status).toBe(200);
    const page1 = (await list.json()) as { sessions: { id: string; status: string }[]; nextCursor?: string };
    expect(page1.sessions).toHaveLength(1);
    expect(page1.nextCursor).toBeTruthy();
    const page2 = (await (await api(`/api/sessions?limit=1&cursor=${encodeURIComponent(page1.nextCursor!)}`, { token: await operator() })).json()) as { sessions: { id: string }[] };
    expect(page2.sessions).toHaveLength(1);
    expect(page2.sessions[0]!.id).not.toBe(page1.sessions[0]!.id);
    expect(page1.sessions[0]!.status).toBe("offline");
    const one = await api(`/api/sessions/${b.id}`, { token: b.ownerToken });
    expect(await one.json()).toMatchObject({ session: { id: b.id, title: "second", mode: "plan" } });
    // A session's own owner token cannot list or create: those need the operator.
    expect((await api("/api/sessions", { token: a.ownerToken })).status).toBe(403);
    expect((await api("/api/sessions", { method: "POST", token: a.ownerToken, body: {} })).status).toBe(403);
    expect((await api("/api/sessions", { method: "POST", token: await runner(), body: {} })).status).toBe(403);
  });

  it("keeps the git URL a session is cloned from, in the session and the list; refuses a bad one", async () => {
    const url = "https://github.com/owner/repo.git";
    const { id, ownerToken } = await createSession({ title: "from git", repository: url });
    const one = (await (await api(`/api/sessions/${id}`, { token: ownerToken })).json()) as { session: { repository?: string; workspace?: string } };
    expect(one.session.repository).toBe(url);
    expect(one.session.workspace).toBeUndefined(); // the runner reports where it cloned to
    const list = (await (await api("/api/sessions?limit=200", { token: await operator() })).json()) as { sessions: { id: string; repository?: string }[] };
    expect(list.sessions.find((s) => s.id === id)?.repository).toBe(url);

    const op = await operator();
    const before = (await listDurableObjectIds(env.SessionRoom)).length;
    for (const [body, says] of [
      [{ repository: "ext::sh -c id" }, "a git URL"],
      [{ repository: "-uhack" }, "a git URL"],
      [{ repository: "https://me:secret@github.com/o/r.git" }, "no password"],
      [{ repository: url, directory: "/srv/x" }, "not both"],
    ] as const) {
      const res = await api("/api/sessions", { method: "POST", token: op, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      const err = await errorOf(res);
      expect(err.code).toBe("bad_request");
      expect(err.message).toContain(says);
    }
    expect((await listDurableObjectIds(env.SessionRoom)).length).toBe(before);
  });

  it("validates bodies: bad JSON 400, wrong shape 400, too large 413", async () => {
    const op = await operator();
    const bad = await api("/api/sessions", { method: "POST", token: op, body: "{nope" });
    expect(bad.status).toBe(400);
    expect(await errorOf(bad)).toMatchObject({ code: "bad_json" });
    const shape = await api("/api/sessions", { method: "POST", token: op, body: { title: 5 } });
    expect(shape.status).toBe(400);
    expect(await errorOf(shape)).toMatchObject({ code: "bad_request" });
    const origins = await api("/api/sessions", { method: "POST", token: op, body: { allowedOrigins: ["not a url"] } });
    expect(origins.status).toBe(400);
    const big = await api("/api/sessions", { method: "POST", token: op, body: { title: "x".repeat(70_000) } });
    expect(big.status).toBe(413);
  });

  it("refuses a streamed body past the cap with 413: a modest excess is drained, a huge one cut off", async () => {
    const op = await operator();
    const ns = (env as unknown as Env).SessionRoom;
    const before = (await listDurableObjectIds(ns)).length;
    // A chunked body has no content-length, so the Worker counts as it reads.
    const streamed = (chunks: number) => {
      const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
      const seen = { pulled: 0, cancelled: false };
      const body = new ReadableStream<Uint8Array>({
        pull(ctrl) {
          if (seen.pulled++ < chunks) ctrl.enqueue(chunk);
          else ctrl.close();
        },
        cancel() {
          seen.cancelled = true;
        },
      });
      return { body, seen };
    };
    const post = (body: ReadableStream<Uint8Array>) =>
      worker().fetch("http://agentroom.test/api/sessions", {
        method: "POST",
        headers: { authorization: `Bearer ${op}`, "content-type": "application/json" },
        body,
      });
    const modest = streamed(6); // 96 KB against a 64 KB cap
    const r1 = await post(modest.body);
    expect(r1.status).toBe(413);
    expect(await errorOf(r1)).toMatchObject({ code: "body_too_large" });
    expect(modest.seen.cancelled).toBe(false);
    const huge = streamed(256); // 4 MB
    const r2 = await post(huge.body);
    expect(r2.status).toBe(413);
    expect(await errorOf(r2)).toMatchObject({ code: "body_too_large" });
    expect(huge.seen.pulled).toBeLessThan(256);
    expect((await listDurableObjectIds(ns)).length).toBe(before);
  });

  it("an unknown session id is 404 and creates no room object", async () => {
    const ns = (env as unknown as Env).SessionRoom;
    const before = (await listDurableObjectIds(ns)).length;
    const op = await operator();
    expect((await api("/api/sessions/doesnotexist", { token: op })).status).toBe(404);
    expect((await api("/api/sessions/doesnotexist/history", { token: op })).status).toBe(404);
    expect((await connectRaw("doesnotexist", op)).status).toBe(404);
    expect((await api("/embed/doesnotexist")).status).toBe(404);
    expect((await listDurableObjectIds(ns)).length).toBe(before);
  });

  it("history pages before a message id", async () => {
    const { id, ownerToken } = await createSession();
    const res = await api(`/api/sessions/${id}/history?limit=10`, { token: ownerToken });
    expect(await res.json()).toEqual({ messages: [], hasMore: false });
  });
});

describe("tokens", () => {
  it("refuses missing, tampered, expired, wrong-secret and other-session tokens, over HTTP and WebSocket", async () => {
    const { id } = await createSession();
    const other = await createSession();
    const good = await token(id, "owner");
    const [header, body, sig] = good.split(".");
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(body!))) as Record<string, unknown>;
    const forgedBody = `${header}.${base64url.encode(JSON.stringify({ ...payload, role: "owner", sid: "*" }))}`;
    const cases: [string, string | undefined, string][] = [
      ["missing", undefined, "unauthorized"],
      ["garbage", "garbage", "malformed"],
      ["tampered", `${forgedBody}.${sig}`, "bad_signature"],
      ["expired", await token(id, "owner", "x", -10), "expired"],
      ["wrong secret", await token(id, "owner", "x", 3600, "another-secret"), "bad_signature"],
      ["other session", await token(other.id, "owner"), "wrong_session"],
    ];
    for (const [label, tok, code] of cases) {
      const res = await api(`/api/sessions/${id}`, tok ? { token: tok } : {});
      expect(res.status, label).toBe(401);
      expect((await errorOf(res)).code, label).toBe(code);
      const ws = await worker().fetch(`http://room.test/parties/session-room/${id}`, {
        headers: { Upgrade: "websocket", ...(tok ? { "Sec-WebSocket-Protocol": `agentroom, t.${tok}` } : {}) },
      });
      expect(ws.status, `ws ${label}`).toBe(401);
      expect(ws.webSocket).toBeNull();
    }
    expect(SECRET).toBeTruthy();
  });

  it("answers the agentroom subprotocol; ?token= is refused as token_in_url, not echoed", async () => {
    const { id } = await createSession();
    const res = await connectRaw(id, await token(id, "viewer"));
    expect(res.status).toBe(101);
    expect(res.headers.get("Sec-WebSocket-Protocol")).toBe("agentroom");
    res.webSocket!.accept();
    res.webSocket!.close();
    const tok = await token(id, "viewer");
    const q = await connectRaw(id, tok, { via: "query" });
    expect(q.status).toBe(401);
    expect(q.webSocket).toBeNull();
    const text = await q.text();
    expect(JSON.parse(text)).toMatchObject({ error: { code: "token_in_url" } });
    expect(text).not.toContain(tok.split(".")[1]!);
  });

  it("a non-upgrade request to a room is 426", async () => {
    const { id } = await createSession();
    const res = await api(`/parties/session-room/${id}`, { token: await token(id, "viewer") });
    expect(res.status).toBe(426);
  });
});

describe("owner-only routes", () => {
  it("share tokens: owner mints viewer and driver links; viewer and driver are refused", async () => {
    const { id, ownerToken } = await createSession();
    const res = await api(`/api/sessions/${id}/share`, { method: "POST", token: ownerToken, body: { role: "viewer", name: "Vic" } });
    expect(res.status).toBe(200);
    const share = (await res.json()) as { token: string; url: string; embedUrl: string; role: string };
    expect(share).toMatchObject({ role: "viewer", url: expect.stringContaining(`/s/${id}#token=`), embedUrl: expect.stringContaining(`/embed/${id}#token=`) });
    const v = await connect(id, share.token);
    await v.waitFor((f) => f.type === "welcome" && (f.you as { role: string; name: string }).role === "viewer" && (f.you as { name: string }).name === "Vic");
    for (const role of ["viewer", "driver"] as const) {
      const r = await api(`/api/sessions/${id}/share`, { method: "POST", token: await token(id, role), body: { role: "driver" } });
      expect(r.status).toBe(403);
      expect(await errorOf(r)).toMatchObject({ code: "forbidden" });
    }
    const bad = await api(`/api/sessions/${id}/share`, { method: "POST", token: ownerToken, body: { role: "owner" } });
    expect(bad.status).toBe(400);
  });

  it("delete and archive: viewer and driver refused, session unchanged", async () => {
    const { id, ownerToken } = await createSession({ title: "keep" });
    for (const role of ["viewer", "driver"] as const) {
      const t = await token(id, role);
      expect((await api(`/api/sessions/${id}`, { method: "DELETE", token: t })).status).toBe(403);
      expect((await api(`/api/sessions/${id}/archive`, { method: "POST", token: t, body: { archived: true } })).status).toBe(403);
    }
    expect(await (await api(`/api/sessions/${id}`, { token: ownerToken })).json()).toMatchObject({ session: { title: "keep", archived: false } });
  });

  it("archive makes the room read-only; unarchive restores it", async () => {
    const { id, ownerToken } = await createSession();
    const d = await connect(id, await token(id, "driver"));
    await d.waitType("caught-up");
    const res = await api(`/api/sessions/${id}/archive`, { method: "POST", token: ownerToken, body: { archived: true } });
    expect(res.status).toBe(200);
    expect(await d.request({ type: "prompt", ref: "p", id: "q", text: "x" })).toMatchObject({ code: "archived" });
    expect(await d.request({ type: "mode.set", ref: "m", mode: "plan" })).toMatchObject({ code: "archived" });
    const list = (await (await api(`/api/sessions?archived=1`, { token: await operator() })).json()) as { sessions: { id: string; status: string }[] };
    expect(list.sessions.find((s) => s.id === id)?.status).toBe("archived");
    const agent = await connect(id, await runner());
    await agent.waitFor((f) => f.type === "agent.lease" && f.granted === false);
    await api(`/api/sessions/${id}/archive`, { method: "POST", token: ownerToken, body: { archived: false } });
    expect(await d.request({ type: "prompt", ref: "p2", id: "q", text: "x" })).toMatchObject({ type: "ack" });
  });
});

describe("embed", () => {
  it("serves the app with frame-ancestors from the session's allowed origins", async () => {
    const { id } = await createSession({ allowedOrigins: ["https://blog.example.com", "http://localhost:5173/"] });
    const res = await api(`/embed/${id}`);
    expect(res.status).toBe(200);
    expect(frameAncestors(res)).toBe("frame-ancestors 'self' https://blog.example.com http://localhost:5173");
    expect(res.headers.get("X-Frame-Options")).toBeNull();
    expect(await res.text()).toContain("<");
  });

  it("the owner changes the allowed origins; others, bad origins and archived sessions are refused", async () => {
    const { id, ownerToken } = await createSession({ allowedOrigins: ["https://blog.example.com"] });
    const put = (token: string, body: unknown) => api(`/api/sessions/${id}/origins`, { method: "PUT", token, body });
    const csp = async () => frameAncestors(await api(`/embed/${id}`));

    const ok = await put(ownerToken, { origins: ["https://docs.example.com/guide", "https://docs.example.com", "http://localhost:5173"] });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { session: { allowedOrigins: string[] } }).session.allowedOrigins).toEqual(["https://docs.example.com", "http://localhost:5173"]);
    expect(await csp()).toBe("frame-ancestors 'self' https://docs.example.com http://localhost:5173");

    for (const role of ["viewer", "driver"] as const) {
      const r = await put(await token(id, role), { origins: ["https://evil.example"] });
      expect(r.status).toBe(403);
    }
    for (const origins of [["javascript:alert(1)"], ["not a url"], ["data:text/html,hi"], Array(51).fill("https://a.example")]) {
      const r = await put(ownerToken, { origins });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe("bad_request");
    }
    expect((await api(`/api/sessions/${id}/origins`, { method: "POST", token: ownerToken, body: { origins: [] } })).status).toBe(405);
    expect(await csp()).toBe("frame-ancestors 'self' https://docs.example.com http://localhost:5173");

    // Clearing them leaves only the app itself.
    expect((await put(ownerToken, { origins: [] })).status).toBe(200);
    expect(await csp()).toBe("frame-ancestors 'self'");

    await api(`/api/sessions/${id}/archive`, { method: "POST", token: ownerToken, body: { archived: true } });
    const archived = await put(ownerToken, { origins: ["https://docs.example.com"] });
    expect(archived.status).toBe(409);
    expect(((await archived.json()) as { error: { code: string } }).error.code).toBe("archived");
    expect(await csp()).toBe("frame-ancestors 'self'");
  });
});

describe("lobby", () => {
  it("needs an operator or runner token and streams session changes", async () => {
    const viewerRes = await worker().fetch("http://room.test/parties/lobby/main", {
      headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": `agentroom, t.${await token("x", "viewer")}` },
    });
    expect(viewerRes.status).toBe(403);
    const res = await worker().fetch("http://room.test/parties/lobby/main", {
      headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": `agentroom, t.${await runner()}` },
    });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const frames: { type: string; session?: { id: string; status: string } }[] = [];
    ws.accept();
    ws.addEventListener("message", (e) => {
      frames.push(JSON.parse(String(e.data)));
    });
    const { id } = await createSession({ title: "live" });
    const deadline = Date.now() + 3000;
    while (!frames.some((f) => f.type === "session.changed" && f.session?.id === id) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(frames[0]!.type).toBe("sessions");
    expect(frames.some((f) => f.type === "session.changed" && f.session?.id === id)).toBe(true);
    ws.close();
  });

  it("an index made before sessions had a repository gains the column and keeps its rows", async () => {
    const stub = env.Lobby.get(env.Lobby.idFromName("before-repository"));
    await runInDurableObject(stub, (lobby: Lobby, state) => {
      // The first release's table, with a row in it.
      state.storage.sql.exec(`CREATE TABLE sessions (
        id TEXT PRIMARY KEY, title TEXT NOT NULL, status TEXT NOT NULL, workspace TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, archived INTEGER NOT NULL, demo INTEGER)`);
      state.storage.sql.exec(`INSERT INTO sessions VALUES ('old', 'old one', 'idle', '/w/old', 1, 2, 0, NULL)`);
      expect(lobby.get("old")).toEqual({ id: "old", title: "old one", status: "idle", workspace: "/w/old", createdAt: 1, updatedAt: 2, archived: false });
      const fresh = { id: "new", title: "new one", status: "offline" as const, repository: "https://github.com/o/r.git", createdAt: 3, updatedAt: 4, archived: false };
      lobby.upsert(fresh);
      // A session with no runner also gets since when it waits (for runners to take the oldest first).
      expect(lobby.get("new")).toEqual({ ...fresh, waitingSince: expect.any(Number) });
      expect(lobby.list({}).sessions.map((x) => x.id)).toEqual(["new", "old"]);
    });
  });
});
