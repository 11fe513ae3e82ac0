/**
 * What a connection to a party room is configured with and reports (its states, why it ended),
 * and the URL rules every client shares; the reconnecting socket itself is shared/connection.ts.
 */
import type { BackoffOptions } from "./backoff.ts";
import { CLOSE_CODES } from "./protocol.ts";

/** Why a connection ended for good. */
export type CloseReason =
  | "closed" // close() was called
  | "unauthorized" // bad, expired or other-session token (HTTP 401 / close 4401)
  | "forbidden" // close 4403 (e.g. an agent on an archived session)
  | "not_found" // no such session (HTTP 404 / close 4404)
  | "deleted" // the session was deleted while connected (close 4410)
  | "revoked" // the owner revoked the link this connection used (HTTP 401 `revoked` / close 4411)
  | "lease_held"; // a runner: another runner holds the session (close 4409)

export type ConnectionState =
  | { status: "connecting"; attempt: number }
  /**
   * `live` is false while the room is catching this client up (replay or snapshot). `slow`: a
   * ping has gone unanswered a while (the room's process is busy or paused) — still connected.
   */
  | { status: "open"; live: boolean; slow?: true }
  | {
      status: "reconnecting";
      /** 1 for the first retry after a drop. */
      attempt: number;
      nextDelayMs: number;
      /** Epoch ms of the next attempt, for a "next try in N s" countdown. */
      retryAt: number;
      lastClose?: { code: number; reason: string };
    }
  | { status: "offline" }
  | { status: "closed"; reason: CloseReason; message: string; code?: number };

export interface FatalClose {
  reason: Exclude<CloseReason, "closed">;
  message: string;
  code?: number;
}

/** Close codes after which reconnecting cannot help. */
export const FATAL_CLOSE_CODES: Readonly<Record<number, FatalClose["reason"]>> = {
  [CLOSE_CODES.unauthorized]: "unauthorized",
  [CLOSE_CODES.archived]: "forbidden",
  [CLOSE_CODES.notFound]: "not_found",
  [CLOSE_CODES.deleted]: "deleted",
  [CLOSE_CODES.revoked]: "revoked",
};

/** Maps an HTTP status from a probe to a final reason, or null when retrying may help. */
export function fatalFromHttpStatus(status: number): FatalClose["reason"] | null {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 410) return "deleted";
  return null;
}

export interface HeartbeatOptions {
  /** Send a ping after this long without any message. */
  intervalMs: number;
  /** Declare the socket dead when nothing arrives this long after a ping. */
  timeoutMs: number;
}

/** A dead socket is noticed within ~15 s; pings cost the room nothing (answered without waking it). */
export const DEFAULT_HEARTBEAT: HeartbeatOptions = { intervalMs: 10_000, timeoutMs: 5_000 };
/** A ping unanswered this long makes an open connection "slow" (the room is busy). */
export const SLOW_AFTER_MS = 2_000;
export const PING = "ping";
export const PONG = "pong";

export type QueryParams = Record<string, string | undefined>;

/** A WebSocket constructor (the browser's, Node 22's global, or `ws`). */
export type WebSocketLike = unknown;

export interface ConnectionOptions {
  /** "127.0.0.1:8787", "http://127.0.0.1:8787" or "https://agentroom.example.workers.dev". */
  host: string;
  /** partyserver's party name, e.g. "session-room" or "lobby". */
  party: string;
  room: string;
  /**
   * Sent as the subprotocol `t.<token>` (never in the URL); read again before every attempt. An
   * attempt whose token cannot be had (a rejected promise) counts as a failed attempt.
   */
  token: () => string | Promise<string>;
  /** Extra query parameters, computed again before every attempt (e.g. the cursor). */
  query?: () => QueryParams;
  /** WebSocket implementation; defaults to the global one (browsers, Node ≥ 22). */
  WebSocket?: WebSocketLike;
  backoff?: BackoffOptions;
  /** How long a handshake may take before the attempt counts as failed. */
  connectionTimeoutMs?: number;
  heartbeat?: HeartbeatOptions | false;
  /** Asked after an attempt that never opened: a final reason, or null to keep retrying. */
  probe?: (() => Promise<FatalClose | null>) | false;
  /** Follow the browser's online/offline events (where they exist). Default true. */
  watchNetwork?: boolean;
  /** Close codes after which no reconnect follows. Default `FATAL_CLOSE_CODES`. */
  finalCloseCodes?: Readonly<Record<number, FatalClose["reason"]>>;
  /** Wait this long before the first attempt (a runner spreading its rooms' joins). */
  startDelayMs?: number;
  log?: (message: string) => void;
  /** Connection id (partyserver's `_pk`); random by default. Not an identity. */
  id?: string;
  /**
   * Use a new connection id for every attempt. A half-open socket the server has not noticed yet
   * keeps the old id, and its late close must not be taken for the new connection's (the
   * runner's lease). People keep one id per tab by default, so presence stays stable.
   */
  newIdPerAttempt?: boolean;
}

export interface ConnectionHandlers {
  message(data: string): void;
  open(): void;
  /** The socket went away (any reason); `final` when no reconnect will follow. */
  close(info: { code: number; reason: string; final: boolean }): void;
  state(state: ConnectionState): void;
}

/** The base URL for HTTP calls to the same Worker. */
export function httpBase(host: string): string {
  if (/^https?:\/\//.test(host)) return host.replace(/\/+$/, "");
  if (/^wss:\/\//.test(host)) return "https://" + host.slice(6).replace(/\/+$/, "");
  if (/^ws:\/\//.test(host)) return "http://" + host.slice(5).replace(/\/+$/, "");
  return (isLocalHost(host) ? "http://" : "https://") + host.replace(/\/+$/, "");
}

export function isLocalHost(host: string): boolean {
  return /^(localhost|127\.|\[::1\]|0\.0\.0\.0|10\.|192\.168\.)/.test(host);
}

export function wsProtocolOf(host: string): "ws" | "wss" {
  if (/^(https|wss):\/\//.test(host)) return "wss";
  if (/^(http|ws):\/\//.test(host)) return "ws";
  return isLocalHost(host) ? "ws" : "wss";
}

export function newConnectionId(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The browser's network state, where there is one. */
export function browserOnline(): boolean | undefined {
  if (typeof window === "undefined" || typeof navigator === "undefined") return undefined;
  return typeof navigator.onLine === "boolean" ? navigator.onLine : undefined;
}

/**
 * Why did an attempt fail before opening? Asks the HTTP API about the session with the same token:
 * a final reason (with the API's message) when retrying cannot help, else null.
 */
export async function probeSession(doFetch: typeof fetch, host: string, sessionId: string, token: string): Promise<FatalClose | null> {
  const url = `${httpBase(host)}/api/sessions/${encodeURIComponent(sessionId)}`;
  const res = await doFetch(url, { headers: { authorization: `Bearer ${token}` } });
  const reason = fatalFromHttpStatus(res.status);
  if (!reason) {
    await res.body?.cancel().catch(() => {});
    return null;
  }
  let message: string = reason;
  let code: string | undefined;
  try {
    const body = (await res.json()) as { error?: { message?: string; code?: string } };
    if (body?.error?.message) message = body.error.message;
    code = body?.error?.code;
  } catch {
    // not JSON; keep the reason
  }
  // A 401 because the owner revoked the link is its own reason: the app says so.
  return { reason: code === "revoked" ? "revoked" : reason, message, code: res.status };
}
