/**
 * The room's event log as a Durable Streams stream (party/stream/read.ts; docs/protocol.md,
 * "Reading over HTTP"): a JSON stream whose items are the log's events — the same objects, seqs
 * and delta merging as the WebSocket replay (room/log.ts `readMerged`). A reader from `-1` starts
 * like a WebSocket joiner with no cursor: the snapshot frame (the session at the head), then the
 * events after it. An offset is the seq read up to (shared/http-stream.ts); offset
 * 0000000000000000 reads the log from seq 1 while it still holds it. The stream is closed while
 * the session is archived.
 *
 * Readers are requests held by the room (long-poll and SSE): each is registered under its link,
 * so revoking the link ends it at once, and every commit wakes the waiting ones.
 */
import { deltaTextBudget } from "../../shared/delta.ts";
import type { Limits } from "../../shared/limits.ts";
import { offsetOf, seqOf } from "../../shared/http-stream.ts";
import { httpError } from "../http.ts";
import { LINK_ERROR_MESSAGES } from "../links.ts";
import { readStream, StreamWaiters, type Chunk, type ReadRefusal, type ReadResult, type StreamSource } from "../stream/read.ts";
import type { EventLog } from "./log.ts";
import type { MetaStore } from "./meta.ts";

/** What the stream needs of the room. */
export interface StreamHost {
  readonly limits: Limits;
  readonly log: EventLog;
  readonly meta: MetaStore;
  /** The WebSocket's snapshot frame, serialized (cached by the fan-out until the next commit). */
  snapshotFrame(): string;
}

/** The header the Worker sets on a stream read it admitted: the reader's link. */
export const STREAM_READER_HEADER = "x-agentroom-stream-link";

/** A long-poll waits this long for the next event before its 204. */
export const LONG_POLL_MS = 20_000;
/** An SSE response ends after this long; the reader reconnects from its offset. */
export const SSE_MAX_MS = 60_000;
/** Events one read looks at, at most (a response is cut further by bytes). */
const READ_EVENTS = 5_000;
/** Open long-polls and SSE responses one room holds, at most. */
export const MAX_STREAM_READERS = 2_000;
/** Ranges below the head never change: the Worker's edge cache and browsers may keep them. */
export const IMMUTABLE_CACHE_CONTROL = "private, max-age=31536000, immutable";

export class RoomStreams implements StreamSource {
  readonly contentType = "application/json";
  readonly #room: StreamHost;
  /** Waiting readers: every commit resolves them (they re-read from their offset). */
  readonly #waiters = new StreamWaiters();
  /** Open readers by link, so revoking a link ends them. */
  #byLink = new Map<string, Set<AbortController>>();
  #open = 0;
  /** The last read's result, shared by readers at the same offset between two commits. */
  #last: { key: string; result: ReadResult } | undefined;

  constructor(room: StreamHost) {
    this.#room = room;
  }

  get id(): string {
    return this.#room.meta.session().id;
  }

  isOffset(offset: string): boolean {
    return seqOf(offset) !== null;
  }

  tail(): string {
    return offsetOf(this.#room.meta.seq());
  }

  closed(): boolean {
    return this.#room.meta.session().archived;
  }

  read(after: string, maxBytes: number): ReadResult | ReadRefusal {
    const head = this.#room.meta.seq();
    const key = `${after}:${head}:${maxBytes}`;
    if (this.#last?.key === key) return this.#last.result;
    const result = this.#read(after, head, maxBytes);
    if (!("status" in result)) this.#last = { key, result };
    return result;
  }

  #read(after: string, head: number, maxBytes: number): ReadResult | ReadRefusal {
    const log = this.#room.log;
    // From the start means from the session as it is now: the snapshot a WebSocket joiner gets
    // (the log alone lacks the session's state, and may no longer reach back to seq 1).
    if (after === "-1") return { items: [this.#room.snapshotFrame()], next: offsetOf(head), upToDate: true };
    const from = seqOf(after);
    if (from === null) return { status: 400, code: "bad_offset", message: "not an offset of this stream" };
    if (from > head) return { status: 400, code: "bad_offset", message: `offset ${after} is past the head of this stream (${offsetOf(head)})` };
    if (!log.canReplayFrom(from, head)) {
      return {
        status: 410,
        code: "offset_expired",
        message: `events after ${after} are no longer kept (the log starts at seq ${log.start(head)}); read from offset=-1, which starts from a snapshot of the session`,
      };
    }
    const items: Chunk[] = [];
    let bytes = 0;
    const upTo = Math.min(head, from + READ_EVENTS);
    // Uncut, the read covers every seq up to `upTo`; cut by bytes, up to its last item's seq.
    let next = upTo;
    let last = from;
    for (const e of log.readMerged(from, upTo, deltaTextBudget(this.#room.limits.maxOutgoingFrameBytes))) {
      const s = JSON.stringify(e);
      if (items.length > 0 && bytes + s.length > maxBytes) {
        next = last;
        break;
      }
      items.push(s);
      bytes += s.length + 1;
      last = e.seq;
    }
    return { items, next: offsetOf(next), upToDate: next >= head };
  }

  changed(offset: string, signal: AbortSignal): Promise<void> {
    return offset !== this.tail() || this.closed() ? Promise.resolve() : this.#waiters.wait(signal);
  }

  /** Events were committed (or the session archived): waiting readers read again. */
  committed(): void {
    this.#last = undefined;
    this.#waiters.wake();
  }

  /** A stream read the Worker admitted, for the reader with this link. */
  async handle(req: Request, linkId: string): Promise<Response> {
    if (this.#open >= MAX_STREAM_READERS) return httpError(503, "too_many_readers", `this room serves at most ${MAX_STREAM_READERS} open stream reads; retry later`);
    const ctl = new AbortController();
    let set = this.#byLink.get(linkId);
    if (!set) this.#byLink.set(linkId, (set = new Set()));
    set.add(ctl);
    this.#open++;
    const end = () => {
      if (!set.delete(ctl)) return;
      this.#open--;
      if (set.size === 0 && this.#byLink.get(linkId) === set) this.#byLink.delete(linkId);
    };
    try {
      const res = await readStream(req, this, {
        longPollMs: LONG_POLL_MS,
        sseMaxMs: SSE_MAX_MS,
        maxReadBytes: this.#room.limits.streamReadBytes,
        signal: ctl.signal,
        onAbort: () => httpError(401, "revoked", LINK_ERROR_MESSAGES.revoked),
        onEnd: end,
        error: httpError,
        immutableCacheControl: IMMUTABLE_CACHE_CONTROL,
      });
      // An SSE response runs on after this returns; it ends its registration itself (`onEnd`).
      if (res.headers.get("content-type") !== "text/event-stream") end();
      return res;
    } catch (e) {
      end();
      throw e;
    }
  }

  /** Ends every open read (the session was deleted). */
  endAll(): void {
    this.revoke([...this.#byLink.keys()]);
  }

  /** Ends every open read made with these links (revocation). */
  revoke(links: Iterable<string>): void {
    for (const id of links) {
      const set = this.#byLink.get(id);
      if (!set) continue;
      // Each read ends its own registration as it answers (`end` in `handle`).
      for (const ctl of [...set]) ctl.abort();
    }
  }
}
