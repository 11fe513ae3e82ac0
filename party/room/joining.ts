/**
 * Who a new connection is, read from the upgrade request the Worker forwarded: role and name
 * (`x-agentroom-*` headers, set only by the Worker after it checked the token), link, chat
 * permission, a relay's index, the cursor to catch up from, a runner's id. And the bound on open
 * connections that decides "room full" without counting every socket on every join. The room's
 * `onConnect` acts on the result.
 */
import { RoleSchema } from "../../shared/protocol.ts";
import { RELAY_HEADER } from "../../shared/relay.ts";
import type { ConnState } from "./conn-state.ts";

/** A new connection, as the room will treat it. */
export type Joining =
  /** A relay of this session: a viewer that is not listed, whose report counts its own viewers. */
  | { kind: "relay"; state: ConnState; cursor: number | undefined }
  /** A runner: it asks for the lease (`?runner=` names it across reconnects). */
  | { kind: "agent"; state: ConnState; runner: string | undefined }
  /** A person: listed in presence, caught up from `?cursor=`. */
  | { kind: "person"; state: ConnState; cursor: number | undefined };

/** The new connection's identity; null when the request carries no valid role. */
export function joining(connId: string, req: Request): Joining | null {
  const role = RoleSchema.safeParse(req.headers.get("x-agentroom-role"));
  if (!role.success) return null;
  const params = new URL(req.url).searchParams;
  const cursorRaw = params.get("cursor");
  const cursor = cursorRaw !== null && /^\d+$/.test(cursorRaw) ? Number(cursorRaw) : undefined;
  const relayIndex = req.headers.get(RELAY_HEADER);
  if (relayIndex !== null) {
    // Only the Worker's objects can set the header.
    return { kind: "relay", state: { role: "viewer", name: "relay", relay: { index: Number(relayIndex) || 0, count: 0, users: [] } }, cursor };
  }
  const rawName = req.headers.get("x-agentroom-name") ?? "";
  const name = connectionName(rawName, role.data);
  const linkId = (req.headers.get("x-agentroom-link") ?? "").slice(0, 64) || `conn-${connId}`;
  const state: ConnState = { role: role.data, name, linkId, ...(req.headers.get("x-agentroom-chat") === "1" ? { chat: true } : {}) };
  // A replay page (`replay=1`) hears who leads the replay (party/room/replay-lead.ts).
  if (params.get("replay") === "1" && role.data !== "agent") state.replay = "watching";
  if (role.data === "agent") {
    const runner = params.get("runner");
    return { kind: "agent", state, runner: runner && runner.length <= 128 ? runner : undefined };
  }
  return { kind: "person", state, cursor };
}

/**
 * An upper bound on open connections: the exact count at `at` plus every join since. Counting
 * exactly means `getWebSockets()`, an array of every socket; doing that on every join made a
 * storm of N joins cost O(N²) (a third of the room's CPU for 500 rejoins).
 */
export class ConnectionBound {
  #bound: { count: number; at: number } | undefined;

  /**
   * True when this new connection takes the room past `max`. Closes only lower the count, so the
   * bound never under-counts; only when it says "full" (or is a second old) is it recounted with
   * `count()` (which includes the new socket: it is already accepted).
   */
  full(count: () => number, max: number, now: number): boolean {
    const b = this.#bound;
    if (b && now - b.at < 1_000 && b.count + 1 <= max) {
      b.count++;
      return false;
    }
    const n = count();
    this.#bound = { count: n, at: now };
    return n > max;
  }
}

/** The name a connection shows: the Worker's header, percent-encoded after `~` when not plain ASCII. */
export function connectionName(raw: string, fallback: string): string {
  return (raw.startsWith("~") ? safeDecode(raw.slice(1)) : raw).slice(0, 100) || fallback;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
