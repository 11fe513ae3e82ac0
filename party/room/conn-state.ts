/**
 * What the room keeps per connection (the socket's attachment, so it survives hibernation) and
 * what the Worker hands a new room. Apart from party/session-room.ts so the room's modules
 * (room/*.ts) import these types without importing the room class.
 */
import type { Mode, PresenceUser, ReplayState, Role } from "../../shared/protocol.ts";

/** What a connection's attachment holds (survives hibernation). */
export interface ConnState {
  role: Role;
  name: string;
  typing?: boolean;
  /** Typing a chat message (shown apart from typing a prompt). */
  chatTyping?: boolean;
  /**
   * The link (token) this person came in with: their chat messages' author id, and what revoking
   * the link record (party/links.ts) closes.
   */
  linkId?: string;
  /** Their link lets a viewer chat. */
  chat?: boolean;
  /**
   * Set on the runner connection that holds the lease. The lease names this random id, not the
   * connection id: partyserver takes that from the client's `_pk`, which a reconnecting client
   * reuses, so the old socket's late close must not release the new socket's lease.
   */
  leaseId?: string;
  /** On a replay page (party/room/replay-lead.ts): leading, following or watching alone. */
  replay?: "leading" | "following" | "watching";
  /** The leader's last replay position: in its attachment, so a hibernated room still knows it. */
  lead?: ReplayState;
  /**
   * Set on a relay's connection (party/relay.ts): its index and its last report. Kept in the
   * attachment so the relays' viewers still count after the room hibernates.
   */
  relay?: { readonly index: number; readonly count: number; readonly users: readonly PresenceUser[] };
  /** A viewer's pending request to join as driver or approver (party/room/join-ask.ts). */
  ask?: { readonly id: string; readonly role: "driver" | "approver"; readonly at: number };
  /** When an owner last declined this connection's request (it may ask again a minute later). */
  askDeclinedAt?: number;
}

/** Values the Worker hands a new room. */
export interface CreateRoomInit {
  id: string;
  title?: string;
  mode?: Mode;
  allowedOrigins?: string[];
  /** The directory asked for; the runner sets `workspace` once it accepts it. */
  directory?: string;
  repository?: string;
  /** The agent that runs it (absent: DEFAULT_AGENT). */
  agent?: string;
  now?: number;
}
