/**
 * The conformance suite's server (test only, never deployed): each stream under `/v1/stream/` is
 * a Durable Object with the write side kept as small as the suite's read groups need (create,
 * append, close, delete), and every read — catch-up, long-poll, SSE, HEAD — answered by the
 * product's read code, party/stream/read.ts, exactly as the session room uses it. Offsets are the
 * product's (shared/http-stream.ts): the number of messages read, zero-padded.
 */
import { DurableObject } from "cloudflare:workers";
import { readStream, HEADERS, StreamWaiters, type Chunk, type ReadRefusal, type ReadResult, type StreamSource } from "../../party/stream/read.ts";
import { offsetOf, seqOf } from "../../shared/http-stream.ts";

interface Env {
  TestStream: DurableObjectNamespace<TestStream>;
}

const text = (status: number, body: string, headers: Record<string, string> = {}) => new Response(body, { status, headers: { "content-type": "text/plain", ...headers } });
const mediaType = (ct: string) => ct.split(";")[0]!.trim().toLowerCase();

export class TestStream extends DurableObject<Env> implements StreamSource {
  readonly #sql: SqlStorage;
  readonly #waiters = new StreamWaiters();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS meta (content_type TEXT NOT NULL, closed INTEGER NOT NULL)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS items (i INTEGER PRIMARY KEY, json TEXT, bytes BLOB)`);
  }

  get id(): string {
    return this.ctx.id.toString();
  }

  #meta(): { contentType: string; closed: boolean } | null {
    const row = this.#sql.exec<{ content_type: string; closed: number }>(`SELECT content_type, closed FROM meta`).toArray()[0];
    return row ? { contentType: row.content_type, closed: row.closed === 1 } : null;
  }

  get contentType(): string {
    return this.#meta()?.contentType ?? "application/octet-stream";
  }

  #count(): number {
    return this.#sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM items`).one().n;
  }

  isOffset(offset: string): boolean {
    return seqOf(offset) !== null;
  }

  tail(): string {
    return offsetOf(this.#count());
  }

  closed(): boolean {
    return this.#meta()?.closed ?? false;
  }

  read(after: string, maxBytes: number): ReadResult | ReadRefusal {
    const from = after === "-1" ? 0 : seqOf(after);
    const count = this.#count();
    if (from === null || from > count) return { status: 400, code: "bad_offset", message: "offset past the tail" };
    const items: Chunk[] = [];
    let bytes = 0;
    let next = from;
    for (const row of this.#sql.exec<{ i: number; json: string | null; bytes: ArrayBuffer | null }>(`SELECT i, json, bytes FROM items WHERE i > ? ORDER BY i LIMIT 1000`, from)) {
      const item: Chunk = row.json ?? new Uint8Array(row.bytes ?? new ArrayBuffer(0));
      const size = typeof item === "string" ? item.length : item.byteLength;
      if (items.length > 0 && bytes + size > maxBytes) break;
      items.push(item);
      bytes += size;
      next = row.i;
    }
    return { items, next: offsetOf(next), upToDate: next >= count };
  }

  changed(offset: string, signal: AbortSignal): Promise<void> {
    return offset !== this.tail() || this.closed() ? Promise.resolve() : this.#waiters.wait(signal);
  }

  #wake(): void {
    this.#waiters.wake();
  }

  override async fetch(req: Request): Promise<Response> {
    switch (req.method) {
      case "PUT":
        return this.#create(req);
      case "POST":
        return this.#append(req);
      case "DELETE":
        if (!this.#meta()) return text(404, "Stream not found");
        this.#sql.exec(`DELETE FROM meta`);
        this.#sql.exec(`DELETE FROM items`);
        this.#wake();
        return new Response(null, { status: 204 });
      case "GET":
      case "HEAD":
        if (!this.#meta()) return text(404, "Stream not found");
        return readStream(req, this, {
          longPollMs: 1_500,
          sseMaxMs: 30_000,
          maxReadBytes: 1024 * 1024,
          error: (status, code, message) => text(status, `${code}: ${message}`),
          immutableCacheControl: "public, max-age=31536000, immutable",
        });
      default:
        return text(405, "Method not allowed");
    }
  }

  async #create(req: Request): Promise<Response> {
    const contentType = req.headers.get("content-type") ?? "application/octet-stream";
    const closing = req.headers.get(HEADERS.closed)?.toLowerCase() === "true";
    const existing = this.#meta();
    if (existing) {
      const same = mediaType(existing.contentType) === mediaType(contentType) && existing.closed === closing;
      return same ? new Response(null, { status: 200, headers: { "content-type": existing.contentType, [HEADERS.nextOffset]: this.tail() } }) : text(409, "Stream already exists with different configuration");
    }
    const body = new Uint8Array(await req.arrayBuffer());
    const items = body.byteLength ? this.#items(contentType, body, true) : [];
    if (typeof items === "string") return text(400, items);
    this.#sql.exec(`INSERT INTO meta (content_type, closed) VALUES (?, ?)`, contentType, closing ? 1 : 0);
    this.#insert(items);
    const headers: Record<string, string> = { location: req.url, "content-type": contentType, [HEADERS.nextOffset]: this.tail() };
    if (closing) headers[HEADERS.closed] = "true";
    return new Response(null, { status: 201, headers });
  }

  async #append(req: Request): Promise<Response> {
    const meta = this.#meta();
    if (!meta) return text(404, "Stream not found");
    const closing = req.headers.get(HEADERS.closed)?.toLowerCase() === "true";
    const body = new Uint8Array(await req.arrayBuffer());
    if (meta.closed) {
      if (closing && body.byteLength === 0) return new Response(null, { status: 204, headers: { [HEADERS.nextOffset]: this.tail(), [HEADERS.closed]: "true" } });
      return text(409, "Stream is closed", { [HEADERS.closed]: "true", [HEADERS.nextOffset]: this.tail() });
    }
    if (body.byteLength === 0 && !closing) return text(400, "Empty body");
    if (body.byteLength > 0) {
      const ct = req.headers.get("content-type");
      if (!ct) return text(400, "Content-Type required");
      if (mediaType(ct) !== mediaType(meta.contentType)) return text(409, "Content-type mismatch");
      const items = this.#items(meta.contentType, body, false);
      if (typeof items === "string") return text(400, items);
      this.#insert(items);
    }
    if (closing) this.#sql.exec(`UPDATE meta SET closed = 1`);
    this.#wake();
    const headers: Record<string, string> = { [HEADERS.nextOffset]: this.tail() };
    if (closing) headers[HEADERS.closed] = "true";
    return new Response(null, { status: 204, headers });
  }

  /** A body as messages: a JSON stream's array is one message per element. An error string otherwise. */
  #items(contentType: string, body: Uint8Array, creating: boolean): Chunk[] | string {
    if (mediaType(contentType) !== "application/json") return [body];
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(body));
    } catch {
      return "Invalid JSON";
    }
    if (!Array.isArray(value)) return [JSON.stringify(value)];
    if (value.length === 0 && !creating) return "Empty arrays are not allowed";
    return value.map((v) => JSON.stringify(v));
  }

  #insert(items: Chunk[]): void {
    let i = this.#count();
    for (const item of items) {
      i++;
      if (typeof item === "string") this.#sql.exec(`INSERT INTO items (i, json) VALUES (?, ?)`, i, item);
      else this.#sql.exec(`INSERT INTO items (i, bytes) VALUES (?, ?)`, i, item);
    }
  }
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const url = new URL(req.url);
    if (req.method === "OPTIONS") return new Response(null, { status: 204 });
    if (!url.pathname.startsWith("/v1/stream/")) return text(404, "Not found");
    return env.TestStream.getByName(url.pathname).fetch(req);
  },
} satisfies ExportedHandler<Env>;
