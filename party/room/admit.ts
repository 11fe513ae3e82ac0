/**
 * The room's door: every WebSocket upgrade passes here before partyserver accepts it, so a revoked
 * link is answered with a 401 (the same `{error}` body as the Worker's) instead of an open socket.
 * The Worker has already verified the token's signature; what only the room knows is whether its
 * link record still stands.
 */
import { CLOSE_CODES } from "../../shared/protocol.ts";
import type { Connection } from "partyserver";
import { httpError } from "../http.ts";
import { LINK_ERROR_MESSAGES, type LinkStore } from "../links.ts";
import { closeFinally } from "./send.ts";

/** The request to hand to partyserver, or the refusal when the socket's link was revoked. */
export function admitUpgrade(links: LinkStore, req: Request, now = Date.now()): Request | Response {
  if (req.headers.get("Upgrade")?.toLowerCase() !== "websocket") return req;
  const linkId = req.headers.get("x-agentroom-link");
  if (linkId) {
    const c = links.use(linkId, now);
    if (!c.ok) return httpError(401, c.error, LINK_ERROR_MESSAGES[c.error]);
  }
  return req;
}

/**
 * Closes every socket opened with one of `revoked` (its attachment's `linkId`) with CLOSE_CODES.revoked,
 * and calls `closed` for each so presence is updated without waiting for the client's close
 * handshake. Any Durable Object holding viewer sockets (the room, a relay) uses this; returns how
 * many it closed.
 */
export function closeRevokedSockets<S extends { linkId?: string }>(
  connections: Iterable<Connection<S>>,
  revoked: ReadonlySet<string>,
  closed: (c: Connection<S>) => void,
): number {
  let n = 0;
  for (const c of connections) {
    const id = c.state?.linkId;
    if (!id || !revoked.has(id)) continue;
    closeFinally(c, CLOSE_CODES.revoked, "revoked");
    closed(c);
    n++;
  }
  return n;
}
