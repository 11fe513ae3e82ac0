/**
 * The Worker's middleware (party/worker.ts puts it in order): the gate every API request passes,
 * the allowed methods of a path, who the caller is (operator, session caller, owner), and the
 * security headers of the app's pages. Refusals answer `{error: {code, message}}` (party/http.ts).
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { Env } from "./env.ts";
import { admit, identify, isOperator, type Caller, type Identity } from "./auth.ts";
import { withAppHeaders, withEmbedHeaders } from "./headers.ts";
import { httpError } from "./http.ts";
import { sessionExists } from "./known-sessions.ts";
import { spendUrlTokens } from "./url-tokens.ts";

/** What middleware hands the handlers after it. */
export interface Vars {
  identity: Identity;
  caller: Caller;
  /** Set by the embed route: the page may be framed by these origins. */
  embedOrigins: readonly string[];
}
export type AppEnv = { Bindings: Env; Variables: Vars };
export type Ctx = Context<AppEnv>;

/** Paths of the API (not the app's pages): `?token=` is refused on them and they need the secret. */
export function isApiPath(path: string): boolean {
  return path.startsWith("/api/") || path.startsWith("/parties/") || path.startsWith("/embed/") || path === "/health";
}

/**
 * Before any route: a token in the URL, on any path, is refused (never echoed) and spent — its
 * link revoked (party/url-tokens.ts); without TOKEN_SECRET the API refuses to serve (/health still
 * answers). Tested on the path as sent, as it always was.
 */
export const gate = createMiddleware<AppEnv>(async (c, next) => {
  const url = new URL(c.req.url);
  const api = isApiPath(url.pathname);
  const refused = await spendUrlTokens(url, c.env, api);
  if (refused) return refused;
  if (!api) return next();
  if (url.pathname !== "/health" && !c.env.TOKEN_SECRET) {
    return httpError(500, "misconfigured", "TOKEN_SECRET is not set (wrangler secret put TOKEN_SECRET, or .dev.vars locally)");
  }
  await next();
});

/**
 * The methods a path takes; any other answers 405 ("use GET or POST"). Registered with `all`
 * before the path's handlers. Reads the method as sent: Hono runs a HEAD as its GET route, and
 * only the routes that list HEAD take it.
 */
export function allow(...methods: string[]) {
  const message = "use " + methods.filter((m) => m !== "HEAD").join(" or ");
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!methods.includes(c.req.raw.method)) return httpError(405, "method_not_allowed", message);
    await next();
  });
}

/** The operator only (creating and listing sessions). */
export const operatorOnly = createMiddleware<AppEnv>(async (c, next) => {
  const who = await identify(c.req.raw, c.env);
  if (!who.ok) return who.response;
  if (!isOperator(who.identity)) return httpError(403, "forbidden", "only the operator may create or list sessions");
  c.set("identity", who.identity);
  await next();
});

/**
 * A session's caller: the token's signature (401), then the index (404, no room object created
 * for an unknown id), then the room's link record or grant (401/403).
 */
export const sessionCaller = createMiddleware<AppEnv>(async (c, next) => {
  const id = c.req.param("id") ?? "";
  const who = await identify(c.req.raw, c.env, id);
  if (!who.ok) return who.response;
  if (!(await sessionExists(c.env, id))) return httpError(404, "not_found", "no such session");
  const a = await admit(c.env.SessionRoom.getByName(id), id, who.identity);
  if (!a.ok) return a.response;
  c.set("identity", who.identity);
  c.set("caller", a.caller);
  await next();
});

/** The session's owner only; `what` completes "only the owner may …". */
export function ownerOnly(what: string) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.var.caller.role !== "owner") return httpError(403, "forbidden", `only the owner may ${what}`);
    await next();
  });
}

/**
 * Security headers (party/headers.ts): every HTML page of the app refuses to be framed; the
 * embed, which names `embedOrigins`, may be framed by those. API answers (JSON) pass as they are,
 * and so do socket upgrades (a 101 is never copied: the copy would lose its socket).
 */
export const securityHeaders = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  const origins = c.get("embedOrigins");
  const res = origins ? withEmbedHeaders(c.res, origins) : withAppHeaders(c.res);
  if (res === c.res) return;
  // Cleared first: assigning over a response merges the old one's headers into the new.
  c.res = undefined;
  c.res = res;
});
