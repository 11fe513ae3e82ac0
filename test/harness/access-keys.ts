/**
 * Cloudflare Access for tests: a key pair made for the test, the Worker variables that make the
 * Worker trust it (`ACCESS_JWKS` stands in for the team's published keys), and assertions as the
 * Access edge puts them on a signed-in person's requests (`Cf-Access-Jwt-Assertion`).
 *
 *   const access = await testAccess("https://t.cloudflareaccess.com", "aud");
 *   startWorker({ env: { ...access.env, ACCESS_OPERATORS: "op@example.com" } });
 *   fetch(url, { headers: { "Cf-Access-Jwt-Assertion": await access.assertion("dev@example.com") } });
 */
import { SignJWT, exportJWK, generateKeyPair } from "jose";

export interface TestAccess {
  /** ACCESS_TEAM_DOMAIN, ACCESS_AUD and ACCESS_JWKS for the Worker. */
  env: Record<string, string>;
  /** A signed assertion naming `email`; `expiresIn` as jose takes it ("1h", "-1m" for a stale one). */
  assertion(email: string, expiresIn?: string): Promise<string>;
}

export async function testAccess(team: string, audience: string, kid = "test-key"): Promise<TestAccess> {
  const pair = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg: "RS256", use: "sig" };
  return {
    env: { ACCESS_TEAM_DOMAIN: team, ACCESS_AUD: audience, ACCESS_JWKS: JSON.stringify({ keys: [jwk] }) },
    assertion: (email, expiresIn = "1h") =>
      new SignJWT({ email })
        .setProtectedHeader({ alg: "RS256", kid })
        .setIssuer(team)
        .setAudience(audience)
        .setIssuedAt(Math.floor(Date.now() / 1000) - 60)
        .setExpirationTime(expiresIn)
        .sign(pair.privateKey),
  };
}
