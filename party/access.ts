/**
 * Sign-in with Cloudflare Access, for teams that have it (docs/architecture.md, "Access").
 *
 * When ACCESS_TEAM_DOMAIN (https://TEAM.cloudflareaccess.com) and ACCESS_AUD (the Access
 * application's audience tag) are set, a request carrying `Cf-Access-Jwt-Assertion` is
 * verified with `jose` against the team's key set (issuer and audience checked, expiry with no
 * leeway beyond jose's default) and names a person by email. ACCESS_JWKS, a JSON key set, stands
 * in for the team's published keys (tests, air-gapped setups); ACCESS_OPERATORS lists the emails
 * that act as the operator.
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";

export interface AccessConfig {
  issuer: string;
  audience: string;
  keys: JWTVerifyGetKey;
  operators: ReadonlySet<string>;
}

export type AccessResult = { ok: true; email: string } | { ok: false; error: "access_expired" | "access_invalid"; message: string };

/** Key sets are cached per isolate: the remote one caches the team's keys between requests. */
const configs = new Map<string, AccessConfig>();

/** The Access settings from the Worker's variables, or null when sign-in is not configured. */
export function accessConfig(env: Record<string, unknown>): AccessConfig | null {
  const team = typeof env.ACCESS_TEAM_DOMAIN === "string" ? env.ACCESS_TEAM_DOMAIN.trim() : "";
  const audience = typeof env.ACCESS_AUD === "string" ? env.ACCESS_AUD.trim() : "";
  if (!team || !audience) return null;
  const jwks = typeof env.ACCESS_JWKS === "string" ? env.ACCESS_JWKS : "";
  const operators = typeof env.ACCESS_OPERATORS === "string" ? env.ACCESS_OPERATORS : "";
  const key = [team, audience, jwks, operators].join("\n");
  let cfg = configs.get(key);
  if (!cfg) {
    const issuer = new URL(team.includes("://") ? team : `https://${team}`).origin;
    const keys = jwks ? createLocalJWKSet(JSON.parse(jwks) as JSONWebKeySet) : createRemoteJWKSet(new URL("/cdn-cgi/access/certs", issuer));
    const ops = new Set(operators.split(",").map((e) => e.trim().toLowerCase()).filter(Boolean));
    cfg = { issuer, audience, keys, operators: ops };
    configs.set(key, cfg);
  }
  return cfg;
}

/** Verifies an Access JWT; the person's email (lower-cased) when it holds. */
export async function verifyAccessJwt(cfg: AccessConfig, jwt: string): Promise<AccessResult> {
  if (jwt.length > 16_384) return { ok: false, error: "access_invalid", message: "the Access assertion is too long" };
  try {
    const { payload } = await jwtVerify(jwt, cfg.keys, { issuer: cfg.issuer, audience: cfg.audience });
    const email = typeof payload.email === "string" ? payload.email.trim().toLowerCase() : "";
    if (!email) return { ok: false, error: "access_invalid", message: "the Access assertion names no email" };
    return { ok: true, email };
  } catch (e) {
    if (e instanceof errors.JWTExpired) return { ok: false, error: "access_expired", message: "the Access sign-in expired; sign in again" };
    return { ok: false, error: "access_invalid", message: "the Access assertion is not valid for this application" };
  }
}
