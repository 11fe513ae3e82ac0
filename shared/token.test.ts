import { describe, expect, it } from "vitest";
import { base64url } from "jose";
import { TOKEN_SHAPE, peekToken, signToken, verifyToken, type TokenPayload } from "./token.ts";

const SECRET = "test-secret";
const b64 = (v: unknown): string => base64url.encode(JSON.stringify(v));

/** A token in the two-part form minted before JWTs: payload, dot, HMAC-SHA256 of the payload text. */
async function twoPartToken(secret: string, payload: TokenPayload): Promise<string> {
  const body = b64(payload);
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
  return `${body}.${base64url.encode(sig)}`;
}

const now = Date.now();
const iat = Math.floor(now / 1000);
const claims: TokenPayload = { sid: "s1", role: "viewer", name: "v", iat, exp: iat + 3600, lid: "L1" };

describe("tokens", () => {
  it("are HS256 JWTs carrying the claims", async () => {
    const t = await signToken(SECRET, { sid: "s1", role: "driver", name: "d", ttlSeconds: 60, lid: "L2", chat: true }, now);
    const [header, body, sig, extra] = t.split(".");
    expect(extra).toBeUndefined();
    expect(sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(header!)))).toEqual({ alg: "HS256", typ: "JWT" });
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(body!)))).toEqual({ sid: "s1", role: "driver", name: "d", iat, exp: iat + 60, lid: "L2", chat: true });
    const v = await verifyToken(SECRET, t, "s1", now);
    expect(v).toEqual({ ok: true, payload: { sid: "s1", role: "driver", name: "d", iat, exp: iat + 60, lid: "L2", chat: true } });
    expect(peekToken(t)?.role).toBe("driver");
  });

  it("keeps accepting the two-part tokens minted before JWTs until they expire", async () => {
    const old = await twoPartToken(SECRET, claims);
    expect(await verifyToken(SECRET, old, "s1", now)).toEqual({ ok: true, payload: claims });
    expect(peekToken(old)).toEqual(claims);
    expect(await verifyToken(SECRET, old, "s1", (claims.exp + 1) * 1000)).toEqual({ ok: false, error: "expired" });
    expect(await verifyToken("other", old, "s1", now)).toEqual({ ok: false, error: "bad_signature" });
    const [, sig] = old.split(".");
    expect(await verifyToken(SECRET, `${b64({ ...claims, role: "owner" })}.${sig}`, "s1", now)).toEqual({ ok: false, error: "bad_signature" });
  });

  it("refuses a JWT with a bad signature, with alg none, with another alg, or tampered claims", async () => {
    const t = await signToken(SECRET, { sid: "s1", role: "viewer", name: "v", ttlSeconds: 60 }, now);
    const [header, body, sig] = t.split(".") as [string, string, string];
    const flipped = sig.slice(0, -2) + (sig.at(-2) === "A" ? "B" : "A") + sig.at(-1);
    expect(await verifyToken(SECRET, `${header}.${body}.${flipped}`, "s1", now)).toEqual({ ok: false, error: "bad_signature" });
    expect(await verifyToken("wrong-secret", t, "s1", now)).toEqual({ ok: false, error: "bad_signature" });
    const owner = b64({ ...peekToken(t), role: "owner", sid: "*" });
    expect(await verifyToken(SECRET, `${header}.${owner}.${sig}`, "s1", now)).toEqual({ ok: false, error: "bad_signature" });
    // Unsecured JWT: no signature at all.
    const none = `${b64({ alg: "none", typ: "JWT" })}.${owner}.`;
    expect((await verifyToken(SECRET, none, "s1", now)).ok).toBe(false);
    // Another HMAC algorithm signed with the same secret is still refused: only HS256 is accepted.
    const hs512 = `${b64({ alg: "HS512", typ: "JWT" })}.${body}`;
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(SECRET), { name: "HMAC", hash: "SHA-512" }, false, ["sign"]);
    const sig512 = base64url.encode(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(hs512))));
    expect(await verifyToken(SECRET, `${hs512}.${sig512}`, "s1", now)).toEqual({ ok: false, error: "bad_signature" });
  });

  it("says expired, wrong_session and malformed as before", async () => {
    const t = await signToken(SECRET, { sid: "s1", role: "viewer", name: "v", ttlSeconds: 60 }, now);
    expect(await verifyToken(SECRET, t, "s1", now + 60_000)).toEqual({ ok: false, error: "expired" });
    expect(await verifyToken(SECRET, t, "s2", now)).toEqual({ ok: false, error: "wrong_session" });
    for (const bad of ["garbage", "a.b.c.d", "@@.@@", "x".repeat(5000), `${t}x!`]) expect(await verifyToken(SECRET, bad, "s1", now), bad).toEqual({ ok: false, error: "malformed" });
    const notClaims = `${b64({ alg: "HS256" })}.${b64({ hello: 1 })}`;
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const s = base64url.encode(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(notClaims))));
    expect(await verifyToken(SECRET, `${notClaims}.${s}`, "s1", now)).toEqual({ ok: false, error: "malformed" });
  });

  it("TOKEN_SHAPE finds a whole JWT and a whole two-part token in text", async () => {
    const jwt = await signToken(SECRET, { sid: "s1", role: "viewer", name: "v", ttlSeconds: 60 }, now);
    const old = await twoPartToken(SECRET, claims);
    const text = `GET /x?token=${jwt}&b=1 then ${old}, and eyJnot.a.token`;
    expect([...text.matchAll(TOKEN_SHAPE)].map((m) => m[0])).toEqual([jwt, old]);
  });
});
