/**
 * The Worker's part of the relay tier: a viewer's socket (viewer role, embeds included) goes to
 * the room while the session's audience is small and to one of its relays when it grows; the room
 * decides (`SessionRoom.routeViewer`, room/relay-router.ts) since it alone knows the audience.
 * Owners, drivers and the agent always go to the room. A socket stays where it was sent for its
 * whole life (sticky per connection); a reconnect is routed afresh.
 */
import type { Role } from "../shared/protocol.ts";
import { CHAT_HEADER, relayName } from "../shared/relay.ts";
import type { Env } from "./env.ts";
import { httpError } from "./http.ts";

/**
 * The relay's answer to the upgrade, or null when the room takes this socket itself. Viewers whose
 * link lets them chat stay on the room too: a relay serves reading viewers only.
 */
export async function routeToRelay(env: Env, sessionId: string, role: Role, forward: Request): Promise<Response | null> {
  if (role !== "viewer" || forward.headers.get(CHAT_HEADER) === "1" || !env.SessionRelay) return null;
  const route = await env.SessionRoom.getByName(sessionId).routeViewer();
  if (!route || route.to === "room") return null;
  if (route.to === "full") return httpError(503, "room_full", "this session's audience is at its limit; try again later");
  return env.SessionRelay.getByName(relayName(sessionId, route.index)).fetch(forward);
}
