/**
 * Signed access tokens: compact JWTs (HS256, via `jose`) whose claims are `TokenPayload`.
 * jose runs on Web Crypto, so the Worker, the runner, the client and the tests share this module.
 *
 * `sid` is a session id, or "*" for tokens that span sessions: the operator's (role owner: may
 * create and list sessions) and the runner's (role agent).
 */
import { z } from "zod";
import { SignJWT, base64url, compactVerify, errors } from "jose";
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

/**
 * Token-shaped text, for finding tokens where they must not be (URLs, logs, stored bytes): a JWT
 * (header, claims, 43-character HS256 signature; header and claims are JSON, so `ey…` = `{"`) or
 * the older two-part form (claims, signature).
 */
export const TOKEN_SHAPE = /(?:ey[A-Za-z0-9_-]{10,}\.)?ey[A-Za-z0-9_-]{18,}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g;

export type TokenError = "malformed" | "bad_signature" | "expired" | "wrong_session";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The one signing algorithm: a token whose header names another (`none` included) is refused. */
const ALG = "HS256";

/** Bytes of base64url text, or null when it is not base64url. */
function fromB64url(s: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return null;
  try {
    return base64url.decode(s) as Uint8Array<ArrayBuffer>;
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
  return new SignJWT(payload).setProtectedHeader({ alg: ALG, typ: "JWT" }).sign(await hmacKey(secret));
}

/** A new link id: 16 random base64url characters. */
export function newLinkId(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(12)));
}

/**
 * The id of the link a token belongs to: its `lid`, or for tokens minted before links had ids a
 * digest of the whole payload (stable for that token, the same for nobody else).
 */
export async function linkIdOf(p: TokenPayload): Promise<string> {
  if (p.lid) return p.lid;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(JSON.stringify(p))));
  return "t" + base64url.encode(digest).slice(0, 15);
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
  const parts = token.split(".");
  const checked = parts.length === 2 ? await verifyTwoPart(secret, parts[0]!, parts[1]!) : await verifyJwt(secret, token);
  if ("error" in checked) return { ok: false, error: checked.error };
  const r = TokenPayloadSchema.safeParse(checked.claims);
  if (!r.success) return { ok: false, error: "malformed" };
  if (r.data.exp * 1000 <= now) return { ok: false, error: "expired" };
  if (sessionId !== undefined && r.data.sid !== sessionId && r.data.sid !== ALL_SESSIONS) {
    return { ok: false, error: "wrong_session" };
  }
  return { ok: true, payload: r.data };
}

type Checked = { claims: unknown } | { error: "malformed" | "bad_signature" };

/**
 * A JWT signed with HS256 by this secret. Expiry is checked by the caller against its own clock
 * (jose would check it against the real one), so only the signature and the shape are checked here.
 */
async function verifyJwt(secret: string, token: string): Promise<Checked> {
  try {
    const { payload } = await compactVerify(token, await hmacKey(secret), { algorithms: [ALG] });
    return { claims: JSON.parse(dec.decode(payload)) };
  } catch (e) {
    const refused = e instanceof errors.JWSSignatureVerificationFailed || e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported;
    return { error: refused ? "bad_signature" : "malformed" };
  }
}

/**
 * The token format before JWTs: `base64url(json payload) "." base64url(HMAC-SHA256(payload text))`.
 * Still accepted so links already handed out keep working until they expire (at most
 * a year, the longest a share may live, after the last one was minted); see "Rotating tokens"
 * in the README.
 */
async function verifyTwoPart(secret: string, body: string, sig: string): Promise<Checked> {
  const sigBytes = fromB64url(sig);
  const bodyBytes = fromB64url(body);
  if (!sigBytes || !bodyBytes) return { error: "malformed" };
  if (!(await crypto.subtle.verify("HMAC", await hmacKey(secret), sigBytes, enc.encode(body)))) return { error: "bad_signature" };
  try {
    return { claims: JSON.parse(dec.decode(bodyBytes)) };
  } catch {
    return { error: "malformed" };
  }
}

/**
 * A token's claims without checking its signature, for a client deciding what to show (the
 * server decides what is allowed). Reads both the JWT and the older two-part form.
 */
export function peekToken(token: string): TokenPayload | null {
  const parts = token.split(".");
  const body = parts.length === 3 || parts.length === 2 ? fromB64url(parts[parts.length - 2]!) : null;
  if (!body) return null;
  try {
    const r = TokenPayloadSchema.safeParse(JSON.parse(dec.decode(body)));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
