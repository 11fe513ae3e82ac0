/**
 * The session's room socket, opened by the entry module before anything else runs: the app's
 * own code (zod's schemas, Markdown, the first render) takes a few hundred ms to start, and the
 * room's welcome and snapshot travel in that time instead of after it. main.tsx imports this
 * module first, and it imports nothing, so bundling keeps it at the top of the app's script.
 *
 * The room client adopts the socket (createRoomStore → `adoptEarlySocket`) only if it would have
 * opened the very same one: same URL (connection id included) and same token. The events that
 * arrived before then are kept and replayed, in order, to the listeners the client attaches.
 * Anything else (another token chosen, a different route) closes it unused.
 */

export interface EarlySocket {
  sessionId: string;
  token: string;
  /** partyserver's connection id (`_pk`): the room client must use the same one. */
  id: string;
}

interface Pending extends EarlySocket {
  ws: WebSocket;
  url: string;
  events: Event[];
  keep: (e: Event) => void;
}

let pending: Pending | null = null;

const SESSION_PATH = /^\/s\/([^/]+)\/?$/;

/**
 * The token the session page will use, read without side effects (lib/auth.ts `sessionToken`
 * stores and strips it later): the fragment's, else one kept for the session or the operator's.
 * Expiry is not checked here: a token the page turns down is simply not adopted.
 */
function likelyToken(sessionId: string): string | null {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromUrl) return fromUrl;
  try {
    return localStorage.getItem(`agentroom.session.${sessionId}`) ?? localStorage.getItem("agentroom.operator");
  } catch {
    return null;
  }
}

/** The URL partysocket builds for the room (shared/connection.ts): party `session-room`, `_pk`. */
function roomUrl(sessionId: string, id: string): string {
  const ws = location.protocol === "https:" ? "wss" : "ws";
  return `${ws}://${location.host}/parties/session-room/${sessionId}?${new URLSearchParams({ _pk: id })}`;
}

/** Opens the socket when the page is a session (`/s/:id`) with a token at hand. */
export function openEarlySocket(): void {
  const m = SESSION_PATH.exec(location.pathname);
  if (!m || typeof WebSocket !== "function" || typeof crypto?.randomUUID !== "function") return;
  const sessionId = decodeURIComponent(m[1]!);
  const token = likelyToken(sessionId);
  if (!token) return;
  const id = crypto.randomUUID();
  const url = roomUrl(sessionId, id);
  let ws: WebSocket;
  try {
    ws = new WebSocket(url, ["agentroom", `t.${token}`]);
  } catch {
    return;
  }
  performance.mark("agentroom:early-socket"); // for the bench (bench/client-render.ts)
  const events: Event[] = [];
  const keep = (e: Event) => void events.push(e);
  for (const type of ["open", "message", "error", "close"]) ws.addEventListener(type, keep);
  pending = { sessionId, token, id, ws, url, events, keep };
}

/** What the room client needs to adopt the early socket, if there is one for this session and token. */
export function earlySocketFor(sessionId: string, token: string): EarlySocket | null {
  const p = pending;
  if (!p) return null;
  if (p.sessionId === sessionId && p.token === token && p.ws.readyState <= WebSocket.OPEN) return { sessionId, token, id: p.id };
  discardEarlySocket();
  return null;
}

/** Closes an early socket nobody adopted. */
export function discardEarlySocket(): void {
  const p = pending;
  pending = null;
  if (!p) return;
  for (const type of ["open", "message", "error", "close"]) p.ws.removeEventListener(type, p.keep);
  if (p.ws.readyState <= WebSocket.OPEN) p.ws.close(1000, "unused");
}

/**
 * A WebSocket constructor for the room client: the first construction for the early socket's
 * URL and token returns it, with the events it had already received replayed (right after the
 * caller attaches its listeners, before any later event); any other builds a new socket.
 */
export function adoptingWebSocket(): typeof WebSocket {
  const Native = WebSocket;
  function Adopting(url: string | URL, protocols?: string | string[]): WebSocket {
    const p = pending;
    const wanted = Array.isArray(protocols) ? protocols : protocols ? [protocols] : [];
    if (p && String(url) === p.url && wanted.length === 2 && wanted[0] === "agentroom" && wanted[1] === `t.${p.token}`) {
      pending = null;
      for (const type of ["open", "message", "error", "close"]) p.ws.removeEventListener(type, p.keep);
      queueMicrotask(() => {
        for (const e of p.events) p.ws.dispatchEvent(replayable(e));
      });
      performance.mark("agentroom:early-socket-adopted");
      return p.ws;
    }
    discardEarlySocket();
    return new Native(url, protocols);
  }
  Object.assign(Adopting, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  return Adopting as unknown as typeof WebSocket;
}

/** A fresh copy of an event (an event object can be dispatched once). */
function replayable(e: Event): Event {
  if (e instanceof MessageEvent) return new MessageEvent("message", { data: e.data, origin: e.origin });
  if (e instanceof CloseEvent) return new CloseEvent("close", { code: e.code, reason: e.reason, wasClean: e.wasClean });
  return new Event(e.type);
}
