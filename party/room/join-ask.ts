/**
 * Asking to join: a viewer presses "Ask to drive" (or "Ask to approve"), the owners connected see
 * the request with the person's name (`join.requests`), and one of them accepts or declines it in
 * one click. Accepted, the viewer's connection gets the role through a new link record — listed
 * and revocable like any other; revoking it closes the connection — until it closes. Declined, or
 * unanswered for two minutes, nothing changes; a declined viewer may ask again after a minute.
 *
 * A pending request lives in the asker's attachment, so a room that hibernates meanwhile still
 * has it. The room runs one frame at a time: of two owners answering at once, the first decides
 * and the second is told `already_answered`.
 */
import type { Connection } from "partyserver";
import type { JoinFrame, JoinRequest, LinkRecord, ServerFrame } from "../../shared/protocol.ts";
import type { LinkInit } from "../links.ts";
import type { ConnState } from "./conn-state.ts";
import type { MetaStore } from "./meta.ts";
import { ack, send, sendError } from "./send.ts";

/** An owner has this long to answer. */
export const JOIN_ASK_TTL_MS = 120_000;
/** After a decline, the same connection may not ask again for this long. */
export const JOIN_DECLINE_COOLDOWN_MS = 60_000;
/** Requests pending at once in one room: a crowd of viewers cannot flood the owners. */
export const MAX_JOIN_REQUESTS = 20;
/** Lifetime of the link record an accepted request makes (the connection ends first, usually). */
const JOIN_LINK_TTL_S = 7 * 24 * 3600;
/** The room's tag for people's sockets (party/session-room.ts). */
const PEOPLE = "people";

export interface JoinHost {
  readonly meta: MetaStore;
  getConnections<T>(tag?: string): Iterable<Connection<T>>;
  mintLink(init: LinkInit): LinkRecord | null;
  /** The connection's attachment changed in a way presence shows (its role). */
  setPresence(conn: Connection<ConnState>): void;
}

/** Request ids answered lately: the second of two owners answering at once hears `already_answered`. */
const answered = new Map<string, number>();

export function handleJoinFrame(room: JoinHost, conn: Connection<ConnState>, st: ConnState, f: JoinFrame, now: number): void {
  if (room.meta.session().archived) return sendError(conn, "archived", "this session is archived and read-only", f.ref);
  if (f.type === "join.ask") {
    if (st.role !== "viewer") return sendError(conn, "forbidden", `only a viewer asks to join; you are ${st.role === "owner" ? "an owner" : `a ${st.role}`}`, f.ref);
    if (st.ask && now - st.ask.at < JOIN_ASK_TTL_MS) return sendError(conn, "rate_limited", "you asked already: an owner has not answered yet", f.ref);
    if (st.askDeclinedAt !== undefined && now - st.askDeclinedAt < JOIN_DECLINE_COOLDOWN_MS) {
      const s = Math.ceil((JOIN_DECLINE_COOLDOWN_MS - (now - st.askDeclinedAt)) / 1000);
      return sendError(conn, "rate_limited", `declined: you may ask again in ${s} s`, f.ref);
    }
    if (pending(room, now).length >= MAX_JOIN_REQUESTS) return sendError(conn, "rate_limited", "too many people are asking to join; try again soon", f.ref);
    conn.setState({ ...st, ask: { id: `ask_${crypto.randomUUID().slice(0, 12)}`, role: f.role, at: now } });
    ack(conn, f.ref, f.type);
    return sendJoinRequests(room, now);
  }
  if (st.role !== "owner") return sendError(conn, "forbidden", "only an owner answers a request to join", f.ref);
  const asker = [...room.getConnections<ConnState>(PEOPLE)].find((c) => c.state?.ask?.id === f.requestId);
  const ask = asker?.state?.ask;
  if (!asker || !ask) {
    return answered.has(f.requestId)
      ? sendError(conn, "already_answered", "another owner answered this request first", f.ref)
      : sendError(conn, "not_found", "no such request (the viewer left, or it expired)", f.ref);
  }
  const ast = asker.state!;
  if (now - ask.at >= JOIN_ASK_TTL_MS) {
    asker.setState({ ...ast, ask: undefined });
    send(asker, { type: "join.result", requestId: ask.id, outcome: "expired" });
    sendJoinRequests(room, now);
    return sendError(conn, "not_found", "this request expired: nobody answered within two minutes", f.ref);
  }
  remember(f.requestId, now);
  if (!f.accept) {
    asker.setState({ ...ast, ask: undefined, askDeclinedAt: now });
    send(asker, { type: "join.result", requestId: ask.id, outcome: "declined" });
  } else {
    const record = room.mintLink({ role: ask.role, name: ast.name, createdBy: st.name, ttlSeconds: JOIN_LINK_TTL_S });
    if (!record) return sendError(conn, "forbidden", "this session keeps too many links; revoke some first", f.ref);
    asker.setState({ ...ast, role: ask.role, linkId: record.id, ask: undefined });
    room.setPresence(asker);
    send(asker, { type: "join.result", requestId: ask.id, outcome: "accepted", role: ask.role, linkId: record.id });
  }
  ack(conn, f.ref, f.type);
  sendJoinRequests(room, now);
}

/** A connection closed: if it was asking, its request goes from the owners' list. */
export function joinAskLeft(room: JoinHost, conn: Connection<ConnState>): void {
  if (conn.state?.ask) sendJoinRequests(room, Date.now(), undefined, conn.id);
}

function remember(id: string, now: number): void {
  answered.set(id, now);
  for (const [k, at] of answered) if (now - at > JOIN_ASK_TTL_MS) answered.delete(k);
}

/** The pending requests, oldest first (expired ones, and those of connection `except`, left out). */
function pending(room: JoinHost, now: number, except?: string): JoinRequest[] {
  const out: JoinRequest[] = [];
  for (const c of room.getConnections<ConnState>(PEOPLE)) {
    const a = c.id === except ? undefined : c.state?.ask;
    if (a && now - a.at < JOIN_ASK_TTL_MS) out.push({ id: a.id, name: c.state!.name, role: a.role, at: a.at, expiresAt: a.at + JOIN_ASK_TTL_MS });
  }
  return out.sort((a, b) => a.at - b.at);
}

/** The pending requests to every owner connected (or to `only`, an owner who just joined, if any wait). */
export function sendJoinRequests(room: JoinHost, now: number, only?: Connection<ConnState>, except?: string): void {
  const frame: ServerFrame = { type: "join.requests", requests: pending(room, now, except) };
  if (only) {
    if (only.state?.role === "owner" && frame.requests.length) send(only, frame);
    return;
  }
  const text = JSON.stringify(frame);
  for (const c of room.getConnections<ConnState>(PEOPLE)) {
    if (c.state?.role !== "owner") continue;
    try {
      c.send(text);
    } catch {
      // closing
    }
  }
}
