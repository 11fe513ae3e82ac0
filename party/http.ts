/** HTTP helpers for the Worker: JSON answers, the error body, capped and validated request bodies. */
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

export function httpError(status: number, code: string, message: string): Response {
  return json({ error: { code, message } }, status);
}

/** Reads a JSON body: 413 when too large, 400 when not JSON or not the schema's shape. */
export async function readJsonBody<T>(
  req: Request,
  schema: z.ZodType<T>,
): Promise<{ ok: true; value: T } | { ok: false; response: Response }> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_HTTP_BODY_BYTES) {
    return { ok: false, response: httpError(413, "body_too_large", `bodies are limited to ${MAX_HTTP_BODY_BYTES} bytes`) };
  }
  const text = await readCapped(req, MAX_HTTP_BODY_BYTES);
  if (text === null) {
    return { ok: false, response: httpError(413, "body_too_large", `bodies are limited to ${MAX_HTTP_BODY_BYTES} bytes`) };
  }
  let raw: unknown;
  try {
    raw = text.length ? JSON.parse(text) : {};
  } catch {
    return { ok: false, response: httpError(400, "bad_json", "body is not valid JSON") };
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first && first.path.length ? ` at ${first.path.join(".")}` : "";
    return { ok: false, response: httpError(400, "bad_request", `invalid body${where}: ${first?.message ?? "unknown"}`) };
  }
  return { ok: true, value: r.data };
}

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
      await reader.cancel();
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
