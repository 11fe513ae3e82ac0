/**
 * The Worker, a Hono app: HTTP API, token checks before any upgrade or room call, static app,
 * embed route. Routes are listed in docs/architecture.md; frames in docs/protocol.md.
 *
 * Rules every route keeps:
 *  - a token is verified here, before a room object is touched (401 with the reason otherwise),
 *    and only from a header: `?token=` is refused (party/auth.ts); its link record is then checked
 *    by the room (party/links.ts), so a revoked link is refused everywhere;
 *  - a session id the index (Lobby) does not know answers 404 and creates no room object;
 *  - bodies are size-capped and validated with the zod schemas of shared/protocol.ts;
 *  - every error answers `{error: {code, message}}` with the matching status.
 *
 * Order: the gate (party/middleware.ts) and the security headers wrap every request; each path
 * lists its methods (`allow`, 405) after the caller's checks it always came after; `notFound`
 * serves the app's pages; `onError` is the one 500.
 */
import { Hono } from "hono";
import type { Env } from "./env.ts";
import { httpError } from "./http.ts";
import { gate, securityHeaders, type AppEnv } from "./middleware.ts";
import { markStarted, pages } from "./routes/pages.ts";
import { sessions } from "./routes/sessions.ts";
import { agents } from "./routes/agents.ts";
import { sockets } from "./routes/sockets.ts";

export { SessionRoom } from "./session-room.ts";
export { Lobby } from "./lobby.ts";
export { SessionRelay } from "./relay.ts";

/**
 * Paths route by their non-empty segments (`/api/sessions/` is `/api/sessions`), as the API
 * always did, except `/health`, which only ever answered at exactly that path. `%` is escaped so
 * a route's parameters are the segments as sent: Hono decodes parameters, and ids never were.
 */
function routedPath(req: Request): string {
  const raw = new URL(req.url).pathname;
  const path = "/" + raw.split("/").filter(Boolean).join("/");
  if (path === "/health" && raw !== "/health") return raw.replaceAll("%", "%25");
  return path.replaceAll("%", "%25");
}

const API_ROOTS = new Set(["api", "parties", "embed"]);

export const app = new Hono<AppEnv>({ getPath: routedPath });
app.use("*", async (_c, next) => {
  markStarted();
  await next();
});
app.use("*", gate, securityHeaders);
app.route("/", pages);
app.route("/api/sessions", sessions);
app.route("/api/agents", agents);
app.route("/parties", sockets);
app.notFound(async (c) => {
  const root = routedPath(c.req.raw).split("/")[1] ?? "";
  // Every page of the app (`/`, `/s/:id`, the SPA fallback): security headers by the middleware.
  if (!API_ROOTS.has(root) && c.env.ASSETS) return c.env.ASSETS.fetch(c.req.raw);
  return httpError(404, "not_found", "no such route");
});
app.onError((e) => {
  console.error("worker error", e);
  return httpError(500, "internal", "internal error");
});

export default {
  fetch: (req: Request, env: Env, ctx: ExecutionContext) => app.fetch(req, env, ctx),
} satisfies ExportedHandler<Env>;
