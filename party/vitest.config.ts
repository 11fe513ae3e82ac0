/**
 * The workers project: party/**\/*.test.ts run inside workerd (Miniflare) with the real Worker,
 * SessionRoom and Lobby from wrangler.jsonc. Limits are lowered where a test needs to reach
 * them quickly; TOKEN_SECRET is a fixed test secret.
 */
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { exportJWK, generateKeyPair } from "jose";

const root = fileURLToPath(new URL("..", import.meta.url));
// wrangler.jsonc's assets directory must exist; the app build is not a test prerequisite.
const clientDir = `${root}dist/client`;
if (!existsSync(`${clientDir}/index.html`)) {
  mkdirSync(clientDir, { recursive: true });
  writeFileSync(`${clientDir}/index.html`, "<!doctype html><title>agentroom</title><p>app not built</p>\n");
}

export const TEST_SECRET = "test-secret-for-workerd-tests";

// Cloudflare Access, offline: a key set made here stands in for the team's published one; the
// private key reaches the tests (only) so they can sign assertions (party/access.test.ts).
const access = await generateKeyPair("RS256", { extractable: true });
const accessPublic = { ...(await exportJWK(access.publicKey)), kid: "test-key", alg: "RS256", use: "sig" };
const accessPrivate = { ...(await exportJWK(access.privateKey)), kid: "test-key", alg: "RS256" };

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: `${root}wrangler.jsonc` },
      miniflare: {
        bindings: {
          TOKEN_SECRET: TEST_SECRET,
          // Small enough for tests to cross them; the defaults are in shared/limits.ts.
          LIMIT_LOG_RETAIN_EVENTS: "200",
          LIMIT_LOG_COMPACT_SLACK: "50",
          LIMIT_MAX_AGENT_FRAME_BYTES: String(8 * 1024 * 1024),
          LIMIT_MAX_QUEUED_PROMPTS: "5",
          LIMIT_MAX_CONNECTIONS_PER_ROOM: "20",
          ACCESS_TEAM_DOMAIN: "https://agentroom-test.cloudflareaccess.com",
          ACCESS_AUD: "agentroom-test-aud",
          ACCESS_JWKS: JSON.stringify({ keys: [accessPublic] }),
          ACCESS_OPERATORS: "op@example.com",
          ACCESS_TEST_PRIVATE_JWK: JSON.stringify(accessPrivate),
        },
      },
    }),
  ],
  test: {
    name: "workers",
    include: ["**/*.test.ts"],
    setupFiles: ["./frame-cap.setup.ts"],
    testTimeout: 30_000,
  },
});
