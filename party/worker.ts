/**
 * The Worker: HTTP API, token checks before any upgrade or room call, static app, embed route.
 * Routes are listed in docs/architecture.md; frames in docs/protocol.md.
 *
 * Rules every route keeps:
 *  - a token is verified here, before a room object is touched (401 with the reason otherwise),
 *    and only from a header: `?token=` is refused (party/auth.ts); its link record is then checked
 *    by the room (party/links.ts), so a revoked link is refused everywhere;
 *  - a session id the index (Lobby) does not know answers 404 and creates no room object;
 *  - bodies are size-capped and validated with the zod schemas of shared/protocol.ts;
 *  - every error answers `{error: {code, message}}` with the matching status.
 */
import {
  CreateSessionBodySchema,
  OriginsBodySchema,
  PeopleBodySchema,
  ShareBodySchema,
  type CreateSessionBody,
  type Role,
} from "../shared/protocol.ts";
import { ALL_SESSIONS, linkIdOf, signToken } from "../shared/token.ts";
import type { Env } from "./env.ts";
import { summaryOf } from "./room/summary.ts";
import { LOBBY_NAME } from "./lobby.ts";
import { archiveBodySchema, headerName, httpError, json, readJsonBody } from "./http.ts";
import { admit, identify, isOperator, personLinkId, tokenInUrl, type Caller, type Identity } from "./auth.ts";
import { withAppHeaders, withEmbedHeaders } from "./headers.ts";
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
  const isApi = path.startsWith("/api/") || path.startsWith("/parties/") || path.startsWith("/embed/") || path === "/health";
  if (isApi) {
    const refused = tokenInUrl(url);
    if (refused) return refused;
  }
  if (path === "/health") return health(req, env);
  if (isApi && !env.TOKEN_SECRET) {
    return httpError(500, "misconfigured", "TOKEN_SECRET is not set (wrangler secret put TOKEN_SECRET, or .dev.vars locally)");
  }
  const secret = env.TOKEN_SECRET ?? "";
  const seg = path.split("/").filter(Boolean);

  if (seg[0] === "api" && seg[1] === "sessions") return apiSessions(req, env, secret, seg.slice(2), url);
  if (seg[0] === "parties" && seg.length === 3) {
    if (seg[1] === "session-room") return connectRoom(req, env, seg[2]!, url);
    if (seg[1] === "lobby" && seg[2] === LOBBY_NAME) return connectLobby(req, env, url);
    return httpError(404, "not_found", "no such party");
  }
  if (seg[0] === "embed" && seg.length === 2) return embed(req, env, seg[1]!);
  if (seg[0] === "api" || seg[0] === "parties" || seg[0] === "embed") return httpError(404, "not_found", "no such route");
  // Every page of the app (`/`, `/s/:id`, the SPA fallback) may not be framed (party/headers.ts).
  if (env.ASSETS) return withAppHeaders(await env.ASSETS.fetch(req));
  return httpError(404, "not_found", "no such route");
}

// ───────────────────────────── /health ─────────────────────────────

/** Rooms /health asks for their connection count: those active this week, newest first. */
const HEALTH_ROOMS = 100;
const HEALTH_ACTIVE_MS = 7 * 86_400_000;

/** Public: version and uptime. With the operator's token: sessions by status, connections, runners. */
async function health(req: Request, env: Env): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD") return httpError(405, "method_not_allowed", "use GET");
  const base = { version: VERSION, uptime: Math.round((Date.now() - startedAt) / 1000), build: String(env.BUILD ?? "dev") };
  if (!req.headers.has("Authorization") && !req.headers.has("Cf-Access-Jwt-Assertion")) return json(base);
  // Public whoever asks: anyone but the operator (a bad token included) gets the public answer.
  const who = await identify(req, env);
  if (!who.ok || !isOperator(who.identity)) return json(base);
  const stats = await lobby(env).stats();
  const ids = await lobby(env).activeIds(Date.now() - HEALTH_ACTIVE_MS, HEALTH_ROOMS);
  const counts: number[] = await Promise.all(ids.map((id) => env.SessionRoom.getByName(id).connectionCount().catch(() => 0)));
  const roomConnections = counts.reduce((a, b) => a + b, 0);
  return json({
    ...base,
    sessions: stats.sessions,
    connections: { rooms: roomConnections, roomsCounted: ids.length, lobby: stats.listeners },
    runnersOnline: stats.runnersOnline,
  });
}

