/**
 * The party routes: `/parties/session-room/:id` (a session's socket) and `/parties/lobby/<LOBBY_NAME>`
 * (the session list's). The Worker checks who connects, then partyserver's `routePartykitRequest`
 * carries the upgrade to the object the URL names, with the check in its `onBeforeConnect`.
 *
 * One step stays custom: a reading viewer of a big session goes to one of its relays, not to the
 * room (party/relay-route.ts), and which relay is the room's answer. `onBeforeConnect` can change
 * the request or answer it, not pick another object, so the relay's answer to the upgrade is
 * returned from the hook as its Response.
 */
import { Hono } from "hono";
import { routePartykitRequest } from "partyserver";
import { ALL_SESSIONS, linkIdOf } from "../../shared/token.ts";
import type { Env } from "../env.ts";
import { admit, identify, isOperator, personLinkId, type Caller } from "../auth.ts";
import { headerName, httpError } from "../http.ts";
import { sessionExists } from "../known-sessions.ts";
import { LOBBY_NAME } from "../lobby.ts";
import type { AppEnv } from "../middleware.ts";
import { routeToRelay } from "../relay-route.ts";

/** The subprotocol the server answers; the token travels as a second one, `t.<token>`. */
const WS_PROTOCOL = "agentroom";

export const sockets = new Hono<AppEnv>();

sockets.all("/session-room/:id", (c) => viaPartyserver(c.req.raw, c.env, (req) => roomCaller(req, c.env, c.req.param("id"))));
sockets.all(`/lobby/${LOBBY_NAME}`, (c) => viaPartyserver(c.req.raw, c.env, (req) => lobbyCaller(req, c.env)));
sockets.all("/:party/:name", () => httpError(404, "not_found", "no such party"));

type Check = (req: Request) => Promise<{ ok: true; caller: Caller; id?: string } | { ok: false; response: Response }>;

/** A WebSocket only (426 otherwise); the caller checked, then the upgrade forwarded without its token. */
async function viaPartyserver(req: Request, env: Env, check: Check): Promise<Response> {
  if (req.headers.get("Upgrade")?.toLowerCase() !== "websocket") return httpError(426, "upgrade_required", "this route is a WebSocket");
  const res = await routePartykitRequest(req, env, {
    onBeforeConnect: async (hooked) => {
      const who = await check(hooked);
      if (!who.ok) return who.response;
      const forward = forwardedUpgrade(hooked, who.caller);
      if (who.id === undefined) return forward;
      const continent = (req as { cf?: { continent?: string } }).cf?.continent;
      return (await routeToRelay(env, who.id, who.caller.role, forward, continent)) ?? forward;
    },
  });
  // Unreachable for the two routes above (both name a bound party), kept as the API's 404.
  if (!res) return httpError(404, "not_found", "no such party");
  return withSubprotocol(res, req);
}

/** A session's socket: by single-use ticket, or by token (signature, index, then link). */
async function roomCaller(req: Request, env: Env, id: string): ReturnType<Check> {
  const ticket = new URL(req.url).searchParams.get("ticket");
  if (ticket !== null) {
    // The room spends the ticket (single use, link checked) and says whom it stands for.
    if (!(await sessionExists(env, id))) return { ok: false, response: httpError(404, "not_found", "no such session") };
    const t = await env.SessionRoom.getByName(id).redeemTicket(ticket);
    if (!t.ok) return { ok: false, response: httpError(401, t.error, t.message) };
    const { role, name, linkId, chat } = t.ticket;
    return { ok: true, id, caller: { sid: id, role, name, linkId, ...(chat ? { chat: true } : {}) } };
  }
  const who = await identify(req, env, id);
  if (!who.ok) return who;
  if (!(await sessionExists(env, id))) return { ok: false, response: httpError(404, "not_found", "no such session") };
  // Viewers may be sent to a relay, which keeps no link records: their link is checked here. The
  // room checks everyone else's as it admits the socket (one round trip, not two).
  const mayGoToRelay = who.identity.kind === "token" && who.identity.payload.role === "viewer";
  const a = await admit(env.SessionRoom.getByName(id), id, who.identity, mayGoToRelay);
  return a.ok ? { ok: true, id, caller: a.caller } : a;
}

/** The session list's socket: the operator or a runner. */
async function lobbyCaller(req: Request, env: Env): ReturnType<Check> {
  const who = await identify(req, env);
  if (!who.ok) return who;
  const id = who.identity;
  const runner = id.kind === "token" && id.payload.sid === ALL_SESSIONS && id.payload.role === "agent";
  if (!isOperator(id) && !runner) return { ok: false, response: httpError(403, "forbidden", "the session list needs an operator or runner token") };
  const caller: Caller =
    id.kind === "token"
      ? { sid: ALL_SESSIONS, role: id.payload.role, name: id.payload.name, linkId: await linkIdOf(id.payload) }
      : { sid: ALL_SESSIONS, role: "owner", name: id.email, linkId: await personLinkId(id.email) };
  return { ok: true, caller };
}

/**
 * The request the room (or relay) sees: no token anywhere (not in the URL it stores, not in
 * headers), and the verified caller — role, name, link — in headers only the Worker can set.
 */
function forwardedUpgrade(req: Request, caller: Caller): Request {
  const clean = new URL(req.url);
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
