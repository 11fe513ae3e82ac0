/**
 * /api/sessions: create and list (the operator), and one session's routes (its callers; owners
 * for what changes it). Bodies are validated with the zod schemas of shared/protocol.ts.
 */
import { Hono } from "hono";
import { CreateSessionBodySchema, OriginsBodySchema, PeopleBodySchema, ShareBodySchema } from "../../shared/protocol.ts";
import { summaryOf } from "../room/summary.ts";
import { archiveBodySchema, httpError, json, jsonBody } from "../http.ts";
import { allow, operatorOnly, ownerOnly, sessionCaller, type AppEnv, type Ctx } from "../middleware.ts";
import { forgetSession, lobby, rememberSession } from "../known-sessions.ts";
import { mintLink, originsOf, OWNER_TOKEN_TTL_S, SHARE_TOKEN_TTL_S, tooManyLinks } from "./mint.ts";
import { links } from "./links.ts";
import { stream } from "./stream.ts";
import { exporting } from "./export.ts";
import { accessConfig } from "../access.ts";

export const sessions = new Hono<AppEnv>();

const room = (c: Ctx) => c.env.SessionRoom.getByName(c.req.param("id") ?? "");
const numberOr = (q: string | undefined, fallback: number) => {
  const n = Number(q ?? String(fallback));
  return Number.isFinite(n) ? n : fallback;
};

// ── the list ──
sessions.all("/", allow("GET", "POST"), operatorOnly);
sessions.post("/", ...jsonBody(CreateSessionBodySchema), async (c) => {
  const body = c.req.valid("json");
  const who = c.var.identity;
  const by = who.kind === "token" ? who.payload.name : who.email;
  const id = newSessionId();
  const session = await c.env.SessionRoom.getByName(id).create({
    id,
    title: body.title,
    mode: body.mode,
    allowedOrigins: body.allowedOrigins && originsOf(body.allowedOrigins),
    directory: body.directory,
    repository: body.repository,
    agent: body.agent,
  });
  // The room exists before the index lists it, so a listed id always has a room.
  await lobby(c.env).upsert(summaryOf(session));
  rememberSession(id);
  const owner = await mintLink(c.env, id, { role: "owner", name: body.name ?? by, ttlSeconds: OWNER_TOKEN_TTL_S }, by);
  if (!owner) return httpError(500, "internal", "could not record the owner link");
  return json({ id, ownerToken: owner.token, url: `/s/${id}#token=${owner.token}` }, 201);
});
sessions.get("/", async (c) => {
  const archived = c.req.query("archived");
  const page = await lobby(c.env).list({
    cursor: c.req.query("cursor"),
    limit: numberOr(c.req.query("limit"), 50),
    archived: archived === "1" ? true : archived === "0" ? false : undefined,
  });
  return json(page);
});

// ── one session: every route below is its caller's ──
sessions.use("/:id/*", sessionCaller);

sessions.all("/:id", allow("GET", "DELETE"));
sessions.get("/:id", async (c) => {
  const session = await room(c).getSession();
  return session ? json({ session }) : httpError(404, "not_found", "no such session");
});
sessions.delete("/:id", ownerOnly("delete a session"), async (c) => {
  const id = c.req.param("id");
  await room(c).destroy();
  await lobby(c.env).remove(id);
  forgetSession(id);
  return json({ deleted: id });
});

sessions.all("/:id/history", allow("GET"), async (c) => {
  const page = await room(c).getHistory(c.req.query("before"), numberOr(c.req.query("limit"), 50));
  return page ? json(page) : httpError(404, "not_found", "no such session");
});
sessions.all("/:id/parts/:part", allow("GET"), async (c) => {
  const part = await room(c).getFullPart(c.req.param("part"));
  return part ? json({ part }) : httpError(404, "not_found", "no such part");
});
sessions.all("/:id/messages/:message", allow("GET"), async (c) => {
  const message = await room(c).getFullMessage(c.req.param("message"));
  return message ? json({ message }) : httpError(404, "not_found", "no such message");
});

sessions.all("/:id/archive", allow("POST"), ownerOnly("archive a session"), ...jsonBody(archiveBodySchema), async (c) => {
  const session = await room(c).setArchived(c.req.valid("json").archived);
  if (!session) return httpError(404, "not_found", "no such session");
  await lobby(c.env).upsert(summaryOf(session));
  return json({ session });
});

sessions.all("/:id/origins", allow("PUT"), ownerOnly("change where a session can be embedded"), ...jsonBody(OriginsBodySchema), async (c) => {
  const r = await room(c).setAllowedOrigins(originsOf(c.req.valid("json").origins));
  if (!r) return httpError(404, "not_found", "no such session");
  if ("archived" in r) return httpError(409, "archived", "this session is archived (read-only)");
  return json({ session: r.session });
});

sessions.all("/:id/share", allow("POST"), ownerOnly("mint share links"), ...jsonBody(ShareBodySchema), async (c) => {
  const id = c.req.param("id");
  const share = c.req.valid("json");
  const claims = { role: share.role, name: share.name ?? share.role, ttlSeconds: share.ttlSeconds ?? SHARE_TOKEN_TTL_S, chat: share.canChat === true };
  const minted = await mintLink(c.env, id, claims, c.var.caller.name);
  if (!minted) return tooManyLinks();
  const canChat = share.role === "driver" || share.canChat === true;
  return json({ token: minted.token, url: `/s/${id}#token=${minted.token}`, embedUrl: `/embed/${id}#token=${minted.token}`, role: share.role, canChat, linkId: minted.linkId });
});

sessions.all("/:id/people", allow("POST"), ownerOnly("share a session"), ...jsonBody(PeopleBodySchema), async (c) => {
  // A grant by email is used only by an Access sign-in: without Access nobody could ever use it.
  if (!accessConfig(c.env)) return httpError(409, "access_not_configured", "sharing with a person needs Cloudflare Access sign-in (ACCESS_TEAM_DOMAIN and ACCESS_AUD); share a link instead");
  const p = c.req.valid("json");
  const email = p.email.trim().toLowerCase();
  const record = await room(c).mintLink({ role: p.role, name: email, email, createdBy: c.var.caller.name, ttlSeconds: p.ttlSeconds ?? SHARE_TOKEN_TTL_S });
  return record ? json({ link: record }, 201) : tooManyLinks();
});

sessions.route("/:id/links", links);
sessions.route("/:id/stream", stream);
sessions.route("/:id/export", exporting);

sessions.all("/:id/ticket", allow("POST"), async (c) => {
  const caller = c.var.caller;
  // Bound to this session, the caller's role and name, and link (revoking the link voids it).
  return json(await room(c).issueTicket({ role: caller.role, name: caller.name, linkId: caller.linkId, ...(caller.chat ? { chat: true } : {}) }));
});

function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  let s = "";
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}