// ───────────────────────────── callers ─────────────────────────────

/** identify + admit for one session's routes: 401/403/404 as a Response, or the caller. */
async function sessionCaller(req: Request, env: Env, id: string): Promise<{ ok: true; caller: Caller; identity: Identity } | { ok: false; response: Response }> {
  const who = await identify(req, env, id);
  if (!who.ok) return who;
  if (!(await sessionExists(env, id))) return { ok: false, response: httpError(404, "not_found", "no such session") };
  const a = await admit(env.SessionRoom.getByName(id), id, who.identity);
  return a.ok ? { ok: true, caller: a.caller, identity: who.identity } : a;
}

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
    const who = await identify(req, env);
    if (!who.ok) return who.response;
    if (!isOperator(who.identity)) return httpError(403, "forbidden", "only the operator may create or list sessions");
    if (method === "POST") {
      const body = await readJsonBody(req, CreateSessionBodySchema);
      if (!body.ok) return body.response;
      const by = who.identity.kind === "token" ? who.identity.payload.name : who.identity.email;
      return createSession(env, secret, body.value, by);
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
  const auth = await sessionCaller(req, env, id);
  if (!auth.ok) return auth.response;
  const room = env.SessionRoom.getByName(id);
  const caller = auth.caller;
  const role = caller.role;
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
    const minted = await mintLink(
      env,
      secret,
      id,
      { role: share.role, name: share.name ?? share.role, ttlSeconds: share.ttlSeconds ?? SHARE_TOKEN_TTL_S, chat: share.canChat === true },
      caller.name,
    );
    if (!minted) return tooManyLinks();
    const canChat = share.role === "driver" || share.canChat === true;
    return json({ token: minted.token, url: `/s/${id}#token=${minted.token}`, embedUrl: `/embed/${id}#token=${minted.token}`, role: share.role, canChat, linkId: minted.linkId });
  }
  if (sub[0] === "people" && sub.length === 1) {
    if (method !== "POST") return httpError(405, "method_not_allowed", "use POST");
    if (role !== "owner") return httpError(403, "forbidden", "only the owner may share a session");
    const body = await readJsonBody(req, PeopleBodySchema);
    if (!body.ok) return body.response;
    const p = body.value;
    const ttl = p.ttlSeconds ?? SHARE_TOKEN_TTL_S;
    const email = p.email.trim().toLowerCase();
    const record = await room.mintLink({ role: p.role, name: email, email, createdBy: caller.name, ttlSeconds: ttl });
    return record ? json({ link: record }, 201) : tooManyLinks();
  }
  if (sub[0] === "links") return links(req, env, secret, id, caller, sub.slice(1));
  if (sub[0] === "ticket" && sub.length === 1) {
    if (method !== "POST") return httpError(405, "method_not_allowed", "use POST");
    // Bound to this session, the caller's role and name, and link (revoking the link voids it).
    return json(await room.issueTicket({ role: caller.role, name: caller.name, linkId: caller.linkId, ...(caller.chat ? { chat: true } : {}) }));
  }
  return httpError(404, "not_found", "no such route");
}

/**
 * /api/sessions/:id/links — owners only: list (GET), revoke every share link (DELETE), revoke one
 * (DELETE /:linkId), rotate the owner link (POST /rotate: a new one, the caller's revoked).
 */
