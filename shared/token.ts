/**
 * Signed access tokens: `base64url(json payload) + "." + base64url(HMAC-SHA256(payload))`.
 * Web Crypto only, so the Worker, the runner and the tests share this one implementation.
 *
 * `sid` is a session id, or "*" for tokens that span sessions: the operator's (role owner: may
 * create and list sessions) and the runner's (role agent).
 */
import { z } from "zod";
import { RoleSchema, type Role } from "./protocol.ts";

export const TokenPayloadSchema = z.object({
  sid: z.string().min(1).max(128),
  role: RoleSchema,
  /** Expiry, seconds since the epoch. */
  exp: z.number().int(),
  name: z.string().max(100),
  /** Issued at, seconds since the epoch. */
  iat: z.number().int(),
  /**
   * The link's id: its record in the session (party/links.ts), which the owner can revoke, and
   * the author id of its chat messages. Tokens signed directly with the secret (the operator's,
   * the runner's, `npm run token`) and older ones have none and cannot be revoked.
   */
  lid: z.string().max(64).regex(/^[A-Za-z0-9_-]+$/).optional(),
  /** A viewer with this link may chat (ShareBody `canChat`). */
  chat: z.boolean().optional(),
});
export type TokenPayload = z.infer<typeof TokenPayloadSchema>;

export const ALL_SESSIONS = "*";

export type TokenError = "malformed" | "bad_signature" | "expired" | "wrong_session";

const enc = new TextEncoder();
const dec = new TextDecoder();

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64url(s: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return null;
  try {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

const keyCache = new Map<string, Promise<CryptoKey>>();
function hmacKey(secret: string): Promise<CryptoKey> {
  let k = keyCache.get(secret);
  if (!k) {
    k = crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    keyCache.set(secret, k);
  }
  return k;
}

export async function signToken(
  secret: string,
  claims: { sid: string; role: Role; name: string; ttlSeconds: number; lid?: string; chat?: boolean },
  now: number = Date.now(),
): Promise<string> {
  const iat = Math.floor(now / 1000);
  const payload: TokenPayload = {
    sid: claims.sid,
    role: claims.role,
    name: claims.name,
    iat,
    exp: iat + claims.ttlSeconds,
    ...(claims.lid !== undefined ? { lid: claims.lid } : {}),
    ...(claims.chat ? { chat: true } : {}),
  };
  const body = b64url(enc.encode(JSON.stringify(payload)));
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), enc.encode(body)));
  return `${body}.${b64url(sig)}`;
}

/** A new link id: 16 random base64url characters. */
export function newLinkId(): string {
  return b64url(crypto.getRandomValues(new Uint8Array(12)));
}

/**
 * The id of the link a token belongs to: its `lid`, or for tokens minted before links had ids a
 * digest of the whole payload (stable for that token, the same for nobody else).
 */
export async function linkIdOf(p: TokenPayload): Promise<string> {
  if (p.lid) return p.lid;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(JSON.stringify(p))));
  return "t" + b64url(digest).slice(0, 15);
}

/**
 * Checks signature, expiry and (when `sessionId` is given) that the token is for that session or
 * for all sessions. Never throws.
 */
export async function verifyToken(
  secret: string,
  token: string,
  sessionId?: string,
  now: number = Date.now(),
): Promise<{ ok: true; payload: TokenPayload } | { ok: false; error: TokenError }> {
  if (typeof token !== "string" || token.length > 4096) return { ok: false, error: "malformed" };
  const [body, sig, extra] = token.split(".");
  if (!body || !sig || extra !== undefined) return { ok: false, error: "malformed" };
  const sigBytes = fromB64url(sig);
  const bodyBytes = fromB64url(body);
  if (!sigBytes || !bodyBytes) return { ok: false, error: "malformed" };
  const valid = await crypto.subtle.verify("HMAC", await hmacKey(secret), sigBytes, enc.encode(body));
  if (!valid) return { ok: false, error: "bad_signature" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(dec.decode(bodyBytes));
  } catch {
    return { ok: false, error: "malformed" };
  }
  const r = TokenPayloadSchema.safeParse(parsed);
  if (!r.success) return { ok: false, error: "malformed" };
  if (r.data.exp * 1000 <= now) return { ok: false, error: "expired" };
  if (sessionId !== undefined && r.data.sid !== sessionId && r.data.sid !== ALL_SESSIONS) {
    return { ok: false, error: "wrong_session" };
  }
  return { ok: true, payload: r.data };
}
