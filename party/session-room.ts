/**
 * SessionRoom: one Durable Object per agent session (a hibernating partyserver Server).
 *
 * Everything that matters is in `ctx.storage.sql` (see room/migrations.ts): the event log, the
 * materialized transcript, the queue, requests, metadata. Memory holds only caches and the live
 * buffer of committed-but-unsent events, so a room evicted at any moment loses nothing a client
 * cannot get back by reconnecting with its cursor.
 *
 * Trust: the Worker verified the token and passes role and name in `x-agentroom-*` headers (only
 * the Worker can reach this object). The role is kept in the connection's attachment and every
 * frame is checked against it (room/frames.ts).
 *
 * The room's parts are wired in room/room-core.ts (stores, the commit transaction, lifecycle,
 * partyserver's hooks); this class adds what the Worker and the relays call over RPC (sessions,
 * history, archiving, relays, links), which must be methods of the Durable Object's class. Each
 * job is in its own module: room/live-fanout.ts (who holds which seq, the live buffer, the send
 * budget, catch-up, replay and snapshot caches), room/lease.ts (the runner lease and dispatch),
 * room/frames.ts (size, rate, parse, route of every frame), room/commands.ts and
 * room/agent-frames.ts (what frames do), room/joining.ts (who a new connection is, room full),
 * room/room-presence.ts, room/snapshot.ts, room/lobby-sync.ts.
 */
import { type LinkRecord, type RunnerWait, type RevokeReason, type ServerFrame, type SessionMeta } from "../shared/protocol.ts";
import type { Message, MessageWithParts, Part } from "../shared/parts.ts";
import { closeFinally, sendError } from "./room/send.ts";
import { chatHistoryFrame, historyFrame } from "./room/commands.ts";
import type { Route } from "./room/relay-router.ts";
import type { RelayRevoke } from "../shared/relay.ts";
import { LinkStore, type LinkCheck, type LinkInit, type Ticket } from "./links.ts";
import { closeRevokedSockets } from "./room/admit.ts";
import type { ConnState } from "./room/conn-state.ts";
import { CLOSE, RoomCore, TAG_PEOPLE, TAG_RELAY } from "./room/room-core.ts";

export type { ConnState, CreateRoomInit } from "./room/conn-state.ts";
export { CLOSE } from "./room/room-core.ts";

export class SessionRoom extends RoomCore {
  static override options = { hibernate: true };

  // ───────────────────────────── relays ─────────────────────────────

  /**
   * Where the Worker sends a new viewer: this room while its audience is small, then relays
   * (see room/relay-router.ts). An archived session has no live stream to share: its viewers stay
   * here.
   */
  routeViewer(): Route | null {
    if (!this.openRoom()) return null;
    if (this.meta.session().archived) return { to: "room" };
    const counts = new Map<number, number>();
    let relays = 0;
    for (const r of this.relayStates()) {
      counts.set(r.index, (counts.get(r.index) ?? 0) + r.count);
      relays++;
    }
    return this.router.route(this.fanout.listeners - relays, counts, Date.now());
  }

  /** A relay's rejoining viewer whose cursor the relay's tail does not cover: replay from the log. */
  relayReplay(cursor: number): { seq: number; frames: string[] } | null {
    if (!this.openRoom()) return null;
    this.flush();
    const seq = this.meta.seq();
    if (!this.log.canReplayFrom(cursor, seq)) return null;
    return { seq, frames: this.fanout.replayFrames(cursor, seq) };
  }

  /** The snapshot frame and its seq, for a relay to serve to any number of its joiners. */
  relaySnapshot(): { seq: number; frame: string } | null {
    if (!this.openRoom()) return null;
    this.flush();
    return { seq: this.meta.seq(), frame: this.snapshotFrame() };
  }

  /** A history page for a relay's viewer: the same frame the room sends its own people. */
  relayHistory(ref: string | undefined, before: string | undefined, limit: number | undefined): string | null {
    if (!this.openRoom()) return null;
    return historyFrame(this, ref, before, limit);
  }

  /** A chat history page for a relay's viewer. */
  relayChatHistory(ref: string | undefined, before: number | undefined, limit: number | undefined): string | null {
    if (!this.openRoom()) return null;
    return chatHistoryFrame(this, ref, before, limit);
  }

  /** Tells every relay to close its sockets opened with these links (revocation). */
  revokeOnRelays(links: readonly string[]): void {
    if (links.length === 0) return;
    const frame = JSON.stringify({ type: "relay.revoke", links: [...links] } satisfies RelayRevoke);
    for (const ws of this.ctx.getWebSockets(TAG_RELAY)) {
      try {
        ws.send(frame);
      } catch {
        // closing
      }
    }
  }

  /** Closes every relay's link with `code`; the relays close their viewers with it and retire. */
  private closeRelays(code: number, reason: string): void {
    for (const ws of this.ctx.getWebSockets(TAG_RELAY)) {
      try {
        ws.close(code, reason);
      } catch {
        // closed
      }
    }
  }

  // ───────────────────────────── RPC for the Worker ─────────────────────────────

