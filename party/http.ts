/** HTTP helpers for the Worker: JSON answers, the error body, capped and validated request bodies (as Hono middleware). */
import { zValidator } from "@hono/zod-validator";
import { createMiddleware } from "hono/factory";
import { z } from "zod";

/** Largest request body the API reads (the biggest is a session's creation with 50 origins). */
export const MAX_HTTP_BODY_BYTES = 64 * 1024;

export const archiveBodySchema = z.object({ archived: z.boolean() });

export function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * A display name as a header value: headers must be ASCII, so other names travel as `~` plus
 * their percent-encoding (the room decodes).
 */
export function headerName(name: string): string {
  return encodeURIComponent(name).length === name.length ? name : "~" + encodeURIComponent(name);
}

export function httpError(status: number, code: string, message: string): Response {
  return json({ error: { code, message } }, status);
}

/**
 * A JSON body for a route, as two middlewares: `cappedJson` reads it (413 when too large, 400
 * `bad_json` when not JSON, an empty body reads as `{}`), then `@hono/zod-validator` checks the
 * schema (400 `bad_request` naming the first issue) and hands the handler `c.req.valid("json")`.
 *
 * The validator reads JSON only under a JSON content type; this API has always read the body
 * whatever its type, so the capped reader hands the validator the text it read, typed as JSON.
 */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return [cappedJson, zValidator("json", schema, (r) => (r.success ? undefined : invalidBody(r.error.issues)))] as const;
}

const tooLarge = () => httpError(413, "body_too_large", `bodies are limited to ${MAX_HTTP_BODY_BYTES} bytes`);

const cappedJson = createMiddleware(async (c, next) => {
  const req = c.req.raw;
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_HTTP_BODY_BYTES) return tooLarge();
  const text = await readCapped(req, MAX_HTTP_BODY_BYTES);
  if (text === null) return tooLarge();
  try {
    if (text.length) JSON.parse(text);
  } catch {
    return httpError(400, "bad_json", "body is not valid JSON");
  }
  const headers = new Headers(req.headers);
  headers.set("content-type", "application/json");
  c.req.raw = new Request(req.url, { method: req.method, headers, body: text.length ? text : "{}" });
  await next();
});

function invalidBody(issues: readonly z.core.$ZodIssue[]): Response {
  const first = issues[0];
  const where = first && first.path.length ? ` at ${first.path.join(".")}` : "";
  return httpError(400, "bad_request", `invalid body${where}: ${first?.message ?? "unknown"}`);
}

/**
 * Bytes past the cap that are read and dropped before a refused body is cut off. Like a web
 * server's lingering close: a client that is still sending a modestly oversized body gets to read
 * the 413 instead of a reset. Cancelling at once also broke the local runtime's own forwarding
 * (miniflare's entry worker answered 500 "Network connection lost" for a 96 KB chunked body).
 * Beyond this the stream is cancelled: draining without bound would be a way to tie up the Worker.
 */
const REFUSED_BODY_DRAIN_BYTES = 1024 * 1024;

/** The body as text, or null once it passes `max` bytes (a chunked body has no content-length). */
async function readCapped(req: Request, max: number): Promise<string | null> {
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await drainOrCancel(reader, size, max + REFUSED_BODY_DRAIN_BYTES);
      return null;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

/** Reads and drops the rest of a refused body up to `limit` bytes in all, then cancels it. */
async function drainOrCancel(reader: ReadableStreamDefaultReader<Uint8Array>, read: number, limit: number): Promise<void> {
  let size = read;
  while (size <= limit) {
    const { done, value } = await reader.read();
    if (done) return;
    size += value.byteLength;
  }
  await reader.cancel();
}
