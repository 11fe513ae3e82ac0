/**
 * The Worker: HTTP API, token checks before any upgrade or room call, static app, embed route.
 * Routes are listed in docs/architecture.md; frames in docs/protocol.md.
 *
 * Rules every route keeps:
 *  - a token is verified here, before a room object is touched (401 with the reason otherwise);
 *  - a session id the index (Lobby) does not know answers 404 and creates no room object;
 *  - bodies are size-capped and validated with the zod schemas of shared/protocol.ts;
 *  - every error answers `{error: {code, message}}` with the matching status.
 */
import {
  CreateSessionBodySchema,
  OriginsBodySchema,
  ShareBodySchema,
  type CreateSessionBody,
  type Role,
} from "../shared/protocol.ts";
import { ALL_SESSIONS, linkIdOf, newLinkId, signToken, verifyToken, type TokenPayload } from "../shared/token.ts";
import type { Env } from "./env.ts";
import { summaryOf } from "./room/summary.ts";
import { LOBBY_NAME } from "./lobby.ts";
import { archiveBodySchema, httpError, json, readJsonBody } from "./http.ts";
import { routeToRelay } from "./relay-route.ts";

export { SessionRoom } from "./session-room.ts";
export { Lobby } from "./lobby.ts";
export { SessionRelay } from "./relay.ts";

const VERSION = "0.1.0";
/** Set on the first request: at global scope a Worker's clock reads 0. */
let startedAt = 0;
/** Owner links last a month; share links default to a week (ShareBody.ttlSeconds). */
const OWNER_TOKEN_TTL_S = 30 * 24 * 3600;
const SHARE_TOKEN_TTL_S = 7 * 24 * 3600;
/** The subprotocol the server answers; the token travels as a second one, `t.<token>`. */
const WS_PROTOCOL = "agentroom";
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Positive index lookups are cached briefly per isolate: a rejoin storm costs one lookup. */
const KNOWN_TTL_MS = 10_000;
const known = new Map<string, number>();

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    try {
      return await route(req, env);
    } catch (e) {
      console.error("worker error", e);
      return httpError(500, "internal", "internal error");
    }
  },
} satisfies ExportedHandler<Env>;

async function route(req: Request, env: Env): Promise<Response> {
  const url = new URL(req.url);
  const path = url.pathname;
  if (startedAt === 0) startedAt = Date.now();
  if (path === "/health") {
    if (req.method !== "GET" && req.method !== "HEAD") return httpError(405, "method_not_allowed", "use GET");
    return json({ version: VERSION, uptime: Math.round((Date.now() - startedAt) / 1000), build: String(env.BUILD ?? "dev") });
  }
  const isApi = path.startsWith("/api/") || path.startsWith("/parties/") || path.startsWith("/embed/");
  if (isApi && !env.TOKEN_SECRET) {
    return httpError(500, "misconfigured", "TOKEN_SECRET is not set (wrangler secret put TOKEN_SECRET, or .dev.vars locally)");
  }
  const secret = env.TOKEN_SECRET ?? "";
  const seg = path.split("/").filter(Boolean);

  if (seg[0] === "api" && seg[1] === "sessions") return apiSessions(req, env, secret, seg.slice(2), url);
  if (seg[0] === "parties" && seg.length === 3) {
    if (seg[1] === "session-room") return connectRoom(req, env, secret, seg[2]!, url);
    if (seg[1] === "lobby" && seg[2] === LOBBY_NAME) return connectLobby(req, env, secret, url);
    return httpError(404, "not_found", "no such party");
  }
  if (seg[0] === "embed" && seg.length === 2) return embed(req, env, seg[1]!);
  if (seg[0] === "api" || seg[0] === "parties" || seg[0] === "embed") return httpError(404, "not_found", "no such route");
  if (env.ASSETS) return env.ASSETS.fetch(req);
  return httpError(404, "not_found", "no such route");
}

// ───────────────────────────── tokens ─────────────────────────────