  getSession(): SessionMeta | null {
    return this.openRoom() ? this.meta.session() : null;
  }

  getHistory(before: string | undefined, limit: number): { messages: MessageWithParts[]; hasMore: boolean } | null {
    if (!this.openRoom()) return null;
    this.flush();
    return this.transcript.page(before, Math.min(Math.max(1, limit), 200));
  }

  /** The full, untruncated part (chunks joined, deltas applied). */
  getFullPart(partId: string): Part | null {
    if (!this.openRoom()) return null;
    return this.transcript.readPart(partId, true);
  }

  /** The full message info (long fields restored from chunks). */
  getFullMessage(messageId: string): Message | null {
    if (!this.openRoom()) return null;
    return this.transcript.readMessage(messageId, true);
  }

  setArchived(archived: boolean): SessionMeta | null {
    if (!this.openRoom()) return null;
    if (this.meta.session().archived !== archived) {
      this.commit([{ type: "session.archived", archived }]);
      if (archived) {
        const agent = this.agentConnection();
        if (agent) {
          sendError(agent, "archived", "this session was archived");
          agent.close(CLOSE.archived, "archived");
          this.lease.release();
        }
      }
      this.flush();
      // An archived session has no live stream left to share: its relays close their viewers
      // (after the archive event, which went out just above), who reconnect to the room.
      if (archived) this.closeRelays(CLOSE.relayRetired, "archived: reconnect to the room");
      void this.scheduleAlarm();
    }
    return this.meta.session();
  }

  /**
   * The lobby says whether anyone can take this session now (null: a runner has a free slot).
   * Only while no runner holds it; the next `agent.presence` online clears it.
   */
  setRunnerWait(wait: RunnerWait | null): void {
    if (!this.openRoom()) return;
    const s = this.meta.session();
    if (s.agentOnline || s.archived) return;
    if (JSON.stringify(s.runnerWait ?? null) === JSON.stringify(wait)) return;
    this.commit([{ type: "agent.presence", online: false, ...(wait ? { waiting: wait } : {}) }]);
    this.flush();
  }

  /** Replaces the pages allowed to embed the session; an archived session is read-only. */
  setAllowedOrigins(origins: string[]): { session: SessionMeta } | { archived: true } | null {
    if (!this.openRoom()) return null;
    if (this.meta.session().archived) return { archived: true };
    this.commit([{ type: "session.allowedOrigins", origins }]);
    this.flush();
    return { session: this.meta.session() };
  }

  // ───────────────────────────── links (party/links.ts) ─────────────────────────────

  mintLink(init: LinkInit): LinkRecord | null {
    if (!this.openRoom()) return null;
    const record = this.links.mint(init);
    if (record) this.#sendLinks();
    return record;
  }

  /** Open sockets, people and runner (for /health). */
  connectionCount(): number {
    return this.ctx.getWebSockets().length;
  }

  listLinks(): LinkRecord[] {
    return this.openRoom() ? this.links.list() : [];
  }

  useLink(linkId: string): LinkCheck {
    return this.links.use(linkId);
  }

  grantFor(email: string): LinkCheck | null {
    return this.links.grantFor(email);
  }

  issueTicket(t: Ticket): { ticket: string; expiresAt: number } {
    return this.links.issueTicket(t);
  }

  redeemTicket(ticket: string): ReturnType<LinkStore["redeemTicket"]> {
    return this.links.redeemTicket(ticket);
  }

  /**
   * Revokes link records and closes, at once, every socket opened with them (close 4411), here and
   * on anything else holding this session's viewers; owners get the new list. Returns the ids
   * revoked by this call.
   */
  revokeLinks(ids: readonly string[], reason?: RevokeReason): string[] {
    if (!this.openRoom()) return [];
    const revoked = this.links.revoke(ids, Date.now(), reason);
    if (revoked.length === 0) return revoked;
    closeRevokedSockets(this.getConnections<ConnState>(TAG_PEOPLE), new Set(revoked), (c) => this.onClose(c));
    this.streams.revoke(revoked);
    this.revokeOnRelays(revoked);
    this.#sendLinks();
    return revoked;
  }

  /** The link list to every owner connected (the Share dialog updates live). */
  #sendLinks(): void {
    const frame = JSON.stringify({ type: "links", links: this.links.list() } satisfies ServerFrame);
    for (const c of this.getConnections<ConnState>(TAG_PEOPLE)) {
      if (c.state?.role !== "owner") continue;
      try {
        c.send(frame);
      } catch {
        // closing
      }
    }
  }

  /** Deletes everything: sockets closed, storage purged. The Worker then drops the index entry. */
  async destroy(): Promise<void> {
    this.flush();
    for (const ws of this.ctx.getWebSockets()) closeFinally(ws, CLOSE.deleted, "session deleted");
    this.fanout.stop();
    this.roomPresence.stop();
    this.streams.endAll();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.ready = false;
    this.links.forget();
    this.fanout.clear();
    this.roomPresence.clear();
    this.meta.invalidate();
    this.log.reset();
    this.transcript.forget();
  }
}
