/**
 * /api/sessions/:id/links — owners only: list (GET), revoke every share link (DELETE), revoke one
 * (DELETE /:linkId), rotate the owner link (POST /rotate: a new one, the caller's revoked).
 * `rotate` is registered before `:linkId`, so it is never taken for a link id.
 */
import { Hono } from "hono";
import { httpError, json } from "../http.ts";
import { allow, ownerOnly, type AppEnv, type Ctx } from "../middleware.ts";
import { mintLink, OWNER_TOKEN_TTL_S, tooManyLinks } from "./mint.ts";
import { accessConfig } from "../access.ts";

export const links = new Hono<AppEnv>();

const room = (c: Ctx) => c.env.SessionRoom.getByName(c.req.param("id") ?? "");

links.use("*", ownerOnly("see or revoke links"));

links.all("/", allow("GET", "DELETE"));
links.get("/", async (c) => json({ links: await room(c).listLinks(), accessSignIn: accessConfig(c.env) !== null }));
links.delete("/", async (c) => {
  // Every share link and grant; owner links stay (rotate replaces those), so the owner is not locked out.
  const all = (await room(c).listLinks()).filter((l) => l.revokedAt === null && l.role !== "owner").map((l) => l.id);
  return json({ revoked: await room(c).revokeLinks(all) });
});

links.all("/rotate", allow("POST"), async (c) => {
  const id = c.req.param("id") ?? "";
  const caller = c.var.caller;
  const minted = await mintLink(c.env, id, { role: "owner", name: caller.name, ttlSeconds: OWNER_TOKEN_TTL_S }, caller.name);
  if (!minted) return tooManyLinks();
  // The caller's own owner link, or (the operator, who has none) every other owner link.
  const live = (await room(c).listLinks()).filter((l) => l.role === "owner" && l.revokedAt === null && l.id !== minted.linkId);
  const own = live.find((l) => l.id === caller.linkId);
  const revoked = await room(c).revokeLinks(own ? [own.id] : live.map((l) => l.id));
  return json({ token: minted.token, url: `/s/${id}#token=${minted.token}`, linkId: minted.linkId, revoked });
});

links.all("/:linkId", allow("DELETE"), async (c) => {
  const linkId = c.req.param("linkId");
  const known = (await room(c).listLinks()).some((l) => l.id === linkId);
  if (!known) return httpError(404, "not_found", "no such link");
  return json({ revoked: await room(c).revokeLinks([linkId]) });
});
