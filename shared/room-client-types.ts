/**
 * What a room client is configured with and reports: its options, the store that keeps unsent
 * prompts across reloads, command errors, counters, and how it reads a frame from the room. The
 * client is shared/room-client.ts.
 */
import { ServerFrameSchema, type ErrorCode, type Mode } from "./protocol.ts";
import type { BackoffOptions } from "./backoff.ts";
import type { HeartbeatOptions, WebSocketLike } from "./connection-types.ts";
import type { Transcript } from "./transcript.ts";

export interface RoomClientOptions {
  /** Where the Worker is: "127.0.0.1:8787", "http://127.0.0.1:8787", "https://….workers.dev". */
  host: string;
  sessionId: string;
  token: string;
  /** WebSocket implementation; defaults to the global one (browsers, Node ≥ 22). */
  WebSocket?: WebSocketLike;
  backoff?: BackoffOptions;
  heartbeat?: HeartbeatOptions | false;
  connectionTimeoutMs?: number;
  /** Reject a command (other than a prompt) that gets no answer in this time. Default 15 s. */
  commandTimeoutMs?: number;
  /** Base delay before resending a prompt or resync the room refused as rate-limited. Default 1 s. */
  rateLimitRetryMs?: number;
  /** Validate every room frame with zod (for tests and development; off on the hot path). */
  validate?: boolean;
  /** Ask `GET /api/sessions/:id` why an attempt failed before opening (401, 404). Default true. */
  probe?: boolean;
  fetch?: typeof fetch;
  /** Follow the browser's online/offline events. Default true. */
  watchNetwork?: boolean;
  /** Start from a transcript already held (e.g. kept across a remount); its lastSeq is the cursor. */
  transcript?: Transcript;
  /**
   * Where prompts not yet acknowledged are kept across reloads (e.g. `webStoragePromptStore(
   * sessionStorage, key)`): restored and sent on the next connect, so a prompt typed offline
   * survives a reload too. In memory only when absent.
   */
  promptStore?: UnsentPromptStore;
  /** Extra query parameters on every attempt (a replay page sends `replay: "1"`). */
  query?: Readonly<Record<string, string>>;
  /** partyserver's connection id; random by default. */
  connectionId?: string;
  /** A new connection id for every attempt (see ConnectionOptions.newIdPerAttempt). */
  newIdPerAttempt?: boolean;
  /** Party name of the room Durable Object. */
  party?: string;
}

/** A prompt the room has not acknowledged yet. */
export interface UnsentPrompt {
  id: string;
  text: string;
  mode?: Mode;
}

export interface UnsentPromptStore {
  load(): UnsentPrompt[];
  save(prompts: UnsentPrompt[]): void;
}

/** A prompt store on a Web Storage area (sessionStorage: per tab; localStorage: per browser). */
export function webStoragePromptStore(storage: Pick<Storage, "getItem" | "setItem" | "removeItem">, key: string): UnsentPromptStore {
  return {
    load() {
      try {
        const list = JSON.parse(storage.getItem(key) ?? "[]") as unknown;
        return Array.isArray(list)
          ? list.filter((p): p is UnsentPrompt => !!p && typeof p.id === "string" && typeof p.text === "string")
          : [];
      } catch {
        return [];
      }
    },
    save(prompts) {
      try {
        if (prompts.length) storage.setItem(key, JSON.stringify(prompts));
        else storage.removeItem(key);
      } catch {
        // storage full or denied: the prompts still live in memory
      }
    },
  };
}

/** Why a command failed: the room's error code, or a client-side one. */
export type CommandErrorCode = ErrorCode | "disconnected" | "timeout" | "closed";

export class RoomCommandError extends Error {
  readonly code: CommandErrorCode;
  readonly ref?: string;
  constructor(code: CommandErrorCode, message: string, ref?: string) {
    super(message);
    this.name = "RoomCommandError";
    this.code = code;
    this.ref = ref;
  }
}

/** An error frame that answered no command of ours, or a protocol problem seen by the client. */
export interface RoomError {
  code: ErrorCode | "gap" | "bad_frame_from_room" | "protocol_mismatch";
  message: string;
  ref?: string;
}

export interface RoomClientStats {
  frames: number;
  events: number;
  skippedEvents: number;
  snapshots: number;
  gaps: number;
  resyncs: number;
  opens: number;
  /** UTF-8 bytes of the largest frame received (the room caps frames at `maxOutgoingFrameBytes`). */
  largestFrameBytes: number;
}

export type Listener<A extends unknown[]> = (...args: A) => void;


/** Random id from the platform's CSPRNG (available without a secure context, unlike randomUUID). */
export function randomId(prefix = ""): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return prefix + s;
}

export class Emitter<A extends unknown[]> {
  private readonly listeners = new Set<Listener<A>>();
  on(fn: Listener<A>): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  get size(): number {
    return this.listeners.size;
  }
  emit(...args: A): void {
    for (const fn of this.listeners) {
      try {
        fn(...args);
      } catch (e) {
        // A listener's bug must not break the client's frame handling.
        console.error("room client listener failed", e);
      }
    }
  }
}

// Derived from the schema so a new server frame is validated the day it is added.
const KNOWN_SERVER_FRAMES: ReadonlySet<string> = new Set(ServerFrameSchema.options.map((o) => o.shape.type.value));

/**
 * A frame from the room: parsed (and with `validate`, checked against the schema when it is a kind
 * the client knows), or the error to report; null for text that is not a frame at all.
 */
export function readRoomFrame(data: string, validate: boolean): { frame: { type: string } & Record<string, unknown> } | { error: RoomError } | null {
  let frame: { type?: unknown } & Record<string, unknown>;
  try {
    frame = JSON.parse(data) as typeof frame;
  } catch {
    return { error: { code: "bad_frame_from_room", message: "the room sent a frame that is not JSON" } };
  }
  if (!frame || typeof frame !== "object" || typeof frame.type !== "string") return null;
  if (validate && KNOWN_SERVER_FRAMES.has(frame.type)) {
    const r = ServerFrameSchema.safeParse(frame);
    if (!r.success) return { error: { code: "bad_frame_from_room", message: `invalid ${frame.type} frame from the room: ${r.error.issues[0]?.message ?? "?"}` } };
  }
  return { frame: frame as { type: string } & Record<string, unknown> };
}