/** The token from a WebSocket subprotocol `t.<token>`, the Authorization header, or `?token=`. */
function tokenOf(req: Request, url: URL): { token: string | null; viaSubprotocol: boolean } {
  const protos = (req.headers.get("Sec-WebSocket-Protocol") ?? "").split(",").map((s) => s.trim());
  const p = protos.find((s) => s.startsWith("t."));
  if (p) return { token: p.slice(2), viaSubprotocol: true };
  const auth = req.headers.get("Authorization");
  if (auth?.startsWith("Bearer ")) return { token: auth.slice(7).trim(), viaSubprotocol: false };
  return { token: url.searchParams.get("token"), viaSubprotocol: false };
}

async function authenticate(
  req: Request,
  url: URL,
  secret: string,
  sessionId?: string,
): Promise<{ ok: true; payload: TokenPayload; viaSubprotocol: boolean } | { ok: false; response: Response }> {
  const { token, viaSubprotocol } = tokenOf(req, url);
  if (!token) return { ok: false, response: httpError(401, "unauthorized", "missing token") };
  const r = await verifyToken(secret, token, sessionId);
  if (!r.ok) {
    const reason = {
      malformed: "malformed token",
      bad_signature: "token signature is invalid",
      expired: "token expired",
      wrong_session: "token is for another session",
    }[r.error];
    return { ok: false, response: httpError(401, r.error, reason) };
  }
  return { ok: true, payload: r.payload, viaSubprotocol };
}

const isOperator = (p: TokenPayload) => p.sid === ALL_SESSIONS && p.role === "owner";

// ───────────────────────────── the index ─────────────────────────────

const lobby = (env: Env) => env.Lobby.getByName(LOBBY_NAME);

async function sessionExists(env: Env, id: string): Promise<boolean> {
  if (!SESSION_ID.test(id)) return false;
  const until = known.get(id);
  if (until !== undefined && until > Date.now()) return true;
  const row = await lobby(env).get(id);
  if (row) known.set(id, Date.now() + KNOWN_TTL_MS);
  else known.delete(id);
  return row !== null;
}

function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  let s = "";
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}

// ───────────────────────────── /api/sessions ─────────────────────────────

async function apiSessions(req: Request, env: Env, secret: string, rest: string[], url: URL): Promise<Response> {
  const method = req.method;
  if (rest.length === 0) {
    if (method !== "GET" && method !== "POST") return httpError(405, "method_not_allowed", "use GET or POST");
    const auth = await authenticate(req, url, secret);
    if (!auth.ok) return auth.response;
    if (!isOperator(auth.payload)) return httpError(403, "forbidden", "only the operator may create or list sessions");
    if (method === "POST") {
      const body = await readJsonBody(req, CreateSessionBodySchema);
      if (!body.ok) return body.response;
      return createSession(env, secret, body.value, auth.payload);
    }
    const archivedQ = url.searchParams.get("archived");
    const limitQ = Number(url.searchParams.get("limit") ?? "50");
    const page = await lobby(env).list({
      cursor: url.searchParams.get("cursor") ?? undefined,
      limit: Number.isFinite(limitQ) ? limitQ : 50,
      archived: archivedQ === "1" ? true : archivedQ === "0" ? false : undefined,
    });
    return json(page);
  }

  const id = rest[0]!;
  const auth = await authenticate(req, url, secret, id);
  if (!auth.ok) return auth.response;
  if (!(await sessionExists(env, id))) return httpError(404, "not_found", "no such session");
  const room = env.SessionRoom.getByName(id);
  const role = auth.payload.role;
  const sub = rest.slice(1);

  if (sub.length === 0) {
    if (method === "GET") {
      const session = await room.getSession();
      return session ? json({ session }) : httpError(404, "not_found", "no such session");
    }
    if (method === "DELETE") {
      if (role !== "owner") return httpError(403, "forbidden", "only the owner may delete a session");
      await room.destroy();
      await lobby(env).remove(id);
      known.delete(id);
      return json({ deleted: id });
    }
    return httpError(405, "method_not_allowed", "use GET or DELETE");
  }
  if (sub[0] === "history" && sub.length === 1) {
    if (method !== "GET") return httpError(405, "method_not_allowed", "use GET");
    const limit = Number(url.searchParams.get("limit") ?? "50");
    const page = await room.getHistory(url.searchParams.get("before") ?? undefined, Number.isFinite(limit) ? limit : 50);
    return page ? json(page) : httpError(404, "not_found", "no such session");
  }
  if (sub[0] === "parts" && sub.length === 2) {
    if (method !== "GET") return httpError(405, "method_not_allowed", "use GET");
    const part = await room.getFullPart(sub[1]!);
    return part ? json({ part }) : httpError(404, "not_found", "no such part");
  }
  if (sub[0] === "messages" && sub.length === 2) {
    if (method !== "GET") return httpError(405, "method_not_allowed", "use GET");
    const message = await room.getFullMessage(sub[1]!);
    return message ? json({ message }) : httpError(404, "not_found", "no such message");
  }
  if (sub[0] === "archive" && sub.length === 1) {
    if (method !== "POST") return httpError(405, "method_not_allowed", "use POST");
    if (role !== "owner") return httpError(403, "forbidden", "only the owner may archive a session");
    const body = await readJsonBody(req, archiveBodySchema);
    if (!body.ok) return body.response;
    const session = await room.setArchived(body.value.archived);
    if (!session) return httpError(404, "not_found", "no such session");
    await lobby(env).upsert(summaryOf(session));
    return json({ session });
  }
  if (sub[0] === "origins" && sub.length === 1) {
    if (method !== "PUT") return httpError(405, "method_not_allowed", "use PUT");
    if (role !== "owner") return httpError(403, "forbidden", "only the owner may change where a session can be embedded");
    const body = await readJsonBody(req, OriginsBodySchema);
    if (!body.ok) return body.response;
    const r = await room.setAllowedOrigins(originsOf(body.value.origins));
    if (!r) return httpError(404, "not_found", "no such session");
    if ("archived" in r) return httpError(409, "archived", "this session is archived (read-only)");
    return json({ session: r.session });
  }
  if (sub[0] === "share" && sub.length === 1) {
    if (method !== "POST") return httpError(405, "method_not_allowed", "use POST");
    if (role !== "owner") return httpError(403, "forbidden", "only the owner may mint share links");
    const body = await readJsonBody(req, ShareBodySchema);
    if (!body.ok) return body.response;
    const share = body.value;
    const token = await signToken(secret, {
      sid: id,
      role: share.role,
      name: share.name ?? share.role,
      ttlSeconds: share.ttlSeconds ?? SHARE_TOKEN_TTL_S,
      lid: newLinkId(),
      chat: share.canChat === true,
    });
    const canChat = share.role === "driver" || share.canChat === true;
    return json({ token, url: `/s/${id}#token=${token}`, embedUrl: `/embed/${id}#token=${token}`, role: share.role, canChat });
  }
  return httpError(404, "not_found", "no such route");
}