async function links(req: Request, env: Env, secret: string, id: string, caller: Caller, rest: string[]): Promise<Response> {
  if (caller.role !== "owner") return httpError(403, "forbidden", "only the owner may see or revoke links");
  const room = env.SessionRoom.getByName(id);
  const method = req.method;
  if (rest.length === 0) {
    if (method === "GET") return json({ links: await room.listLinks() });
    if (method === "DELETE") {
      // Every share link and grant; owner links stay (rotate replaces those), so the owner is not locked out.
      const all = (await room.listLinks()).filter((l) => l.revokedAt === null && l.role !== "owner").map((l) => l.id);
      return json({ revoked: await room.revokeLinks(all) });
    }
    return httpError(405, "method_not_allowed", "use GET or DELETE");
  }
  if (rest.length === 1 && rest[0] === "rotate") {
    if (method !== "POST") return httpError(405, "method_not_allowed", "use POST");
    const minted = await mintLink(env, secret, id, { role: "owner", name: caller.name, ttlSeconds: OWNER_TOKEN_TTL_S }, caller.name);
    if (!minted) return tooManyLinks();
    // The caller's own owner link, or (the operator, who has none) every other owner link.
    const live = (await room.listLinks()).filter((l) => l.role === "owner" && l.revokedAt === null && l.id !== minted.linkId);
    const own = live.find((l) => l.id === caller.linkId);
    const old = own ? [own.id] : live.map((l) => l.id);
    const revoked = await room.revokeLinks(old);
    return json({ token: minted.token, url: `/s/${id}#token=${minted.token}`, linkId: minted.linkId, revoked });
  }
  if (rest.length === 1) {
    if (method !== "DELETE") return httpError(405, "method_not_allowed", "use DELETE");
    const linkId = rest[0]!;
    const known = (await room.listLinks()).some((l) => l.id === linkId);
    if (!known) return httpError(404, "not_found", "no such link");
    return json({ revoked: await room.revokeLinks([linkId]) });
  }
  return httpError(404, "not_found", "no such route");
}

const tooManyLinks = () => httpError(409, "too_many_links", "this session keeps too many links; revoke some first");

/** A link record in the room, then its token (which names the record as `lid`). */
async function mintLink(
  env: Env,
  secret: string,
  sid: string,
  claims: { role: "owner" | "driver" | "viewer"; name: string; ttlSeconds: number; chat?: boolean },
  createdBy: string,
): Promise<{ token: string; linkId: string } | null> {
  const record = await env.SessionRoom.getByName(sid).mintLink({ role: claims.role, name: claims.name, createdBy, ttlSeconds: claims.ttlSeconds });
  if (!record) return null;
  // Issued at the record's creation, so the token and its record expire together.
  const token = await signToken(
    secret,
    { sid, role: claims.role, name: claims.name, ttlSeconds: claims.ttlSeconds, lid: record.id, ...(claims.chat ? { chat: true } : {}) },
    record.createdAt,
  );
  return { token, linkId: record.id };
}

/** Validated origins (EmbedOriginsSchema) reduced to their origin, without repeats. */
function originsOf(list: readonly string[]): string[] {
  return [...new Set(list.map((o) => new URL(o).origin))];
}

async function createSession(env: Env, secret: string, body: CreateSessionBody, by: string): Promise<Response> {
  const id = newSessionId();
  const session = await env.SessionRoom.getByName(id).create({
    id,
    title: body.title,
    mode: body.mode,
    allowedOrigins: body.allowedOrigins && originsOf(body.allowedOrigins),
    directory: body.directory,
    repository: body.repository,
  });
  // The room exists before the index lists it, so a listed id always has a room.
  await lobby(env).upsert(summaryOf(session));
  known.set(id, Date.now() + KNOWN_TTL_MS);
  const owner = await mintLink(env, secret, id, { role: "owner", name: body.name ?? by, ttlSeconds: OWNER_TOKEN_TTL_S }, by);
  if (!owner) return httpError(500, "internal", "could not record the owner link");
  return json({ id, ownerToken: owner.token, url: `/s/${id}#token=${owner.token}` }, 201);
}

// ───────────────────────────── WebSockets ─────────────────────────────

async function connectRoom(req: Request, env: Env, id: string, url: URL): Promise<Response> {
  if (req.headers.get("Upgrade")?.toLowerCase() !== "websocket") return httpError(426, "upgrade_required", "this route is a WebSocket");
  const ticket = url.searchParams.get("ticket");
  if (ticket !== null) {
    // The room spends the ticket (single use, link checked) and says whom it stands for.
    if (!(await sessionExists(env, id))) return httpError(404, "not_found", "no such session");
    const t = await env.SessionRoom.getByName(id).redeemTicket(ticket);
    if (!t.ok) return httpError(401, t.error, t.message);
    const { role, name, linkId, chat } = t.ticket;
    return openSocket(env, req, url, id, { sid: id, role, name, linkId, ...(chat ? { chat: true } : {}) });
  }
  const who = await identify(req, env, id);
  if (!who.ok) return who.response;
  if (!(await sessionExists(env, id))) return httpError(404, "not_found", "no such session");
  const room = env.SessionRoom.getByName(id);
  // Viewers may be sent to a relay, which keeps no link records: their link is checked here. The
  // room checks everyone else's as it admits the socket (one round trip, not two).
  const mayGoToRelay = who.identity.kind === "token" && who.identity.payload.role === "viewer";
  const a = await admit(room, id, who.identity, mayGoToRelay);
  if (!a.ok) return a.response;
  return openSocket(env, req, url, id, a.caller);
}

