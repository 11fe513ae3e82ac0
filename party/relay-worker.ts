/**
 * The relays' Worker, for running the relay tier in its own workerd process (the bench does:
 * bench/lib/tier.ts). The same Worker code as party/worker.ts (token checks, routing), with the
 * `SessionRelay` class local and `SessionRoom`/`Lobby` bound to the room's Worker by script name.
 * Viewers connect here; the room's Worker keeps owners, drivers and the agent. In production one
 * Worker can hold all three classes (wrangler.jsonc) — Cloudflare spreads objects over machines.
 */
export { default } from "./worker.ts";
export { SessionRelay } from "./relay.ts";
