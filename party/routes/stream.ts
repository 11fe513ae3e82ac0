/**
 * /api/sessions/:id/stream — the session's event log over HTTP (Durable Streams read side; the
 * room answers, party/room/stream-read.ts). The caller was admitted by `sessionCaller` (Bearer
 * token or Access; viewer is enough, its link checked); the room gets the request without any
 * credential, with the caller's link so revoking it ends the read.
 *
 * Catch-up from the edge: a range below the head never changes, so a plain read from an explicit
 * offset is kept in the Worker's cache (Cache API) once the room has answered it, and every later
 * reader of that range — each still checked above — is answered from the cache without reaching
 * the room. Reads from `-1` or `now`, live reads and ranges that reach the head are never cached.
 */
import { Hono } from "hono";
import { allow, type AppEnv, type Ctx } from "../middleware.ts";
import { STREAM_READER_HEADER } from "../room/stream-read.ts";

export const stream = new Hono<AppEnv>();

/** Names the Worker's cache of closed ranges. */
const CACHE_NAME = "agentroom-stream";
/** How long an edge copy is kept: ranges never change, but chat deletions rewrite old events. */
const EDGE_TTL_S = 600;

stream.all("/", allow("GET", "HEAD"), async (c) => {
  const id = c.req.param("id") ?? "";
  const url = new URL(c.req.url);
  const key = c.req.raw.method === "GET" ? cacheKey(id, url) : null;
  const cache = key && typeof caches !== "undefined" ? await caches.open(CACHE_NAME) : undefined;
  if (!cache || !key) return roomRead(c, id, url);
  // Readers of one range arriving together share one room read (per isolate).
  let pending = inflight.get(key);
  if (!pending) {
    const hit = await cache.match(key);
    if (hit) return answer(c, hit, "hit");
    pending = inflight.get(key);
  }
  const first = !pending;
  if (!pending) {
    pending = fill(c, cache, key, id, url);
    inflight.set(key, pending);
    pending.catch(() => inflight.delete(key));
  }
  const got = await pending;
  return answer(c, new Response(got.body, { status: got.status, headers: got.headers }), first ? "miss" : "joined");
});

/** Room reads of cacheable ranges in progress, by cache key. */
const inflight = new Map<string, Promise<Buffered>>();

interface Buffered {
  status: number;
  headers: Headers;
  body: ArrayBuffer;
}

/** The room's answer, buffered (a catch-up read is bounded) and kept when it is a closed range. */
async function fill(c: Ctx, cache: Cache, key: string, id: string, url: URL): Promise<Buffered> {
  const res = await roomRead(c, id, url);
  const got: Buffered = { status: res.status, headers: new Headers(res.headers), body: await res.arrayBuffer() };
  if (res.status === 200 && (res.headers.get("cache-control") ?? "").includes("immutable")) {
    const copy = new Response(got.body, { status: 200, headers: got.headers });
    copy.headers.set("cache-control", `public, max-age=${EDGE_TTL_S}`);
    // Readers keep joining this read until the copy is in the cache, so none reads the room again.
    c.executionCtx.waitUntil(cache.put(key, copy).finally(() => inflight.delete(key)));
  } else inflight.delete(key);
  return got;
}

/** The read, asked of the room: no credential, the caller's link in the Worker's header. */
function roomRead(c: Ctx, id: string, url: URL): Promise<Response> {
  const headers = new Headers();
  const inm = c.req.header("if-none-match");
  // A cacheable read is asked in full (the cache needs the body); `answer` makes the 304.
  if (inm && !cacheKey(id, url)) headers.set("if-none-match", inm);
  headers.set(STREAM_READER_HEADER, c.var.caller.linkId);
  return c.env.SessionRoom.getByName(id).fetch(new Request(url.toString(), { method: c.req.raw.method, headers }));
}

/**
 * The cache key of a plain read from an explicit offset (the only reads worth keeping); null for
 * any other. Built from the session and the offset alone, so no credential is ever part of it.
 */
function cacheKey(id: string, url: URL): string | null {
  const offset = url.searchParams.get("offset");
  if (url.searchParams.has("live") || offset === null || offset === "-1" || offset === "now") return null;
  if (url.searchParams.getAll("offset").length !== 1) return null;
  return `https://stream-cache.agentroom.invalid/${encodeURIComponent(id)}?offset=${encodeURIComponent(offset)}`;
}

/** The reader's copy: private to it, and a 304 when it already holds this range. */
function answer(c: Ctx, res: Response, cache: "hit" | "miss" | "joined"): Response {
  const etag = res.headers.get("etag");
  if (etag && res.status === 200 && c.req.header("if-none-match") === etag) return new Response(null, { status: 304, headers: { etag, "x-agentroom-cache": cache } });
  const out = new Response(res.body, res);
  if (cache === "hit") out.headers.set("cache-control", "private, max-age=31536000, immutable");
  out.headers.set("x-agentroom-cache", cache);
  return out;
}
