/**
 * `npm run token -- <operator|agent> [days]`: mints a token for all sessions, signed with
 * TOKEN_SECRET (from the environment, else from .dev.vars). For a deployed Worker, run it with
 * the same secret you gave `wrangler secret put TOKEN_SECRET`. Prints only the token.
 */
import { existsSync, readFileSync } from "node:fs";
import { ALL_SESSIONS, signToken } from "../shared/token.ts";

const kind = process.argv[2];
const days = Number(process.argv[3] ?? 30);
if ((kind !== "operator" && kind !== "agent") || !Number.isFinite(days) || days <= 0) {
  console.error("usage: npm run token -- <operator|agent> [days]");
  process.exit(2);
}
let secret = process.env.TOKEN_SECRET;
if (!secret && existsSync(".dev.vars")) secret = readFileSync(".dev.vars", "utf8").match(/^TOKEN_SECRET\s*=\s*"?([^"\n]+)"?/m)?.[1];
if (!secret) {
  console.error("TOKEN_SECRET is not set (and .dev.vars has none)");
  process.exit(2);
}
const role = kind === "operator" ? "owner" : "agent";
console.log(await signToken(secret, { sid: ALL_SESSIONS, role, name: kind, ttlSeconds: Math.round(days * 86400) }));
