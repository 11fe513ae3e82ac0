/**
 * The Durable Streams server conformance suite (@durable-streams/server-conformance-tests, pinned
 * with the client version it pins) against the product's read code: a test-only Worker on local
 * workerd (test/conformance/worker.ts) serves the suite's writable streams through
 * party/stream/read.ts. The read groups run; see groups.ts for which and for each test excluded.
 */
import { afterAll, beforeAll, describe } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runConformanceTests } from "@durable-streams/server-conformance-tests";
import { startWranglerDev, REPO_ROOT, type WranglerDev } from "../../scripts/wrangler-dev.ts";

const config = { baseUrl: "", longPollTimeoutMs: 20_000 };
let dev: WranglerDev | undefined;
let dir = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "agentroom-conformance-"));
  dev = await startWranglerDev({ config: join(REPO_ROOT, "test", "conformance", "wrangler.jsonc"), persistDir: dir, readyPath: "/v1/stream/ready", readyOnAnyStatus: true });
  config.baseUrl = dev.url;
}, 120_000);

afterAll(async () => {
  await dev?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("Durable Streams conformance (read groups)", () => {
  runConformanceTests(config);
});
