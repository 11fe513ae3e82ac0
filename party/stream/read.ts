/**
 * The read side of the Durable Streams protocol (https://github.com/durable-streams/durable-streams,
 * PROTOCOL.md): catch-up reads by offset, `live=long-poll` and `live=sse`, `Stream-Next-Offset`,
 * `Stream-Up-To-Date`, `Stream-Cursor`, ETag / If-None-Match, `Stream-Closed`. It knows nothing of
 * rooms: a `StreamSource` says what lies after an offset. The session room serves its event log
 * through it (party/room/stream-source.ts), and the conformance Worker (test/conformance/) serves
 * the suite's own writable streams through it, unchanged, so the suite tests this code.
 */

/** One message of a stream: a serialized JSON value (JSON streams) or bytes / text. */
export type Chunk = string | Uint8Array;

/** What a read found after an offset. */
export interface ReadResult {
  items: Chunk[];
  /** The offset after the last item (the caller's next `offset`). */
  next: string;
  /** True when `next` is the stream's head. */
  upToDate: boolean;
}

/** A read the source refuses (an offset older than what it keeps, say). */
export interface ReadRefusal {
  status: number;
  code: string;
  message: string;
}

export interface StreamSource {
  /** Names the stream in ETags. */
  readonly id: string;
  readonly contentType: string;
  /** True for an offset this stream could have handed out (not `-1` / `now`). */
  isOffset(offset: string): boolean;
  /** The head: the offset after the last item. */
  tail(): string;
  closed(): boolean;
  /** Items after `after` (`-1`: from the start), about `maxBytes` at most (at least one item). */
  read(after: string, maxBytes: number): ReadResult | ReadRefusal;
  /** Resolves once something after `offset` may exist, or the stream closed, or `signal` aborts. */
  changed(offset: string, signal: AbortSignal): Promise<void>;
}

export interface ReadOptions {
  /** How long a long-poll waits before its 204; also the SSE keep-alive period. */
  longPollMs: number;
  /** An SSE response ends after this long (the client reconnects from its offset). */
  sseMaxMs: number;
  /** Bytes one response (or one SSE data event) carries, about. */
  maxReadBytes: number;
  /** Ends a waiting long-poll (with `onAbort`'s answer) and an open SSE response. */
  signal?: AbortSignal;
  /** The answer to a long-poll whose signal aborted (a revoked link). */
  onAbort?: () => Response;
  /** Called once an SSE response has ended. */
  onEnd?: () => void;
  /** An error answer; the product's is `{error: {code, message}}`. */
  error(status: number, code: string, message: string): Response;
  /** Cache-Control of a range below the head (it never changes). */
  immutableCacheControl: string;
}

export const HEADERS = {
  nextOffset: "Stream-Next-Offset",
  upToDate: "Stream-Up-To-Date",
  cursor: "Stream-Cursor",
  closed: "Stream-Closed",
  sseEncoding: "Stream-SSE-Data-Encoding",
} as const;

/**
 * Readers waiting for a stream to change: `wait` until the next `wake` (or the signal aborts). A
 * source's `changed` is `offset !== tail() || closed() ? now : waiters.wait(signal)`.
 */
export class StreamWaiters {
  #waiting = new Set<() => void>();

