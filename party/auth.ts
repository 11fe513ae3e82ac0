/**
 * Who is calling: a signed token (Bearer header, or the WebSocket subprotocol `t.<token>`), or a
 * person signed in with Cloudflare Access (party/access.ts). Never a token in the URL: a URL is
 * logged and stored where headers are not, so one carrying a token is refused, and the token spent
 * (party/url-tokens.ts), before anything here runs.
 *
 * Two steps, because the second needs the session's room: `identify` checks signatures (no
 * Durable Object touched, so a bad token costs nothing), `admit` asks the room whether the token's
 * link record still stands, or which role a signed-in person was given.
 */
import type { Role } from "../shared/protocol.ts";
import { ALL_SESSIONS, linkIdOf, verifyToken, type TokenPayload } from "../shared/token.ts";
import { accessConfig, verifyAccessJwt } from "./access.ts";
import type { Env } from "./env.ts";
import { httpError } from "./http.ts";
import { LINK_ERROR_MESSAGES, type LinkCheck } from "./links.ts";

/**
 * Who a request acts as once admitted. `linkId`: the link it came in with — its record's id when
 * it has one (revocable), else a stable digest of the token (shared/token.ts linkIdOf); chat
 * messages carry it as their author id. `chat`: a viewer link that may chat.
 */
export interface Caller {
  sid: string;
  role: Role;
  name: string;
  linkId: string;
  chat?: boolean;
}

/** The link id of a signed-in person with no grant of their own (the operator). */
export function personLinkId(email: string): Promise<string> {
  return linkIdOf({ sid: ALL_SESSIONS, role: "owner", name: email, iat: 0, exp: 0 });
}

export type Identity =
  | { kind: "token"; payload: TokenPayload }
  | { kind: "person"; email: string; operator: boolean };

type Refusal = { ok: false; response: Response };

const TOKEN_ERRORS = {
  malformed: "malformed token",
  bad_signature: "token signature is invalid",
  expired: "token expired",
  wrong_session: "token is for another session",
} as const;

function tokenOf(req: Request): string | null {
  const protos = (req.headers.get("Sec-WebSocket-Protocol") ?? "").split(",").map((s) => s.trim());
  const p = protos.find((s) => s.startsWith("t."));
  if (p && p.length > 2) return p.slice(2);
  const auth = req.headers.get("Authorization");
  if (auth?.startsWith("Bearer ") && auth.length > 7) return auth.slice(7).trim();
  return null;
}

/** Signatures only: the token's, or the Access assertion's. */
export async function identify(req: Request, env: Env, sessionId?: string): Promise<{ ok: true; identity: Identity } | Refusal> {
  const token = tokenOf(req);
  if (token) {
    const r = await verifyToken(env.TOKEN_SECRET ?? "", token, sessionId);
    if (!r.ok) return { ok: false, response: httpError(401, r.error, TOKEN_ERRORS[r.error]) };
    return { ok: true, identity: { kind: "token", payload: r.payload } };
  }
  const cfg = accessConfig(env);
  const jwt = req.headers.get("Cf-Access-Jwt-Assertion");
  if (cfg && jwt) {
    const r = await verifyAccessJwt(cfg, jwt);
    if (!r.ok) return { ok: false, response: httpError(401, r.error, r.message) };
    return { ok: true, identity: { kind: "person", email: r.email, operator: cfg.operators.has(r.email) } };
  }
  return { ok: false, response: httpError(401, "unauthorized", "missing token") };
}

/** The operator: may create and list sessions, and acts as owner of every one. */
export function isOperator(id: Identity): boolean {
  return id.kind === "token" ? id.payload.sid === ALL_SESSIONS && id.payload.role === "owner" : id.operator;
}

/** The room's part of the check; `useLink`/`grantFor` are the room's RPCs (party/links.ts). */
export interface LinkAuthority {
  useLink(linkId: string): Promise<LinkCheck> | LinkCheck;
  grantFor(email: string): Promise<LinkCheck | null> | LinkCheck | null;
}

/**
 * The caller as the session sees it. `checkLink: false` leaves a token's link to the room's own
 * upgrade check (room/admit.ts), saving a round trip per socket.
 */
export async function admit(room: LinkAuthority, sessionId: string, id: Identity, checkLink = true): Promise<{ ok: true; caller: Caller } | Refusal> {
  if (id.kind === "token") {
    const p = id.payload;
    if (p.lid && checkLink) {
      const c = await room.useLink(p.lid);
      if (!c.ok) return { ok: false, response: httpError(401, c.error, LINK_ERROR_MESSAGES[c.error]) };
    }
    return { ok: true, caller: { sid: p.sid, role: p.role, name: p.name, linkId: await linkIdOf(p), ...(p.chat ? { chat: true } : {}) } };
  }
  if (id.operator) return { ok: true, caller: { sid: ALL_SESSIONS, role: "owner", name: id.email, linkId: await personLinkId(id.email) } };
  const grant = await room.grantFor(id.email);
  if (!grant) return { ok: false, response: httpError(403, "not_shared", "this session is not shared with you") };
  if (!grant.ok) return { ok: false, response: httpError(401, grant.error, LINK_ERROR_MESSAGES[grant.error]) };
  const r = grant.record;
  if (!r) return { ok: false, response: httpError(403, "not_shared", "this session is not shared with you") };
  return { ok: true, caller: { sid: sessionId, role: r.role, name: r.name, linkId: r.id } };
}
