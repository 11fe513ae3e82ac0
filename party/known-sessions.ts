/**
 * Whether the index (Lobby) knows a session id: routes answer 404 for one it does not, and create
 * no room object. Positive lookups are cached briefly per isolate, so a rejoin storm costs one.
 */
import type { Env } from "./env.ts";
import { LOBBY_NAME } from "./lobby.ts";

const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const KNOWN_TTL_MS = 10_000;
const known = new Map<string, number>();

export const lobby = (env: Env) => env.Lobby.getByName(LOBBY_NAME);

export async function sessionExists(env: Env, id: string): Promise<boolean> {
  if (!SESSION_ID.test(id)) return false;
  const until = known.get(id);
  if (until !== undefined && until > Date.now()) return true;
  const row = await lobby(env).get(id);
  if (row) rememberSession(id);
  else known.delete(id);
  return row !== null;
}

/** A session just created: listed, so known. */
export function rememberSession(id: string): void {
  known.set(id, Date.now() + KNOWN_TTL_MS);
}

/** A session just deleted. */
export function forgetSession(id: string): void {
  known.delete(id);
}
