/**
 * Keeps `npm run bench` working: a tiny run of each benchmark scenario against real workerd
 * (agentroom and both baselines), asserting only what must hold at any speed — nothing lost,
 * nothing twice, catch-up by replay — never a timing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startWrangler, type RunningWorker } from "../bench/lib/workerd.ts";
import { runFanout } from "../bench/lib/fanout.ts";
import { agentroomRoom, AGENTROOM_CONFIG, type Agentroom } from "../bench/systems/agentroom.ts";
import { naiveRoom, NAIVE_CONFIG } from "../bench/systems/naive.ts";
import { aiChatRoom, AI_CHAT_CONFIG } from "../bench/systems/ai-chat.ts";
import { floorRoom, FLOOR_CONFIG } from "../bench/systems/floor.ts";
import { reconnectCatchup, newViewer } from "../bench/scenarios/catchup.ts";
import { sessionGrowth } from "../bench/scenarios/storage.ts";
import { rejoinStorm } from "../bench/scenarios/rejoin.ts";
import { startTier, type Tier } from "../bench/lib/tier.ts";
import { tierPoint, tierRejoin } from "../bench/scenarios/tier.ts";

const small = { viewers: 5, rate: 50, seconds: 1, drainMs: 15_000 };

function lossless(r: { missing: number; duplicates: number; drained: boolean; deltas: number; framesPerViewer: number; p99: number }) {
  expect(r.drained).toBe(true);
  expect(r.missing).toBe(0);
  expect(r.duplicates).toBe(0);
  expect(r.framesPerViewer).toBeGreaterThan(0);
  expect(Number.isFinite(r.p99)).toBe(true);
}

describe("bench harness: agentroom", () => {
  const secret = randomBytes(16).toString("base64url");
  const dir = mkdtempSync(join(tmpdir(), "bench-smoke-"));
  let w: RunningWorker;
  let ar: Agentroom;
  beforeAll(async () => {
    w = await startWrangler({ config: AGENTROOM_CONFIG, persistDir: dir, vars: { TOKEN_SECRET: secret } });
    ar = { base: w.directUrl, creds: { secret } };
  });
  afterAll(async () => {
    await w?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("finds the Worker's own workerd beside wrangler's proxy", () => {
    expect(w.directUrl).not.toBe(w.proxyUrl);
    expect(w.innerPid).toBeGreaterThan(0);
    expect(w.proxyPid).toBeGreaterThan(0);
  });

  it("streams to every viewer with nothing lost, directly and through the proxy", async () => {
    lossless(await runFanout(await agentroomRoom(ar), small));
    lossless(await runFanout(await agentroomRoom({ ...ar, base: w.proxyUrl }), small));
  });

  it("catches a reconnect up by replay with about the missed text's bytes, and serves a newcomer a snapshot", async () => {
    const [r] = await reconnectCatchup(ar, [500], 1);
    expect(r!.catchup).toBe("replay");
    expect(r!.medianBytes).toBeGreaterThanOrEqual(r!.missedTextBytes);
    // Merged into one event: far less than one event's envelope per delta.
    expect(r!.bytesPerTextByte).toBeLessThan(3);
    const [n] = await newViewer(ar, [120], 1);
    expect(n!.snapshotMessages).toBeGreaterThan(0);
    expect(n!.snapshotMessages).toBeLessThanOrEqual(120);
  });

  it("measures storage growth and reads the room's database", async () => {
    const g = await sessionGrowth(ar, dir, w.innerPid, 1_000);
    expect(g.windows.length).toBe(1);
    expect(g.windows[0]!.db?.tables.events).toBeGreaterThan(1_000);
  });

  it("lets live viewers keep every delta while others rejoin at once", async () => {
    const r = await rejoinStorm(ar, { live: 3, rejoiners: 20, rate: 50, seconds: 1, withCursor: true, history: 10 });
    expect(r.missing).toBe(0);
    expect(r.duplicates).toBe(0);
    expect(r.window?.windowMs).toBeGreaterThan(0);
  });
});

describe("bench harness: baselines", () => {
  for (const [name, config, room] of [
    ["naive", NAIVE_CONFIG, naiveRoom],
    ["ai-chat", AI_CHAT_CONFIG, aiChatRoom],
    ["floor", FLOOR_CONFIG, floorRoom],
  ] as const) {
    it(`${name}: streams to every viewer with nothing lost`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `bench-smoke-${name}-`));
      const w = await startWrangler({ config, persistDir: dir });
      try {
        lossless(await runFanout(room(w.directUrl), small));
      } finally {
        await w.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe("bench harness: the relay tier across two workerd processes", () => {
  const secret = randomBytes(16).toString("base64url");
  const dir = mkdtempSync(join(tmpdir(), "bench-smoke-tier-"));
  const cfg = { relayAfterViewers: 2, relayCapacity: 3 };
  let tier: Tier;
  beforeAll(async () => {
    tier = await startTier({
      persistDir: dir,
      vars: { TOKEN_SECRET: secret, LIMIT_RELAY_AFTER_VIEWERS: String(cfg.relayAfterViewers), LIMIT_RELAY_CAPACITY: String(cfg.relayCapacity) },
      logDir: dir,
    });
  }, 180_000);
  afterAll(async () => {
    await tier?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("streams through relays in the relays' process with nothing lost, and rejoins through them", async () => {
    const ar: Agentroom = { base: tier.room.directUrl, viewerBase: tier.relays.directUrl, creds: { secret } };
    const p = await tierPoint(ar, tier, cfg, 8, 50, 1);
    lossless(p);
    expect(p.relays).toBe(2);
    // The relays' workerd did the relayed viewers' sends.
    expect(p.cpu.proxy).toBeGreaterThan(0);
    const [storm] = await tierRejoin(ar, tier, { live: 3, rejoiners: 6, history: 5, rate: 50, seconds: 2 });
    expect(storm!.missing).toBe(0);
    expect(storm!.duplicates).toBe(0);
  }, 180_000);
});
