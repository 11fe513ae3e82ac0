/**
 * The relay tier's part of the report (issue 12): its targets, the grid through relays, the room's
 * CPU per delta against viewers, the rejoin storm, and the extrapolation to 10k and 100k viewers
 * on Cloudflare's published Durable Objects pricing.
 */
import type { Results } from "./report.ts";
import type { TierPoint } from "./scenarios/tier.ts";
import { DEFAULT_LIMITS } from "../shared/limits.ts";
import { median } from "./lib/stats.ts";
import { table } from "./lib/md.ts";

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "n/a");
const yes = (ok: boolean) => (ok ? "yes" : "**no**");

/**
 * Cloudflare's published prices (developers.cloudflare.com/durable-objects/platform/pricing and
 * /workers/platform/pricing, read 2026-12): Durable Objects $0.15 per million requests (incoming
 * WebSocket messages billed 20:1, RPC calls and upgrades 1:1) and $12.50 per million GB-s of
 * duration at 128 MB per object while it cannot hibernate; Workers $0.30 per million requests.
 * Included monthly amounts and the $5 plan fee are left out: these are marginal costs.
 */
export const PRICING = { doRequestPerM: 0.15, wsIncomingRatio: 20, gbSecondPerM: 12.5, objectGb: 0.125, workerRequestPerM: 0.3 };


type Chain = { chainToViewerMs?: { median: number }; opencodeSseMs?: { median: number } };

export function tierTargets(r: Results): string[][] {
  const rows: string[][] = [];
  const p10 = (system: string) => r.series.find((p) => p.system === system && p.path === "direct" && p.viewers === 10)?.p50;
  const ours = p10("agentroom");
  const theirs = p10("ai-chat");
  if (ours !== undefined && theirs !== undefined) {
    rows.push(["p50 at 10 viewers × 100 deltas/s within 1.5× AIChatAgent's", `${f1(ours)} ms against ${f1(theirs)} ms (${(ours / theirs).toFixed(2)}×)`, yes(ours <= theirs * 1.5)]);
  }
  const chain = r.chain as Chain | undefined;
  if (chain?.chainToViewerMs && chain.opencodeSseMs) {
    const d = chain.chainToViewerMs.median - chain.opencodeSseMs.median;
    rows.push(["chain p50 within 5 ms of OpenCode's own SSE", `${f1(chain.chainToViewerMs.median)} ms against ${f1(chain.opencodeSseMs.median)} ms (+${f1(d)} ms)`, yes(d <= 5)]);
  }
  const pts = r.tier?.points ?? [];
  const at = (v: number) => pts.find((p) => p.viewers === v);
  const k = at(1000);
  if (k) rows.push(["1,000 viewers × 100 deltas/s: p99 ≤ 100 ms, nothing lost (through relays)", `p99 ${f1(k.p99)} ms, missing ${k.missing}`, yes(k.pass)]);
  const flat = pts.filter((p) => p.viewers >= 200 && p.drained);
  if (flat.length >= 2) {
    const base = flat[0]!.roomUsPerDelta;
    const dev = Math.max(...flat.map((p) => Math.abs(p.roomUsPerDelta / base - 1)));
    rows.push([
      `room CPU per live frame flat (±20%) from ${flat[0]!.viewers} to ${flat.at(-1)!.viewers} viewers`,
      `${flat.map((p) => `${p.roomUsPerDelta.toFixed(0)}`).join(" / ")} µs per delta; max deviation ${(dev * 100).toFixed(0)}%`,
      yes(dev <= 0.2),
    ]);
  }
  for (const x of r.tier?.rejoin ?? []) {
    rows.push([
      `${x.rejoiners} viewers rejoining through relays ${x.schedule} (${x.withCursor ? "with cursor" : "no cursor"}): live stall < 500 ms`,
      `stall ${f1(x.window!.stallMs)} ms; all caught up in ${x.allCaughtUpMs.toFixed(0)} ms`,
      yes(x.window!.stallMs < 500),
    ]);
  }
  const cap = DEFAULT_LIMITS.relayAfterViewers + DEFAULT_LIMITS.maxRelays * DEFAULT_LIMITS.relayCapacity;
  const held = Math.max(0, ...pts.filter((p) => p.missing === 0 && p.drained).map((p) => p.viewers));
  rows.push(["one session takes ≥ 10,000 connections", `cap by the defaults: ${DEFAULT_LIMITS.relayAfterViewers} + ${DEFAULT_LIMITS.maxRelays} relays × ${DEFAULT_LIMITS.relayCapacity} = ${cap.toLocaleString("en")}; measured here: ${held.toLocaleString("en")} viewers, nothing lost`, yes(cap >= 10_000)]);
  return rows;
}

/**
 * From the measured points: the live frames per second the room sends (≈ frames a viewer got per
 * second) and the per-relay capacity (the configured one, if the grid held it at p99 ≤ 100 ms on
 * this machine's one relays' thread). Sends per object follow: the room sends each live frame to
 * its own viewers and once per relay; a relay, once per viewer.
 */
