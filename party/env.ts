/**
 * The Worker's bindings and variables (wrangler.jsonc). Declared once; the Worker, the rooms and
 * the workerd tests all read this type.
 */
import type { SessionRoom } from "./session-room.ts";
import type { Lobby } from "./lobby.ts";
import type { SessionRelay } from "./relay.ts";

export interface Env {
  SessionRoom: DurableObjectNamespace<SessionRoom>;
  Lobby: DurableObjectNamespace<Lobby>;
  /** Relays holding viewers of big sessions (party/relay.ts); without it every viewer is on the room. */
  SessionRelay?: DurableObjectNamespace<SessionRelay>;
  /** Static assets of the built app (dist/client); absent in some tests. */
  ASSETS?: Fetcher;
  /** HMAC secret for tokens. Required: the Worker refuses to serve without it. */
  TOKEN_SECRET?: string;
  /** Free-form build label shown by /health. */
  BUILD?: string;
  /** LIMIT_* overrides, see shared/limits.ts. */
  [key: string]: unknown;
}

declare global {
  // partyserver's Server is generic over Cloudflare.Env; make ours the global one.
  namespace Cloudflare {
    interface Env {
      SessionRoom: DurableObjectNamespace<SessionRoom>;
      Lobby: DurableObjectNamespace<Lobby>;
    }
  }
}
