/**
 * Sign-in with Cloudflare Access, offline: assertions signed with a key set made in
 * party/vitest.config.ts (good, expired, wrong audience, wrong issuer, wrong key, no email), first
 * against `verifyAccessJwt`, then through the real Worker and room (operator by email, a session
 * shared with a named person, revoking that grant).
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { SignJWT, generateKeyPair, importJWK, type JWK } from "jose";
import { accessConfig, verifyAccessJwt } from "./access.ts";
import { api, createSession, worker, TestClient } from "./test-helpers.ts";

const vars = env as unknown as Record<string, string>;
const ISSUER = vars.ACCESS_TEAM_DOMAIN!;
const AUD = vars.ACCESS_AUD!;

async function assertion(
  email: string | undefined,
  o: { aud?: string; iss?: string; expiresIn?: string | number; key?: CryptoKey | Uint8Array } = {},
): Promise<string> {
  const key = o.key ?? ((await importJWK(JSON.parse(vars.ACCESS_TEST_PRIVATE_JWK!) as JWK, "RS256")) as CryptoKey);
  return new SignJWT(email ? { email } : {})
    .setProtectedHeader({ alg: "RS256", kid: "test-key" })
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? AUD)
    .setIssuedAt(Math.floor(Date.now() / 1000) - 60)
    .setExpirationTime(o.expiresIn ?? "1h")
    .sign(key);
}

const asPerson = (jwt: string) => ({ headers: { "Cf-Access-Jwt-Assertion": jwt } });
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe("verifyAccessJwt", () => {
  it("accepts a good assertion and refuses expired, wrong audience, wrong issuer, wrong key and no email", async () => {
    const cfg = accessConfig(vars)!;
    expect(cfg).not.toBeNull();
    expect(await verifyAccessJwt(cfg, await assertion("Dev@Example.com"))).toEqual({ ok: true, email: "dev@example.com" });
    const expired = await verifyAccessJwt(cfg, await assertion("dev@example.com", { expiresIn: Math.floor(Date.now() / 1000) - 10 }));
    expect(expired).toMatchObject({ ok: false, error: "access_expired" });
    expect(await verifyAccessJwt(cfg, await assertion("dev@example.com", { aud: "another-app" }))).toMatchObject({ ok: false, error: "access_invalid" });
    expect(await verifyAccessJwt(cfg, await assertion("dev@example.com", { iss: "https://evil.cloudflareaccess.com" }))).toMatchObject({ ok: false, error: "access_invalid" });
    const other = await generateKeyPair("RS256");
    expect(await verifyAccessJwt(cfg, await assertion("dev@example.com", { key: other.privateKey }))).toMatchObject({ ok: false, error: "access_invalid" });
    expect(await verifyAccessJwt(cfg, await assertion(undefined))).toMatchObject({ ok: false, error: "access_invalid" });
    expect(await verifyAccessJwt(cfg, "not.a.jwt")).toMatchObject({ ok: false, error: "access_invalid" });
  });

  it("is off unless both the team domain and the audience are set", () => {
    expect(accessConfig({ ACCESS_TEAM_DOMAIN: ISSUER })).toBeNull();
    expect(accessConfig({ ACCESS_AUD: AUD })).toBeNull();
  });
});

describe("signed-in people through the Worker", () => {
  it("an operator by email creates; a person the owner shared with acts with that role; others are refused; revoking the grant shuts them out", async () => {
    const created = await api("/api/sessions", { method: "POST", body: { title: "by email" }, ...asPerson(await assertion("op@example.com")) });
    expect(created.status).toBe(201);
    const { id, ownerToken } = (await created.json()) as { id: string; ownerToken: string };

    const dev = await assertion("dev@example.com");
    expect(await errorOf(await api(`/api/sessions/${id}`, asPerson(dev)))).toBe("not_shared");
    const grant = await api(`/api/sessions/${id}/people`, { method: "POST", token: ownerToken, body: { email: "Dev@example.com", role: "driver" } });
    expect(grant.status).toBe(201);
    const link = ((await grant.json()) as { link: { id: string; email: string; role: string } }).link;
    expect(link).toMatchObject({ email: "dev@example.com", role: "driver" });
    // This deployment verifies Access sign-ins: the Share dialog may offer sharing by email.
    expect(((await (await api(`/api/sessions/${id}/links`, { token: ownerToken })).json()) as { accessSignIn: boolean }).accessSignIn).toBe(true);
    expect((await api(`/api/sessions/${id}`, asPerson(dev))).status).toBe(200);
    // Not an operator: may not list sessions.
    expect((await api("/api/sessions", asPerson(dev))).status).toBe(403);

    const up = await worker().fetch(`http://room.test/parties/session-room/${id}`, { headers: { Upgrade: "websocket", "Cf-Access-Jwt-Assertion": dev } });
    expect(up.status).toBe(101);
    const c = new TestClient(up.webSocket!);
    const welcome = await c.waitType<{ you: { role: string; name: string } }>("welcome");
    expect(welcome.you).toMatchObject({ role: "driver", name: "dev@example.com" });

    const revoked = await api(`/api/sessions/${id}/links/${link.id}`, { method: "DELETE", token: ownerToken });
    expect(await revoked.json()).toEqual({ revoked: [link.id] });
    await c.waitFor(() => c.closed !== undefined, 2000);
    expect(c.closed!.code).toBe(4411);
    // With the grant revoked, the person is no longer shared with.
    expect(await errorOf(await api(`/api/sessions/${id}`, asPerson(dev)))).toBe("not_shared");

    for (const [jwt, code] of [
      [await assertion("dev@example.com", { expiresIn: Math.floor(Date.now() / 1000) - 10 }), "access_expired"],
      [await assertion("dev@example.com", { aud: "another-app" }), "access_invalid"],
    ] as const) {
      const res = await api(`/api/sessions/${id}`, asPerson(jwt));
      expect(res.status).toBe(401);
      expect(await errorOf(res)).toBe(code);
    }
    // A token still wins over the header: bearer links work beside sign-in.
    expect((await api(`/api/sessions/${id}`, { token: ownerToken, ...asPerson(dev) })).status).toBe(200);
    // The stats of /health are for the operator, by token or by email.
    expect(await (await api("/health", asPerson(await assertion("op@example.com")))).json()).toHaveProperty("sessions");
    expect(await (await api("/health", asPerson(dev))).json()).not.toHaveProperty("sessions");
  });
});

describe("/health", () => {
  it("is public with version and uptime; with the operator's token adds sessions by status, live connections and runners online", async () => {
    const pub = (await (await api("/health")).json()) as Record<string, unknown>;
    expect(Object.keys(pub).sort()).toEqual(["build", "uptime", "version"]);
    const { id } = await createSession();
    const { operator, runner, connect, token } = await import("./test-helpers.ts");
    const viewer = await connect(id, await token(id, "viewer"));
    await viewer.waitType("caught-up");
    const lobbyRes = await worker().fetch("http://room.test/parties/lobby/main", { headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": `agentroom, t.${await runner()}` } });
    const lobbySock = new TestClient(lobbyRes.webSocket!);
    await lobbySock.waitType("sessions");
    const stats = (await (await api("/health", { token: await operator() })).json()) as {
      sessions: Record<string, number>;
      connections: { rooms: number; roomsCounted: number; lobby: number };
      runnersOnline: number;
    };
    expect(stats.sessions.offline).toBeGreaterThanOrEqual(1);
    expect(stats.connections.rooms).toBeGreaterThanOrEqual(1);
    expect(stats.connections.lobby).toBeGreaterThanOrEqual(1);
    expect(stats.runnersOnline).toBeGreaterThanOrEqual(1);
    // Anyone else, a bad token included, gets the public answer.
    for (const t of [await token(id, "owner"), "garbage"]) {
      const res = await api("/health", { token: t });
      expect(res.status).toBe(200);
      expect(Object.keys((await res.json()) as object).sort()).toEqual(["build", "uptime", "version"]);
    }
    viewer.close();
    lobbySock.close();
  });
});
