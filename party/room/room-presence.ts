/**
 * The room's presence: the roster (room/presence.ts) kept on connect, close and typing, and one
 * debounced presence frame to everyone after a change. The room reaches it through `joined`, `left`, `setTyping`, `schedule` and `frame`.
 */
import type { Connection } from "partyserver";
import type { PresenceUser, ServerFrame } from "../../shared/protocol.ts";
import type { ConnState } from "./conn-state.ts";
import { PresenceRoster } from "./presence.ts";

/**
 * Presence frames are debounced: 100 ms in a small room, 4 ms per person in a big one (a presence
 * frame costs one send per person, so during a rejoin storm of N people per-join frames would be
 * N² sends; 500 people → at most one presence frame per 2 s, 1,000 → per 4 s; a presence frame
 * to 500 people cost ~50 ms of the room's time in a rejoin storm's profile).
 */
const PRESENCE_DEBOUNCE_MS = 100;
const PRESENCE_DEBOUNCE_PER_PERSON_MS = 4;

/** What presence needs of the room. */
export interface PresenceHost {
  /** Every open connection (their attachments rebuild the roster after hibernation). */
  connections(): Iterable<Connection<ConnState>>;
  /** Each connected relay's last report (its viewers count, a few are listed). */
  relayStates(): Iterable<NonNullable<ConnState["relay"]>>;
  /** The live fan-out: how many listen, and one frame to all of them within the send budget. */
  readonly fanout: { readonly listeners: number; sendToAll(frame: string): void };
}

export class RoomPresence {
  readonly #room: PresenceHost;
  #roster = new PresenceRoster();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(room: PresenceHost) {
    this.#room = room;
  }

  joined(user: PresenceUser): void {
    this.#roster.set(user);
  }

  left(id: string): void {
    this.#roster.remove(id);
  }

  /** A person started or stopped typing (a prompt or a chat message): kept in their attachment (durable) and in the roster. */
  setTyping(conn: Connection<ConnState>, typing: boolean, where: "prompt" | "chat"): void {
    const st: ConnState = { ...conn.state!, [where === "chat" ? "chatTyping" : "typing"]: typing };
    conn.setState(st);
    this.#roster.set(presenceOf(conn.id, st));
    this.schedule();
  }

  /** Presence shows this person's place on a replay page; the attachment already holds it. */
  setReplay(conn: Connection<ConnState>, replay: ConnState["replay"]): void {
    conn.setState({ ...conn.state!, replay });
    this.#roster.set(presenceOf(conn.id, conn.state!));
    this.schedule();
  }

  /** A presence frame to everyone soon (debounced by the room's size). */
  schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      try {
        this.#broadcast();
      } catch (e) {
        console.error("presence failed", e);
      }
    }, Math.max(PRESENCE_DEBOUNCE_MS, this.#room.fanout.listeners * PRESENCE_DEBOUNCE_PER_PERSON_MS));
  }

  /** Everyone connected; after hibernation rebuilt once from the connections' attachments. */
  frame(): { users: PresenceUser[]; total: number } {
    this.#roster.ensure(() => this.#fromAttachments());
    return this.#roster.frame(undefined, [...this.#room.relayStates()]);
  }

  /** No presence frame pending (the room is being deleted). */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  clear(): void {
    this.#roster.clear();
  }

  *#fromAttachments(): Iterable<PresenceUser> {
    for (const c of this.#room.connections()) {
      const st = c.state;
      if (st && !st.relay) yield presenceOf(c.id, st);
    }
  }

  /** One presence frame to everyone; its sends count against the live send budget. */
  #broadcast(): void {
    this.#room.fanout.sendToAll(JSON.stringify({ type: "presence", ...this.frame() } satisfies ServerFrame));
  }
}

/** A connection as presence lists it. */
function presenceOf(id: string, st: ConnState): PresenceUser {
  return { id, name: st.name, role: st.role, ...(st.typing ? { typing: true } : {}), ...(st.chatTyping ? { chatTyping: true } : {}), ...(st.replay ? { replay: st.replay } : {}) };
}
