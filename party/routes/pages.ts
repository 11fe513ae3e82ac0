/** `/health` (public, more for the operator) and `/embed/:id` (the app's page, framable by the session's origins). */
import { Hono } from "hono";
import { httpError, json } from "../http.ts";
import { identify, isOperator } from "../auth.ts";
import { lobby, sessionExists } from "../known-sessions.ts";
import { allow, type AppEnv } from "../middleware.ts";

const VERSION = "0.1.0";
/** Set on the first request (party/worker.ts): at global scope a Worker's clock reads 0. */
let startedAt = 0;
export function markStarted(): void {
  if (startedAt === 0) startedAt = Date.now();
}

/** Rooms /health asks for their connection count: those active this week, newest first. */
const HEALTH_ROOMS = 100;
const HEALTH_ACTIVE_MS = 7 * 86_400_000;

export const pages = new Hono<AppEnv>();

/** Public: version and uptime. With the operator's token: sessions by status, connections, runners. */
pages.all("/health", allow("GET", "HEAD"), async (c) => {
  const env = c.env;
  const req = c.req.raw;
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
});

/** The app's page for an iframe; `embedOrigins` tells the security headers who may frame it. */
pages.all("/embed/:id", allow("GET", "HEAD"), async (c) => {
  const id = c.req.param("id");
  if (!(await sessionExists(c.env, id))) return httpError(404, "not_found", "no such session");
  const session = await c.env.SessionRoom.getByName(id).getSession();
  if (!session) return httpError(404, "not_found", "no such session");
  const assets = c.env.ASSETS;
  let res: Response;
  if (assets) {
    const index = await appIndex(assets, c.req.url);
    if (!index) return httpError(503, "app_unavailable", "the app's files are not available; try again");
    res = new Response(index.body, { status: index.status, headers: index.headers });
  } else {
    res = new Response("<!doctype html><title>agentroom</title>", { headers: { "content-type": "text/html; charset=utf-8" } });
  }
  c.set("embedOrigins", session.allowedOrigins);
  return res;
});

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
