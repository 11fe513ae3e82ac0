/**
 * The live session list: a connection to the lobby room (`/parties/lobby/main`), which sends the
 * full list on connect and then each change. Same reconnecting connection and jittered backoff
 * as the room client; a reconnect simply gets the full list again (it is small and bounded).
 */
import { LOBBY_ROOM, LobbyFrameSchema, type LobbyFrame, type SessionSummary } from "./protocol.ts";
import type { BackoffOptions } from "./backoff.ts";
import { ALL_SESSIONS, peekToken } from "./token.ts";
import {
  Connection,
  httpBase,
  type ConnectionState,
  type FatalClose,
  type HeartbeatOptions,
  type WebSocketLike,
} from "./connection.ts";

export interface LobbyClientOptions {
  host: string;
  /**
   * The operator's (or the runner's) token; "" for a person signed in with Cloudflare Access as an
   * operator (the edge adds their assertion to every request, the socket's included).
   */
  token: string;
  WebSocket?: WebSocketLike;
  backoff?: BackoffOptions;
  heartbeat?: HeartbeatOptions | false;
  connectionTimeoutMs?: number;
  /** Ask `GET /api/sessions` why an attempt failed before opening (401). Default true. */
  probe?: boolean;
  fetch?: typeof fetch;
  watchNetwork?: boolean;
  /** Lobby room name. */
  room?: string;
}

/** What a lobby frame changed: the whole list, or one session. */
export type LobbyChange = { kind: "reset" } | { kind: "changed"; session: SessionSummary } | { kind: "deleted"; id: string };

/**
 * What the token's (unverified) payload says about the lobby: only tokens for all sessions of
 * the operator (owner) or a runner (agent) may open it. The Worker decides; this only tells a
 * refusal that retrying cannot fix from one it can.
 */
export function mayOpenLobby(token: string): boolean {
  const claims = peekToken(token);
  return claims?.sid === ALL_SESSIONS && (claims.role === "owner" || claims.role === "agent");
}

/** Newest activity first, then id for a stable order. */
export function compareSessions(a: SessionSummary, b: SessionSummary): number {
  return b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export class LobbyClient {
  /** Sessions by id. */
  readonly sessions = new Map<string, SessionSummary>();
  /** True once the first full list arrived. */
  loaded = false;
  /** Cursor for older sessions beyond the first list, when the lobby sent one. */
  nextCursor: string | undefined;

  private readonly conn: Connection;
  private readonly listeners = new Set<(change: LobbyChange, client: LobbyClient) => void>();
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();

  constructor(opts: LobbyClientOptions) {
    const doFetch = opts.fetch ?? (typeof fetch === "function" ? fetch.bind(globalThis) : undefined);
    this.conn = new Connection(
      {
        host: opts.host,
        party: "lobby",
        room: opts.room ?? LOBBY_ROOM,
        token: () => opts.token,
        WebSocket: opts.WebSocket,
        backoff: opts.backoff,
        heartbeat: opts.heartbeat,
        connectionTimeoutMs: opts.connectionTimeoutMs,
        watchNetwork: opts.watchNetwork,
        probe:
          opts.probe === false || !doFetch
            ? false
            : async (): Promise<FatalClose | null> => {
                const res = await doFetch(`${httpBase(opts.host)}/api/sessions?limit=1`, {
                  headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
                });
                await res.body?.cancel().catch(() => {});
                if (res.status === 401) return { reason: "unauthorized", message: "the token was refused", code: 401 };
                // A runner's token may use the list socket but not list over HTTP, so a 403 here
                // is final only for a token that could never open the lobby (a session link).
                if (res.status === 403 && !mayOpenLobby(opts.token)) {
                  return { reason: "forbidden", message: "the session list needs an operator or runner token", code: 403 };
                }
                return null;
              },
      },
      {
        message: (data) => this.onFrame(data),
        open: () => {},
        close: () => {},
        state: (s) => {
          for (const fn of this.stateListeners) fn(s);
        },
      },
    );
  }

  get state(): ConnectionState {
    return this.conn.state;
  }

  /** Sessions, newest activity first; archived ones included (filter as needed). */
  list(): SessionSummary[] {
    return [...this.sessions.values()].sort(compareSessions);
  }

  onChange(fn: (change: LobbyChange, client: LobbyClient) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onStateChange(fn: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  retryNow(): void {
    this.conn.retryNow();
  }

  close(): void {
    this.conn.close();
  }

  private onFrame(data: string): void {
    let f: LobbyFrame;
    try {
      // A frame that is not a lobby frame (a newer room's, a broken proxy's) changes nothing.
      const parsed = LobbyFrameSchema.safeParse(JSON.parse(data));
      if (!parsed.success) return;
      f = parsed.data;
    } catch {
      return;
    }
    let change: LobbyChange;
    switch (f.type) {
      case "sessions":
        this.sessions.clear();
        for (const s of f.sessions) this.sessions.set(s.id, s);
        this.nextCursor = f.nextCursor;
        this.loaded = true;
        this.conn.markLive();
        change = { kind: "reset" };
        break;
      case "session.changed":
        this.sessions.set(f.session.id, f.session);
        change = { kind: "changed", session: f.session };
        break;
      case "session.deleted":
        if (!this.sessions.delete(f.id)) return;
        change = { kind: "deleted", id: f.id };
        break;
      default:
        return;
    }
    for (const fn of this.listeners) {
      try {
        fn(change, this);
      } catch (e) {
        console.error("lobby listener failed", e);
      }
    }
  }
}