  wait(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#waiting.delete(done);
        resolve();
      };
      this.#waiting.add(done);
      signal.addEventListener("abort", done);
    });
  }

  wake(): void {
    for (const w of [...this.#waiting]) w();
  }
}

type Live = "long-poll" | "sse" | undefined;

const encoder = new TextEncoder();

/** GET (and HEAD) of a stream. */
export async function readStream(req: Request, source: StreamSource, opts: ReadOptions): Promise<Response> {
  const params = new URL(req.url).searchParams;
  const offsets = params.getAll("offset");
  if (offsets.length > 1) return opts.error(400, "bad_offset", "give one offset");
  const offset = offsets[0];
  if (offset !== undefined && offset !== "-1" && offset !== "now" && !source.isOffset(offset)) {
    return opts.error(400, "bad_offset", "offset must be -1 (the start), now (the head), or a Stream-Next-Offset this stream returned");
  }
  const liveRaw = params.get("live");
  if (liveRaw !== null && liveRaw !== "long-poll" && liveRaw !== "sse") {
    return opts.error(400, "bad_live", "live must be long-poll or sse");
  }
  const live: Live = liveRaw ?? undefined;
  if (live && offset === undefined) return opts.error(400, "offset_required", `live=${live} needs an offset (-1 for the start)`);
  const cursor = params.get("cursor") ?? undefined;
  if (req.method === "HEAD") return head(source);
  const from = offset === "now" ? source.tail() : offset ?? "-1";
  if (live === "sse") return sse(source, from, cursor, opts);
  return catchUpOrPoll(req, source, offset ?? "-1", from, live, cursor, opts);
}

function head(source: StreamSource): Response {
  const headers = new Headers({ "content-type": source.contentType, [HEADERS.nextOffset]: source.tail(), "cache-control": "no-store" });
  if (source.closed()) headers.set(HEADERS.closed, "true");
  return new Response(null, { status: 200, headers });
}

async function catchUpOrPoll(req: Request, source: StreamSource, asked: string, from: string, live: Live, cursor: string | undefined, opts: ReadOptions): Promise<Response> {
  let r = source.read(from, opts.maxReadBytes);
  if ("status" in r) return opts.error(r.status, r.code, r.message);
  const headers = new Headers({ "content-type": source.contentType });
  if (asked === "now" && live !== "long-poll") {
    headers.set(HEADERS.nextOffset, source.tail());
    headers.set(HEADERS.upToDate, "true");
    headers.set("cache-control", "no-store");
    if (source.closed()) headers.set(HEADERS.closed, "true");
    return new Response(isJson(source) ? "[]" : "", { status: 200, headers });
  }
  if (live === "long-poll" && r.items.length === 0) {
    if (source.closed()) return noContent(from, undefined, true);
    const outcome = await waitFor(source, from, opts.longPollMs, opts.signal);
    if (outcome === "aborted") return opts.onAbort?.() ?? opts.error(410, "stream_ended", "this stream was ended");
    const again = source.read(from, opts.maxReadBytes);
    if ("status" in again) return opts.error(again.status, again.code, again.message);
    if (again.items.length === 0) return noContent(from, nextCursor(cursor), source.closed());
    r = again;
  }
  headers.set(HEADERS.nextOffset, r.next);
  if (live === "long-poll") headers.set(HEADERS.cursor, nextCursor(cursor));
  if (r.upToDate) headers.set(HEADERS.upToDate, "true");
  const closedAtTail = r.upToDate && source.closed();
  if (closedAtTail) headers.set(HEADERS.closed, "true");
  const etag = `"${source.id}:${asked}:${r.next}${closedAtTail ? ":c" : ""}"`;
  headers.set("etag", etag);
  // A range that ends below the head never changes; one that reaches it grows with the next item.
  headers.set("cache-control", r.upToDate && !closedAtTail ? "no-cache" : opts.immutableCacheControl);
  if (req.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers: { etag } });
  return new Response(body(source, r.items), { status: 200, headers });
}

function noContent(offset: string, cursor: string | undefined, closed: boolean): Response {
  const headers = new Headers({ [HEADERS.nextOffset]: offset, [HEADERS.upToDate]: "true", "cache-control": "no-store" });
  if (cursor !== undefined && !closed) headers.set(HEADERS.cursor, cursor);
  if (closed) headers.set(HEADERS.closed, "true");
  return new Response(null, { status: 204, headers });
}

type Outcome = "changed" | "timeout" | "aborted";