/** Validated origins (EmbedOriginsSchema) reduced to their origin, without repeats. */
function originsOf(list: readonly string[]): string[] {
  return [...new Set(list.map((o) => new URL(o).origin))];
}

async function createSession(env: Env, secret: string, body: CreateSessionBody, by: TokenPayload): Promise<Response> {
  const id = newSessionId();
  const session = await env.SessionRoom.getByName(id).create({
    id,
    title: body.title,
    mode: body.mode,
    allowedOrigins: body.allowedOrigins && originsOf(body.allowedOrigins),
    workspace: body.directory,
    repository: body.repository,
  });
  // The room exists before the index lists it, so a listed id always has a room.
  await lobby(env).upsert(summaryOf(session));
  known.set(id, Date.now() + KNOWN_TTL_MS);
  const ownerToken = await signToken(secret, { sid: id, role: "owner", name: body.name ?? by.name, ttlSeconds: OWNER_TOKEN_TTL_S, lid: newLinkId() });
  return json({ id, ownerToken, url: `/s/${id}#token=${ownerToken}` }, 201);
}

// ───────────────────────────── WebSockets ─────────────────────────────

async function connectRoom(req: Request, env: Env, secret: string, id: string, url: URL): Promise<Response> {
  if (req.headers.get("Upgrade")?.toLowerCase() !== "websocket") return httpError(426, "upgrade_required", "this route is a WebSocket");
  const auth = await authenticate(req, url, secret, id);
  if (!auth.ok) return auth.response;
  if (!(await sessionExists(env, id))) return httpError(404, "not_found", "no such session");
  const forward = forwardedUpgrade(req, url, auth.payload.role, auth.payload.name);
  // Chat identity and permission (shared/chat.ts): the link a message is written with.
  forward.headers.set("x-agentroom-link", await linkIdOf(auth.payload));
  if (auth.payload.chat) forward.headers.set("x-agentroom-chat", "1");
  const res = (await routeToRelay(env, id, auth.payload.role, forward)) ?? (await env.SessionRoom.getByName(id).fetch(forward));
  return withSubprotocol(res, auth.viaSubprotocol);
}