/** The upgrade, forwarded to a relay (reading viewers of a big session) or to the room. */
async function openSocket(env: Env, req: Request, url: URL, id: string, caller: Caller): Promise<Response> {
  const forward = forwardedUpgrade(req, url, caller);
  const continent = (req as { cf?: { continent?: string } }).cf?.continent;
  const res = (await routeToRelay(env, id, caller.role, forward, continent)) ?? (await env.SessionRoom.getByName(id).fetch(forward));
  return withSubprotocol(res, req);
}

async function connectLobby(req: Request, env: Env, url: URL): Promise<Response> {
  if (req.headers.get("Upgrade")?.toLowerCase() !== "websocket") return httpError(426, "upgrade_required", "this route is a WebSocket");
  const who = await identify(req, env);
  if (!who.ok) return who.response;
  const id = who.identity;
  const runner = id.kind === "token" && id.payload.sid === ALL_SESSIONS && id.payload.role === "agent";
  if (!isOperator(id) && !runner) return httpError(403, "forbidden", "the session list needs an operator or runner token");
  const caller: Caller =
    id.kind === "token"
      ? { sid: ALL_SESSIONS, role: id.payload.role, name: id.payload.name, linkId: await linkIdOf(id.payload) }
      : { sid: ALL_SESSIONS, role: "owner", name: id.email, linkId: await personLinkId(id.email) };
  const res = await lobby(env).fetch(forwardedUpgrade(req, url, caller));
  return withSubprotocol(res, req);
}

/**
 * The request the room (or relay) sees: no token anywhere (not in the URL it stores, not in
 * headers), and the verified caller — role, name, link — in headers only the Worker can set.
 */
function forwardedUpgrade(req: Request, url: URL, caller: Caller): Request {
  const clean = new URL(url);
  clean.searchParams.delete("ticket");
  // partyserver takes the connection id from `_pk`, and the room keys the agent's lease by it.
  // Ids are public (presence lists them), so a client-chosen id let a viewer connect under the
  // agent's id, cut it off from Stop and, on leaving, release its lease (test/security-viewer).
  // The Worker mints every connection id.
  clean.searchParams.set("_pk", crypto.randomUUID());
  const headers = new Headers();
  for (const [k, v] of req.headers) {
    const key = k.toLowerCase();
    if (key.startsWith("x-agentroom-") || key === "authorization" || key === "sec-websocket-protocol" || key === "cf-access-jwt-assertion" || key === "cookie") continue;
    headers.set(k, v);
  }
  headers.set("x-agentroom-role", caller.role);
  headers.set("x-agentroom-name", headerName(caller.name));
  // The link: what revoking closes, and the author id of chat messages (shared/chat.ts).
  headers.set("x-agentroom-link", caller.linkId);
  if (caller.chat) headers.set("x-agentroom-chat", "1");
  return new Request(clean.toString(), { method: "GET", headers });
}

/** Browsers drop a socket whose 101 does not echo one of the offered subprotocols. */
function withSubprotocol(res: Response, req: Request): Response {
  const offered = (req.headers.get("Sec-WebSocket-Protocol") ?? "").split(",").some((s) => s.trim() === WS_PROTOCOL);
  if (!offered || res.status !== 101 || !res.webSocket) return res;
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
  let res: Response;
  if (env.ASSETS) {
    const index = await appIndex(env.ASSETS, req.url);
    if (!index) return httpError(503, "app_unavailable", "the app's files are not available; try again");
    res = new Response(index.body, { status: index.status, headers: index.headers });
  } else {
    res = new Response("<!doctype html><title>agentroom</title>", { headers: { "content-type": "text/html; charset=utf-8" } });
  }
  return withEmbedHeaders(res, session.allowedOrigins);
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