/** Waits for the source to change after `offset`, `ms` at most, or until `signal` aborts. */
async function waitFor(source: StreamSource, offset: string, ms: number, signal: AbortSignal | undefined): Promise<Outcome> {
  if (signal?.aborted) return "aborted";
  const stop = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => stop.abort();
  signal?.addEventListener("abort", onAbort);
  try {
    return await Promise.race([
      source.changed(offset, stop.signal).then((): Outcome => (signal?.aborted ? "aborted" : "changed")),
      new Promise<Outcome>((resolve) => {
        timer = setTimeout(() => resolve("timeout"), ms);
        stop.signal.addEventListener("abort", () => resolve(signal?.aborted ? "aborted" : "timeout"));
      }),
    ]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    stop.abort();
  }
}

function isJson(source: StreamSource): boolean {
  return source.contentType.split(";")[0]!.trim().toLowerCase() === "application/json";
}

function isText(source: StreamSource): boolean {
  const ct = source.contentType.split(";")[0]!.trim().toLowerCase();
  return ct.startsWith("text/") || ct === "application/json";
}

/** A JSON stream reads as one array of its items; any other as its bytes, concatenated. */
function body(source: StreamSource, items: Chunk[]): Uint8Array<ArrayBuffer> | string {
  if (isJson(source)) return "[" + items.map((i) => (typeof i === "string" ? i : new TextDecoder().decode(i))).join(",") + "]";
  if (items.every((i) => typeof i === "string")) return items.join("");
  const parts = items.map((i) => (typeof i === "string" ? encoder.encode(i) : i));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** An SSE event: every line of the payload as its own `data:` line. */
function sseEvent(type: "data" | "control", payload: string): string {
  return `event: ${type}\n` + payload.split(/\r\n|\r|\n/).map((l) => `data:${l}`).join("\n") + "\n\n";
}

function sseData(source: StreamSource, items: Chunk[]): string {
  const b = body(source, items);
  if (typeof b === "string") return isText(source) ? b : btoa(b);
  if (isText(source)) return new TextDecoder().decode(b);
  let bin = "";
  for (const byte of b) bin += String.fromCharCode(byte);
  return btoa(bin);
}

/**
 * `live=sse`: data events, each followed by a control event with the next offset; a keep-alive
 * control event every `longPollMs` while nothing happens; the response ends after `sseMaxMs`, when
 * the stream closes (a final control event with `streamClosed`), or when `signal` aborts.
 */
function sse(source: StreamSource, from: string, cursor: string | undefined, opts: ReadOptions): Response {
  const first = source.read(from, opts.maxReadBytes);
  if ("status" in first) return opts.error(first.status, first.code, first.message);
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const headers = new Headers({ "content-type": "text/event-stream", "cache-control": "no-cache" });
  if (!isText(source)) headers.set(HEADERS.sseEncoding, "base64");
  const ended = new AbortController();
  const onAbort = () => ended.abort();
  opts.signal?.addEventListener("abort", onAbort);
  void (async () => {
    const deadline = Date.now() + opts.sseMaxMs;
    let offset = from;
    let r: ReadResult | ReadRefusal = first;
    try {
      while (!ended.signal.aborted) {
        if ("status" in r) break;
        const data = r.items.length ? sseEvent("data", sseData(source, r.items)) : "";
        offset = r.next;
        const closed = r.upToDate && source.closed();
        const control: Record<string, string | boolean> = { streamNextOffset: offset };
        if (closed) control.streamClosed = true;
        else {
          control.streamCursor = nextCursor(cursor);
          if (r.upToDate) control.upToDate = true;
        }
        // One write for the pair: a reader sees a data event with its control event.
        await writer.write(encoder.encode(data + sseEvent("control", JSON.stringify(control))));
        if (closed) break;
        if (r.upToDate) {
          const left = deadline - Date.now();
          if (left <= 0) break;
          const outcome = await waitFor(source, offset, Math.min(opts.longPollMs, left), ended.signal);
          if (outcome === "aborted" || Date.now() >= deadline) break;
        }
        r = source.read(offset, opts.maxReadBytes);
      }
    } catch {
      // The reader went away.
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      opts.onEnd?.();
      await writer.close().catch(() => {});
    }
  })();
  return new Response(readable, { status: 200, headers });
}

/** Cursor intervals (PROTOCOL.md §8.1): 20 s since a fixed epoch; never one the client already sent. */
const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9);
const CURSOR_INTERVAL_MS = 20_000;

export function nextCursor(client: string | undefined): string {
  const now = Math.floor((Date.now() - CURSOR_EPOCH_MS) / CURSOR_INTERVAL_MS);
  const sent = client === undefined ? NaN : Number.parseInt(client, 10);
  if (!Number.isFinite(sent) || sent < now) return String(now);
  // Jitter of 1 s to an hour, in intervals, so cached long-polls of many clients spread out.
  return String(sent + Math.max(1, Math.ceil((1 + Math.floor(Math.random() * 3600)) / 20)));
}
