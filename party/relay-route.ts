/**
 * The Worker's part of the relay tier: a viewer's socket (viewer role, embeds included) goes to
 * the room while the session's audience is small and to one of its relays when it grows; the room
 * decides (`SessionRoom.routeViewer`, room/relay-router.ts) since it alone knows the audience.
 * Owners, drivers and the agent always go to the room. A socket stays where it was sent for its
 * whole life (sticky per connection); a reconnect is routed afresh.
 *
 * Placement: a Durable Object runs near where it is first addressed unless given a location hint.
 * A relay is created with the hint of the continent of the viewer that first reaches it
 * (`request.cf.continent`), so an audience that is mostly on one continent gets relays there
 * while the room stays where the session began. (One pool of relays per session; per-continent
 * pools would be the next step for a world-wide audience: docs/architecture.md.)
 *
 * Why not partyserver's routing for this step: `routePartykitRequest` sends the upgrade to the
 * object its URL names, and its `onBeforeConnect` may change that request or answer it but not
 * pick another object. Which relay a viewer gets is the room's answer, so routes/sockets.ts calls
 * this from the hook and returns the relay's answer as the hook's Response.
 */
import type { Role } from "../shared/protocol.ts";
import { CHAT_HEADER, relayName } from "../shared/relay.ts";
import type { Env } from "./env.ts";
import { httpError } from "./http.ts";

/**
 * The relay's answer to the upgrade, or null when the room takes this socket itself. Viewers whose
 * link lets them chat stay on the room too: a relay serves reading viewers only.
 */
export async function routeToRelay(env: Env, sessionId: string, role: Role, forward: Request, continent?: string): Promise<Response | null> {
  if (role !== "viewer" || forward.headers.get(CHAT_HEADER) === "1" || !env.SessionRelay) return null;
  // A replay page reads the log and follows a leader: the room serves both (party/room/replay-lead.ts).
  if (new URL(forward.url).searchParams.get("replay") === "1") return null;
  const route = await env.SessionRoom.getByName(sessionId).routeViewer();
  if (!route || route.to === "room") return null;
  if (route.to === "full") return httpError(503, "room_full", "this session's audience is at its limit; try again later");
  const ns = env.SessionRelay;
  const hint = locationHintFor(continent);
  const stub = ns.get(ns.idFromName(relayName(sessionId, route.index)), hint ? { locationHint: hint } : undefined);
  return stub.fetch(forward);
}

/** Cloudflare's continent codes (`request.cf.continent`) → Durable Object location hints. */
const HINTS: Readonly<Record<string, DurableObjectLocationHint>> = { NA: "enam", SA: "sam", EU: "weur", AS: "apac", OC: "oc", AF: "afr", ME: "me" };

export function locationHintFor(continent: string | undefined): DurableObjectLocationHint | undefined {
  return continent ? HINTS[continent] : undefined;
}