export function extrapolation(r: Results): string[][] {
  const pts = r.tier?.points ?? [];
  const cfg = r.tier?.config;
  if (!pts.length || !cfg) return [];
  // The room's live frames per second: the highest rate any viewer got (relays forward each room
  // frame when their budget allows); a relay's: the median a relayed viewer got.
  const roomFramesPerS = Math.max(...pts.map((p) => p.framesPerViewer / p.seconds));
  const framesPerS = median(pts.map((p) => p.framesPerViewer / p.seconds));
  const rows: string[][] = [];
  for (const v of [10_000, 100_000]) {
    const onRoom = DEFAULT_LIMITS.relayAfterViewers;
    const capacity = DEFAULT_LIMITS.relayCapacity;
    const relays = Math.ceil((v - onRoom) / capacity);
    const roomSends = roomFramesPerS * (onRoom + relays);
    const relaySends = framesPerS * capacity;
    // An hour of a live stream: relays (and the room) cannot hibernate while frames flow.
    const gbS = (relays + 1) * PRICING.objectGb * 3600;
    const duration = (gbS / 1e6) * PRICING.gbSecondPerM;
    // Requests: each relay receives the room's live frames (its client socket), reports ~10/s;
    // viewers' heartbeats are auto-responses. Joins: an RPC to the room and an upgrade per viewer.
    const incoming = relays * (roomFramesPerS + 10) * 3600;
    const requests = (incoming / PRICING.wsIncomingRatio / 1e6) * PRICING.doRequestPerM;
    const joins = ((2 * v) / 1e6) * PRICING.doRequestPerM + (v / 1e6) * PRICING.workerRequestPerM;
    rows.push([
      v.toLocaleString("en"),
      String(relays),
      `${roomSends.toFixed(0)} (room) · ${relaySends.toFixed(0)} (each relay)`,
      `$${duration.toFixed(2)}`,
      `$${requests.toFixed(3)}`,
      `$${joins.toFixed(3)}`,
      `$${(duration + requests + joins).toFixed(2)}`,
    ]);
  }
  return rows;
}

export function tierMarkdown(r: Results): string[] {
  const t = r.tier;
  if (!t) return [];
  const out: string[] = [];
  out.push(...table("Targets (issue 12: relay tier, no wait when quiet)", ["target", "measured", "met"], tierTargets(r)));
  const roomOnly = (v: number) => r.series.find((p) => p.system === "agentroom" && p.path === "direct" && p.viewers === v);
  out.push(
    ...table(
      `Fan-out through relays (${t.config.relayAfterViewers} viewers on the room, relays of ${t.config.relayCapacity}; 100 deltas/s)`,
      ["viewers", "relays", "p50 ms", "p99 ms", "max ms", "missing", "frames/viewer/s", "cores: room", "cores: relays", "cores: load generator", "loadgen lag p99 ms", "room µs/delta", "room only: p99 ms, µs/delta"],
      t.points.map((p: TierPoint) => {
        const ro = roomOnly(p.viewers);
        return [
          p.viewers.toLocaleString("en"),
          String(p.relays),
          f1(p.p50),
          f1(p.p99),
          f1(p.max),
          `${p.missing}${p.drained ? "" : " (not drained)"}`,
          f1(p.framesPerViewer / p.seconds),
          p.cores.room.toFixed(2),
          p.cores.relays.toFixed(2),
          p.cores.loadgen.toFixed(2),
          f1(p.loadgenLagP99),
          p.roomUsPerDelta.toFixed(0),
          ro ? `${f1(ro.p99)}, ${((ro.cpu.inner * 1e6) / ro.deltas).toFixed(0)}` : "—",
        ];
      }),
      [
        "The room's workerd and the relays' workerd are separate `wrangler dev` processes (direct paths); every relay of the run shares the relays' one thread. The load generator holds every viewer in one Node process: its own event-loop lag is shown, and where it is high, it and not the tier is the limit.",
        "",
      ],
    ),
  );
  out.push(
    ...table(
      "Rejoin storm through relays",
      ["rejoiners", "schedule", "cursor", "live stall ms", "all caught up ms", "median rejoin ms", "missing", "cores: room"],
      t.rejoin.map((x) => [String(x.rejoiners), x.schedule, x.withCursor ? "yes" : "no (snapshot)", f1(x.window!.stallMs), x.allCaughtUpMs.toFixed(0), f1(x.medianRejoinMs), String(x.missing), x.stormCpu.room.toFixed(2)]),
    ),
  );
  out.push(
    ...table(
      "Extrapolation: one session's audience on Cloudflare (per hour of live streaming)",
      ["viewers", "relays", "sends/s per object", "duration", "requests", "joins (once)", "total"],
      extrapolation(r),
      [
        `From the defaults (${DEFAULT_LIMITS.relayAfterViewers} viewers on the room, ${DEFAULT_LIMITS.relayCapacity} per relay) and the live frames per second measured above. Prices: Durable Objects $${PRICING.doRequestPerM}/million requests (incoming WebSocket messages billed ${PRICING.wsIncomingRatio}:1), $${PRICING.gbSecondPerM}/million GB-s at 128 MB per object; Workers $${PRICING.workerRequestPerM}/million requests; included amounts and the plan fee left out. Outgoing WebSocket messages are not billed.`,
        "",
      ],
    ),
  );
  return out;
}
