/**
 * Where the watcher's transcript comes from. A viewer reads the session's HTTP stream (Durable
 * Streams read side, with the protocol's own client) and resumes from its last offset after a
 * drop; a driver holds the room's WebSocket through the shared RoomClient, which it needs anyway
 * to prompt, stop and answer, and which resumes from its cursor. Both fold events with the app's
 * reducer (shared/transcript.ts) into one Transcript.
 */
import { stream, FetchError, type StreamResponse } from "@durable-streams/client";
import { applyStreamItem, START_OFFSET, StreamItemSchema, type StreamItem } from "../shared/http-stream.ts";
import { RoomClient } from "../shared/room-client.ts";
import type { ConnectionState } from "../shared/connection.ts";
import { Transcript } from "../shared/transcript.ts";

export interface Source {
  readonly transcript: Transcript;
  /** "connecting", "catching up", "live", "reconnecting…", "closed". */
  readonly connection: string;
  close(): void;
}

export interface SourceEvents {
  /** The transcript or the connection changed. */
  update(): void;
  /** Reading cannot go on (bad token, revoked link, no such session). */
  fatal(message: string): void;
  /** The session's stream ended: it was archived. */
  ended(): void;
}

/** The HTTP stream of a session, followed live; restarts from `-1` after a gap or an expired offset. */
export class HttpSource implements Source {
  readonly transcript = new Transcript();
  connection = "connecting";
  /** The offset read up to (the next read starts there). */
  offset = START_OFFSET;
  private res: StreamResponse<StreamItem> | undefined;
  private readonly abort = new AbortController();
  private closed = false;

  private readonly o: { origin: string; sessionId: string; token: string; live: "sse" | "long-poll" };
  private readonly on: SourceEvents;

  constructor(o: { origin: string; sessionId: string; token: string; live: "sse" | "long-poll" }, on: SourceEvents) {
    this.o = o;
    this.on = on;
    void this.run();
  }

  private setConnection(c: string): void {
    if (this.connection === c) return;
    this.connection = c;
    this.on.update();
  }

  /** fetch, telling the status line when the network fails and when it answers again. */
  private readonly trackingFetch: typeof fetch = async (input, init) => {
    try {
      const res = await fetch(input, init);
      if (res.ok && this.connection !== "live") this.setConnection("catching up");
      return res;
    } catch (e) {
      if (!this.closed) this.setConnection("reconnecting…");
      throw e;
    }
  };

  private async run(): Promise<void> {
    const url = `${this.o.origin}/api/sessions/${encodeURIComponent(this.o.sessionId)}/stream`;
    let failures = 0;
    while (!this.closed) {
      try {
        const res = await stream<StreamItem>({
          url,
          offset: this.offset,
          live: this.o.live,
          json: true,
          headers: { Authorization: () => `Bearer ${this.o.token}` },
          fetch: this.trackingFetch,
          signal: this.abort.signal,
          backoffOptions: { initialDelay: 200, maxDelay: 2_000, multiplier: 1.5, maxRetries: Infinity },
          sseResilience: { logWarnings: false },
          warnOnHttp: false,
        });
        this.res = res;
        failures = 0;
        res.subscribeJson((batch) => {
          for (const raw of batch.items) {
            const item = StreamItemSchema.safeParse(raw);
            // A gap (or an item this build cannot read) cannot be patched over: start again from a snapshot.
            if (!item.success || applyStreamItem(this.transcript, item.data as StreamItem) === "gap") {
              this.offset = START_OFFSET;
              res.cancel();
              return;
            }
          }
          this.offset = batch.offset;
          if (batch.upToDate) this.connection = "live";
          this.on.update();
        });
        await res.closed;
        if (res.streamClosed) {
          this.connection = "closed";
          this.on.update();
          this.on.ended();
          return;
        }
      } catch (e) {
        if (this.closed) return;
        const status = e instanceof FetchError ? e.status : undefined;
        if (status === 410) {
          // The log no longer reaches back to our offset: the snapshot brings us to the head.
          this.offset = START_OFFSET;
          continue;
        }
        if (status === 401 || status === 403 || status === 404) {
          this.on.fatal(fetchErrorMessage(e as FetchError));
          return;
        }
        this.setConnection("reconnecting…");
        await new Promise((r) => setTimeout(r, Math.min(2_000, 250 * 2 ** failures++)));
      }
    }
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
    this.res?.cancel();
  }
}

function fetchErrorMessage(e: FetchError): string {
  const body = e.json as { error?: { code?: string; message?: string } } | undefined;
  return body?.error?.message ? `${e.status} ${body.error.code ?? ""}: ${body.error.message}` : `${e.status} ${e.message}`;
}

/** The room's WebSocket, through the app's RoomClient: reading and, for a driver, acting. */
export class RoomSource implements Source {
  readonly client: RoomClient;
  private readonly unsubs: (() => void)[] = [];

  constructor(o: { origin: string; sessionId: string; token: string }, on: SourceEvents) {
    this.client = new RoomClient({ host: o.origin, sessionId: o.sessionId, token: o.token, validate: true, watchNetwork: false });
    this.unsubs.push(
      this.client.onChange(() => on.update()),
      this.client.onPresence(() => on.update()),
      this.client.onStateChange((s) => {
        if (s.status === "closed" && s.reason !== "closed") on.fatal(`${s.reason}: ${s.message}`);
        on.update();
      }),
    );
  }

  get transcript(): Transcript {
    return this.client.transcript;
  }

  get connection(): string {
    return connectionText(this.client.state);
  }

  close(): void {
    for (const u of this.unsubs) u();
    this.client.close();
  }
}

function connectionText(s: ConnectionState): string {
  switch (s.status) {
    case "open":
      return s.live ? (s.slow ? "slow" : "live") : "catching up";
    case "reconnecting":
      return `reconnecting… (try ${s.attempt})`;
    case "closed":
      return "closed";
    default:
      return s.status;
  }
}
