/**
 * A deploy, as the live viewers feel it: L viewers watch a stream while N other viewers of the same
 * room drop and rejoin. Two schedules: all at the same instant (no jitter: the worst case), or each
 * after the delay the room client itself draws for its first retry (`jitteredDelay(1)` from
 * shared/backoff.ts, the schedule a real deploy produces). Reported: how long the live viewers were
 * held up (worst delta latency in the storm window against the usual p50), and how long until
 * every rejoiner was caught up.
 */
import type WebSocket from "ws";
import { runFanout, openSocket, closeAll, type FanoutResult } from "../lib/fanout.ts";
import { timeJoin } from "../lib/join.ts";
import { median } from "../lib/stats.ts";
import { jitteredDelay } from "../../shared/backoff.ts";
import { cpuSeconds } from "../lib/workerd.ts";
import { agentroomRoom, assistantMessage, BenchAgent, createSession, protocols, roomUrl, textPart, viewerToken, type Agentroom } from "../systems/agentroom.ts";
import { isCaughtUp } from "../systems/agentroom.ts";
import type { FanoutRoom } from "../lib/fanout.ts";
import { setTimeout as sleep } from "node:timers/promises";

export type RejoinSchedule = "at once" | "client jitter";

export type RejoinResult = FanoutResult & {
  rejoiners: number;
  withCursor: boolean;
  /** "at once", or "client jitter": each rejoiner waits the room client's first-retry delay. */
  schedule: RejoinSchedule;
  /** First reconnect → last rejoiner caught up. */
  allCaughtUpMs: number;
  medianRejoinMs: number;
  historyMessages: number;
  /** Rejoin attempts that failed (upgrade refused or reset) and were retried. */
  failedJoins: number;
  /**
   * Cores used from the drop until the last rejoiner was caught up: the room's workerd (the Worker
   * and the room share its one thread) and this load generator, which competes for the same two.
   */
  stormCpu: { room: number; loadgen: number };
};

function openReady(ep: { url: string; protocols: string[] }): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = openSocket(ep);
    const t = setTimeout(() => reject(new Error("rejoiner not ready")), 60_000);
    ws.on("message", (d: Buffer) => {
      if (isCaughtUp(d.toString())) {
        clearTimeout(t);
        resolve(ws);
      }
    });
    ws.on("error", reject);
  });
}

export async function rejoinStorm(
  ar: Agentroom,
  opts: { live: number; rejoiners: number; rate: number; seconds: number; withCursor: boolean; history: number; schedule?: RejoinSchedule; roomPid?: number },
): Promise<RejoinResult> {
  const schedule = opts.schedule ?? "at once";
  // A session with some history, so a snapshot is not trivially small.
  const s = await createSession(ar, "bench rejoin");
  const token = await viewerToken(ar, s.id, s.ownerToken);
  const filler = await BenchAgent.join(ar, s.id);
  const events: unknown[] = [];
  for (let j = 0; j < opts.history; j++) events.push(assistantMessage(`h${j}`, 1_700_000_000_000 + j), textPart(`h${j}`, `hp${j}`, "Earlier answer text. ".repeat(15)));
  for (let i = 0; i < events.length; i += 1_000) filler.send(events.slice(i, i + 1_000));
  await filler.settled();
  await filler.close();

  // The live room: reuse the fan-out adapter but on this session.
  const base = await agentroomRoom(ar, { id: s.id, ownerToken: s.ownerToken });
  const rejoinerEp = (cursor?: number) => ({ url: roomUrl(ar.viewerBase ?? ar.base, s.id, cursor), protocols: protocols(token) });
  let sockets: WebSocket[] = [];
  for (let i = 0; i < opts.rejoiners; i += 50) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(50, opts.rejoiners - i) }, () => openReady(rejoinerEp())))));
  }
  let agentSeq = () => 0;
  const room: FanoutRoom = {
    ...base,
    async startAgent() {
      const a = await base.startAgent();
      agentSeq = () => a.seq?.() ?? 0;
      return a;
    },
  };
  let allCaughtUpMs = 0;
  let failedJoins = 0;
  let stormCpu = { room: NaN, loadgen: NaN };
  let rejoinTimes: number[] = [];
  const result = await runFanout(room, {
    viewers: opts.live,
    rate: opts.rate,
    seconds: opts.seconds,
    midStream: {
      atFraction: 0.4,
      run: async () => {
        const cursor = opts.withCursor ? agentSeq() : undefined;
        for (const ws of sockets) ws.terminate();
        const t0 = performance.now();
        const room0 = cpuSeconds(opts.roomPid ?? 0);
        const self0 = process.cpuUsage();
        const joinWithRetry = async (): Promise<Awaited<ReturnType<typeof timeJoin>>> => {
          if (schedule === "client jitter") await sleep(jitteredDelay(1));
          for (let attempt = 1; ; attempt++) {
            try {
              return await timeJoin(rejoinerEp(cursor));
            } catch (e) {
              if (attempt >= 3) throw e;
              failedJoins++;
              await sleep(200 * attempt);
            }
          }
        };
        const joins = await Promise.all(Array.from({ length: opts.rejoiners }, joinWithRetry));
        allCaughtUpMs = performance.now() - t0;
        const self = process.cpuUsage(self0);
        stormCpu = {
          room: (cpuSeconds(opts.roomPid ?? 0) - room0) / (allCaughtUpMs / 1000),
          loadgen: (self.user + self.system) / 1e6 / (allCaughtUpMs / 1000),
        };
        rejoinTimes = joins.map((j) => j.ms);
        sockets = [];
      },
    },
  });
  await closeAll(sockets);
  const r: RejoinResult = {
    ...result,
    rejoiners: opts.rejoiners,
    withCursor: opts.withCursor,
    schedule,
    allCaughtUpMs,
    medianRejoinMs: median(rejoinTimes),
    historyMessages: opts.history,
    failedJoins,
    stormCpu,
  };
  const w = r.window!;
  console.log(
    `  rejoin ${opts.rejoiners} ${schedule} (${opts.withCursor ? "with cursor" : "no cursor: snapshot"}) beside ${opts.live} live viewers at ${opts.rate}/s: ` +
      `all caught up in ${allCaughtUpMs.toFixed(0)} ms; live worst ${w.maxInWindow.toFixed(1)} ms vs p50 ${w.p50Outside.toFixed(1)} → stall ${w.stallMs.toFixed(1)} ms; ` +
      `missing ${r.missing}, failed joins retried ${failedJoins}; cores during the storm: room ${stormCpu.room.toFixed(2)}, load generator ${stormCpu.loadgen.toFixed(2)}`,
  );
  return r;
}
