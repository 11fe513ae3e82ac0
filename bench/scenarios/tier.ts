/**
 * The relay tier (issue 12): the fan-out grid with viewers on relays in their own workerd process
 * (bench/lib/tier.ts), the cores each process used, the room's CPU per delta against viewers, a
 * rejoin storm through relays, and an extrapolation to 10k and 100k viewers.
 */
import { runFanout, type FanoutResult } from "../lib/fanout.ts";
import { agentroomRoom, type Agentroom } from "../systems/agentroom.ts";
import { rejoinStorm, type RejoinResult } from "./rejoin.ts";
import type { Tier } from "../lib/tier.ts";
import { P99_TARGET_MS } from "./fanout.ts";
import { DEFAULT_LIMITS } from "../../shared/limits.ts";

/**
 * Sends per second the relays' one thread is given in all: a room's budget. Twice that was tried
 * (a relay does no SQL): worse on this machine, p99 568 ms against 282 ms at 1,000 viewers, the
 * relays' workerd at 0.64–1.28 cores and the load generator starved with it.
 */
export const RELAYS_THREAD_SENDS = DEFAULT_LIMITS.liveSendsPerSecond;

export type TierConfig = { relayAfterViewers: number; relayCapacity: number };

export type TierPoint = FanoutResult & {
  relays: number;
  pass: boolean;
  /** Cores over the stream: the room's workerd, the relays' workerd, the load generator. */
  cores: { room: number; relays: number; loadgen: number };
  /** The room's CPU per delta (µs): one agent frame, one commit, at most one live frame. */
  roomUsPerDelta: number;
};

export type TierResults = {
  config: TierConfig;
  points: TierPoint[];
  rejoin: RejoinResult[];
};

export const relaysFor = (viewers: number, c: TierConfig): number => Math.max(0, Math.ceil((viewers - c.relayAfterViewers) / c.relayCapacity));

/**
 * One point. Every relay of the bench shares the relays' one thread, where in production each has
 * its own; so the relays' process is restarted with one thread's send budget split between them
 * (`LIMIT_LIVE_SENDS_PER_SECOND` = RELAYS_THREAD_SENDS ÷ relays).
 */
export async function tierPoint(ar: Agentroom, tier: Tier, cfg: TierConfig, viewers: number, rate: number, seconds: number): Promise<TierPoint> {
  const relays = relaysFor(viewers, cfg);
  await tier.restartRelays({ LIMIT_LIVE_SENDS_PER_SECOND: String(Math.round(RELAYS_THREAD_SENDS / Math.max(1, relays))) });
  ar = { ...ar, viewerBase: tier.relays.directUrl };
  const r = await runFanout(await agentroomRoom(ar), {
    viewers,
    rate,
    seconds,
    // `proxy` here is the relays' workerd: the load generator charges CPU to both pids.
    pids: { inner: tier.room.innerPid, proxy: tier.relays.innerPid },
    drainMs: Math.max(6_000, seconds * 1000),
    connectConcurrency: 100,
  });
  await new Promise((res) => setTimeout(res, 1_500)); // closes settle, relays retire
  const streamS = r.seconds;
  const p: TierPoint = {
    ...r,
    relays,
    pass: r.drained && r.missing === 0 && r.duplicates === 0 && r.p99 <= P99_TARGET_MS,
    cores: { room: r.cpu.inner / streamS, relays: r.cpu.proxy / streamS, loadgen: r.cpu.loadgen / streamS },
    roomUsPerDelta: (r.cpu.inner * 1e6) / r.deltas,
  };
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "n/a");
  console.log(
    `  tier V=${String(viewers).padStart(5)} R=${rate} relays ${p.relays}: p50 ${f(p.p50)} p99 ${f(p.p99)} max ${f(p.max)} ms missing ${p.missing}${p.drained ? "" : " (not drained)"} ` +
      `frames/v ${p.framesPerViewer} cores room ${p.cores.room.toFixed(2)} relays ${p.cores.relays.toFixed(2)} loadgen ${p.cores.loadgen.toFixed(2)} ` +
      `(lag p99 ${f(p.loadgenLagP99)} ms) room ${p.roomUsPerDelta.toFixed(0)} µs/delta join ${(p.joinMs / 1000).toFixed(1)} s  ${p.pass ? "PASS" : "fail"}`,
  );
  return p;
}

export async function tierRejoin(ar: Agentroom, tier: Tier, o: { live: number; rejoiners: number; history: number; rate: number; seconds: number }): Promise<RejoinResult[]> {
  await tier.restartRelays({});
  ar = { ...ar, viewerBase: tier.relays.directUrl };
  const out: RejoinResult[] = [];
  for (const withCursor of [true, false]) out.push(await rejoinStorm(ar, { ...o, withCursor, roomPid: tier.room.innerPid }));
  out.push(await rejoinStorm(ar, { ...o, withCursor: true, schedule: "client jitter", roomPid: tier.room.innerPid }));
  return out;
}