async function connectLobby(req: Request, env: Env, secret: string, url: URL): Promise<Response> {
  if (req.headers.get("Upgrade")?.toLowerCase() !== "websocket") return httpError(426, "upgrade_required", "this route is a WebSocket");
  const auth = await authenticate(req, url, secret);
  if (!auth.ok) return auth.response;
  const p = auth.payload;
  if (p.sid !== ALL_SESSIONS || (p.role !== "owner" && p.role !== "agent")) {
    return httpError(403, "forbidden", "the session list needs an operator or runner token");
  }
  const res = await lobby(env).fetch(forwardedUpgrade(req, url, p.role, p.name));
  return withSubprotocol(res, auth.viaSubprotocol);
}

/**
 * The request the room sees: no token anywhere (not in the URL it stores, not in headers), and
 * the verified role and name in headers only the Worker can set.
 */
function forwardedUpgrade(req: Request, url: URL, role: Role, name: string): Request {
  const clean = new URL(url);
  clean.searchParams.delete("token");
  // partyserver takes the connection id from `_pk`, and the room keys the agent's lease by it.
  // Ids are public (presence lists them), so a client-chosen id let a viewer connect under the
  // agent's id, cut it off from Stop and, on leaving, release its lease (test/security-viewer).
  // The Worker mints every connection id.
  clean.searchParams.set("_pk", crypto.randomUUID());
  const headers = new Headers();
  for (const [k, v] of req.headers) {
    const key = k.toLowerCase();
    if (key.startsWith("x-agentroom-") || key === "authorization" || key === "sec-websocket-protocol") continue;
    headers.set(k, v);
  }
  headers.set("x-agentroom-role", role);
  headers.set("x-agentroom-name", encodeURIComponent(name).length === name.length ? name : asciiName(name));
  return new Request(clean.toString(), { method: "GET", headers });
}

/** Header values must be ASCII; non-ASCII names travel percent-encoded (the room decodes). */
function asciiName(name: string): string {
  return "~" + encodeURIComponent(name);
}

/** Browsers drop a socket whose 101 does not echo one of the offered subprotocols. */
function withSubprotocol(res: Response, viaSubprotocol: boolean): Response {
  if (!viaSubprotocol || res.status !== 101 || !res.webSocket) return res;
  const headers = new Headers(res.headers);
  headers.set("Sec-WebSocket-Protocol", WS_PROTOCOL);
  return new Response(null, { status: 101, webSocket: res.webSocket, headers });
}

// ───────────────────────────── embed ─────────────────────────────

async function embed(req: Request, env: Env, id: string): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD") return httpError(405, "method_not_allowed", "use GET");
  if (!(await sessionExists(env, id))) return httpError(404, "not_found", "no such session");
  const session = await env.SessionRoom.getByName(id).getSession();
  if (!session) return httpError(404, "not_found", "no such session");
  const origins = session.allowedOrigins.filter((o) => /^https?:\/\/[A-Za-z0-9.:[\]-]+$/.test(o));
  const csp = `frame-ancestors 'self'${origins.map((o) => " " + o).join("")}`;
  let res: Response;
  if (env.ASSETS) {
    const index = await appIndex(env.ASSETS, req.url);
    if (!index) return httpError(503, "app_unavailable", "the app's files are not available; try again");
    res = new Response(index.body, { status: index.status, headers: index.headers });
  } else {
    res = new Response("<!doctype html><title>agentroom</title>", { headers: { "content-type": "text/html; charset=utf-8" } });
  }
  res.headers.set("Content-Security-Policy", csp);
  res.headers.set("Cache-Control", "no-store");
  return res;
}

/**
 * The app's index.html from the assets binding, retried briefly: while the app is being rebuilt
 * or redeployed the binding can fail for a moment.
 */
async function appIndex(assets: Fetcher, base: string): Promise<Response | null> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const res = await assets.fetch(new Request(new URL("/", base).toString(), { method: "GET" }));
      if (res.ok) return res;
    } catch {
      // retry
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}
