/** Minting a link: its record in the room, then the token that names it (shared/token.ts). */
import { signToken } from "../../shared/token.ts";
import type { Env } from "../env.ts";
import { httpError } from "../http.ts";

/** Owner links last a month; share links default to a week (ShareBody.ttlSeconds). */
export const OWNER_TOKEN_TTL_S = 30 * 24 * 3600;
export const SHARE_TOKEN_TTL_S = 7 * 24 * 3600;

export const tooManyLinks = () => httpError(409, "too_many_links", "this session keeps too many links; revoke some first");

/** A link record in the room, then its token (which names the record as `lid`). */
export async function mintLink(
  env: Env,
  sid: string,
  claims: { role: "owner" | "driver" | "viewer" | "approver"; name: string; ttlSeconds: number; chat?: boolean },
  createdBy: string,
): Promise<{ token: string; linkId: string } | null> {
  const record = await env.SessionRoom.getByName(sid).mintLink({ role: claims.role, name: claims.name, createdBy, ttlSeconds: claims.ttlSeconds });
  if (!record) return null;
  // Issued at the record's creation, so the token and its record expire together.
  const token = await signToken(
    env.TOKEN_SECRET ?? "",
    { sid, role: claims.role, name: claims.name, ttlSeconds: claims.ttlSeconds, lid: record.id, ...(claims.chat ? { chat: true } : {}) },
    record.createdAt,
  );
  return { token, linkId: record.id };
}

/** Validated origins (EmbedOriginsSchema) reduced to their origin, without repeats. */
export function originsOf(list: readonly string[]): string[] {
  return [...new Set(list.map((o) => new URL(o).origin))];
}
