/**
 * Frames between a session's room and its relays (party/relay.ts), never seen by clients. A relay
 * is a Durable Object that holds viewers of one session; it connects to the room like a viewer
 * (tagged as a relay by headers only the Worker's objects can set) and takes the room's live
 * `events` and `presence` frames once for all its viewers. Everything else it says or hears is
 * here.
 */
import { z } from "zod";
import { PresenceUserSchema } from "./protocol.ts";

/** Relay → room: how many viewers it holds and who (the first few, typists first). */
export const RelayReportSchema = z.object({
  type: z.literal("relay.report"),
  count: z.number().int().nonnegative().max(1_000_000),
  /** Viewers that joined since the relay started: the room stops counting them as on their way. */
  joins: z.number().int().nonnegative(),
  users: z.array(PresenceUserSchema).max(50),
});
export type RelayReport = z.infer<typeof RelayReportSchema>;

/** Room → relay: close the viewers whose sockets were opened with these links. */
export const RelayRevokeSchema = z.object({
  type: z.literal("relay.revoke"),
  links: z.array(z.string().max(128)).max(10_000),
});
export type RelayRevoke = z.infer<typeof RelayRevokeSchema>;

/** Relay names: `<session id>.<index>`; session ids never contain a dot. */
export const relayName = (sessionId: string, index: number): string => `${sessionId}.${index}`;

export function parseRelayName(name: string): { sessionId: string; index: number } | null {
  const m = /^([A-Za-z0-9_-]{1,64})\.(\d{1,6})$/.exec(name);
  return m ? { sessionId: m[1]!, index: Number(m[2]) } : null;
}

/** Request headers the relay sets on its connection to the room (the Worker strips them from clients). */
export const RELAY_HEADER = "x-agentroom-relay";
/** The link a viewer's token names (set by the Worker), for chat authorship and revocation. */
export const LINK_HEADER = "x-agentroom-link";
/** Set by the Worker when the viewer's link lets them chat: such viewers stay on the room. */
export const CHAT_HEADER = "x-agentroom-chat";
