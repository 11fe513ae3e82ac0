/** Turns a benchmark run's results into Markdown tables and the p99-vs-viewers plot (SVG). */
import type { Point, SystemName, PathName } from "./scenarios/fanout.ts";
import type { NewViewerResult, ReconnectResult } from "./scenarios/catchup.ts";
import type { GrowthResult } from "./scenarios/storage.ts";
import type { RejoinResult } from "./scenarios/rejoin.ts";
import type { RevokeResult } from "./scenarios/revoke.ts";
import { median, spread } from "./lib/stats.ts";
import { tierMarkdown } from "./report-tier.ts";
import { table } from "./lib/md.ts";

export type Capacity = { system: SystemName; path: PathName; best?: { viewers: number; rate: number; product: number; p99: number } };

export type Results = {
  env: Record<string, string>;
  mode: string;
  series: Point[];
  capacity: Capacity[];
  headline: Point[];
  reconnect: Record<string, ReconnectResult[]>;
  newViewer: Record<string, NewViewerResult[]>;
  growth: GrowthResult[];
  rejoin: Record<string, RejoinResult[]>;
  /** Revoke → last socket of the link closed, per path. */
  revoke?: Record<string, RevokeResult>;
  profiles: Record<string, import("./lib/profile.ts").ProfileSummary>;
  client?: unknown;
  chain?: unknown;
  chat?: unknown;
  /** bench/stream-http.ts: the HTTP stream against the WebSocket path, catch-up, the edge cache. */
  http?: unknown;
  tier?: import("./scenarios/tier.ts").TierResults;
  notes: string[];
};

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "n/a");
const kb = (b: number) => (b / 1024).toFixed(1);

/** The issue's targets against this run's figures (direct path, or remote). */
export function targets(r: Results): string[][] {
  const rows: string[][] = [];
  const yes = (ok: boolean) => (ok ? "yes" : "**no**");
  const main = r.headline.filter((p) => p.path !== "proxy");
  if (main.length) {
    const p99 = median(main.map((p) => p.p99));
    const lost = main.reduce((n, p) => n + p.missing, 0);
    rows.push(["1,000 viewers × 100 deltas/s: p99 ≤ 100 ms, nothing lost", `p99 ${f1(p99)} ms (median of ${main.length}), missing ${lost}`, yes(p99 <= 100 && lost === 0)]);
  }
  const ar = r.capacity.find((c) => c.system === "agentroom" && c.path !== "proxy")?.best;
  for (const c of ar || r.capacity.some((c) => c.system === "agentroom") ? r.capacity.filter((c) => c.system !== "agentroom") : []) {
    const ratio = ar && c.best ? ar.product / c.best.product : ar ? Infinity : NaN;
    rows.push([`≥ 10× ${c.system}'s viewers × deltas/s at p99 < 100 ms`, `${Number.isFinite(ratio) ? ratio.toFixed(1) + "×" : ar ? "baseline passed nothing" : "n/a"}`, yes(ratio >= 10)]);
  }
  const rec = (r.reconnect.direct ?? r.reconnect.remote ?? []).find((x) => x.missed === 10_000);
  if (rec) {
    rows.push([
      "reconnect that missed 10k deltas: < 50 ms, bytes ∝ missed text",
      `${f1(rec.medianMs)} ms${rec.uncachedMedianMs !== undefined ? ` (${f1(rec.uncachedMedianMs)} ms uncached)` : ""}, ${kb(rec.medianBytes)} KB for ${kb(rec.missedTextBytes)} KB of text (${rec.bytesPerTextByte.toFixed(2)}×), ${rec.catchup}`,
      yes(Math.max(rec.medianMs, rec.uncachedMedianMs ?? 0) < 50 && rec.bytesPerTextByte < 2),
    ]);
  }
  for (const x of r.rejoin.direct ?? r.rejoin.remote ?? []) {
    rows.push([
      `${x.rejoiners} viewers rejoining ${x.schedule === "client jitter" ? "after the client's jittered first retry (a real deploy)" : "at once"} (${x.withCursor ? "with cursor" : "no cursor"}): live stall < 1 s`,
      `stall ${f1(x.window!.stallMs)} ms; all caught up in ${x.allCaughtUpMs.toFixed(0)} ms`,
      yes(x.window!.stallMs < 1000),
    ]);
  }
  const rv = r.revoke?.direct ?? r.revoke?.remote;
  if (rv) {
    rows.push([
      `revoked link with ${rv.sockets} sockets: all closed (4411) within 1 s`,
      `close frame: median ${f1(rv.medianMs)} ms, max ${f1(rv.maxMs)} ms over ${rv.tries} tries (TCP gone: median ${rv.tcpMedianMs.toFixed(0)} ms); wrong close codes ${rv.wrongCodes}`,
      yes(rv.maxMs < 1000 && rv.wrongCodes === 0),
    ]);
  }
  const g = r.growth.find((x) => x.label === "session deltas");
  if (g && g.windows.length > 1) {
    const costs = g.windows.map((w) => w.ackUsPerDelta);
    const mid = median(costs);
    const dev = Math.max(...costs.map((c) => Math.abs(c - mid) / mid)) * 100;
    rows.push([`cost per delta within ±20% from 1k to ${g.windows[g.windows.length - 1]!.at.toLocaleString("en")} deltas`, `${costs.map(f1).join(" / ")} µs; max deviation from median ${f1(dev)} %`, yes(dev <= 20)]);
  }
  return rows;
}

/** A Markdown table under a heading; nothing when there are no rows. */

/**
 * The headline that travels between machines: each system's room CPU per delivered frame and per
 * delta, as a ratio to the floor's at the same audience (direct path, same run).
 */
export function floorTable(r: Results): string[] {
  const direct = r.series.filter((p) => p.path !== "proxy" && p.rate === r.series[0]?.rate);
  const at = (system: SystemName, v: number) => {
    const g = direct.filter((p) => p.system === system && p.viewers === v);
    return g.length ? { frame: median(g.map((p) => p.cpuUsPerFrame)), delta: median(g.map((p) => p.cpuUsPerDelta)) } : undefined;
  };
  const viewers = [...new Set(direct.map((p) => p.viewers))].sort((a, b) => a - b);
  const rows: string[][] = [];
  for (const system of SYSTEMS) {
    for (const v of viewers) {
      const c = at(system, v);
      if (!c) continue;
      const floor = at("floor", v);
      const ratio = (x: number, f: number | undefined) => (f && Number.isFinite(x) ? `${(x / f).toFixed(2)}×` : "n/a");
      rows.push([system, String(v), f1(c.frame), ratio(c.frame, floor?.frame), f1(c.delta), ratio(c.delta, floor?.delta)]);
    }
  }
  // Through relays: the room's workerd and the relays' together, per frame a viewer received.
  for (const p of r.tier?.points ?? []) {
    const cpu = (p.cpu.inner + p.cpu.proxy) * 1e6;
    const delivered = p.framesPerViewer * p.viewers;
    const frame = delivered > 0 ? cpu / delivered : NaN;
    const delta = p.deltas > 0 ? cpu / p.deltas : NaN;
    const floor = at("floor", p.viewers);
    const ratio = (x: number, f: number | undefined) => (f && Number.isFinite(x) ? `${(x / f).toFixed(2)}×` : "n/a");
    rows.push([`agentroom via ${p.relays} relay${p.relays === 1 ? "" : "s"} (room + relays)`, String(p.viewers), f1(frame), ratio(frame, floor?.frame), f1(delta), ratio(delta, floor?.delta)]);
  }
  if (!rows.length) return [];
  return table(
    "CPU per delivered frame, against the floor (the room's workerd; direct path)",
    ["system", "viewers", "µs / delivered frame", "× floor", "µs / delta", "× floor"],
    rows,
    ["The floor receives the agent's frame and sends the same bytes to every socket (bench/baselines/floor). A system that batches deltas delivers fewer frames, so compare per delta too.", ""],
  );
}

export function markdown(r: Results): string {
  const out: string[] = [];
  out.push(`Run: ${r.env.date} · mode ${r.mode} · ${r.env.machine} · load average at start ${r.env.loadStart}, at end ${r.env.loadEnd}`);
  out.push(`Versions: ${r.env.versions}`);
  out.push("");

  out.push(...floorTable(r));
  out.push(...table("Targets (issue 5)", ["target", "measured", "met"], targets(r)));
  out.push(...tierMarkdown(r));

  const headline = (["direct", "proxy", "remote"] as const)
    .map((path) => [path, r.headline.filter((p) => p.path === path)] as const)
    .filter(([, ps]) => ps.length)
    .map(([path, ps]) => [
      path,
      String(ps.length),
      spread(ps.map((p) => p.p50)),
      spread(ps.map((p) => p.p99)),
      spread(ps.map((p) => p.max)),
      ps.map((p) => p.missing).join(", "),
      spread(ps.map((p) => p.framesPerViewer / p.seconds)),
      spread(ps.map((p) => p.bytesPerViewer / 1024 / p.seconds), 2),
    ]);
  out.push(
    ...table(
      "Headline: 1,000 viewers × 100 deltas/s (agentroom)",
      ["path", "runs", "p50 ms", "p99 ms", "max ms", "missing", "frames/viewer/s", "KB/viewer/s"],
      headline,
      ["Cells are median (min–max) over the runs.", ""],
    ),
  );

  const ar = r.capacity.find((c) => c.system === "agentroom" && c.path !== "proxy")?.best;
  out.push(
    ...table(
      "Capacity: largest viewers × deltas/s with p99 < 100 ms and nothing lost",
      ["system", "path", "viewers", "deltas/s", "V×R", "p99 ms", "agentroom ÷ this"],
      r.capacity.map(({ system, path, best: b }) =>
        b
          ? [system, path, String(b.viewers), String(b.rate), b.product.toLocaleString("en"), f1(b.p99), ar && system !== "agentroom" ? `${(ar.product / b.product).toFixed(1)}×` : ""]
          : [system, path, "none passed", "", "", "", ""],
      ),
    ),
  );

  const all = [...r.series].sort((a, b) => a.system.localeCompare(b.system) || a.path.localeCompare(b.path) || a.viewers - b.viewers || a.rate - b.rate);
  out.push(
    ...table(
      "Fan-out points (every measured point)",
      ["system", "path", "viewers", "deltas/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "missing", "frames/viewer", "KB/viewer", "room CPU s", "proxy CPU s", "loadgen CPU s", "loadgen lag p99 ms", "pass"],
      all.map((p) => [
        p.system, p.path, String(p.viewers), String(p.rate), f1(p.p50), f1(p.p90), f1(p.p99), f1(p.max),
        `${p.missing}${p.drained ? "" : " (not drained)"}${p.connectRetries ? ` (${p.connectRetries} joins retried)` : ""}`, p.framesPerViewer.toFixed(0), kb(p.bytesPerViewer),
        p.cpu.inner.toFixed(2), p.cpu.proxy.toFixed(2), p.cpu.loadgen.toFixed(2), f1(p.loadgenLagP99), p.pass ? "yes" : "no",
      ]),
    ),
  );

  out.push(
    ...table(
      "Catch-up: reconnect after missing N deltas (8-character tokens)",
      ["path", "missed deltas", "missed text KB", "catch-up", "time ms (median, min–max)", "uncached ms (median, min–max)", "first frame ms", "KB received", "bytes per missed text byte"],
      Object.entries(r.reconnect).flatMap(([path, xs]) =>
        xs.map((x) => [
          path, x.missed.toLocaleString("en"), kb(x.missedTextBytes), x.catchup, spread(x.runs.map((j) => j.ms)),
          x.uncachedRuns?.length ? spread(x.uncachedRuns.map((j) => j.ms)) : "—",
          f1(median(x.runs.map((j) => j.firstFrameMs))), kb(x.medianBytes), x.bytesPerTextByte.toFixed(2),
        ]),
      ),
    ),
  );

  out.push(
    ...table(
      "New viewer of an N-message session (snapshot of the latest page)",
      ["path", "messages", "snapshot messages", "KB received", "caught up ms", "ready ms (parsed, validated, in a Transcript)"],
      Object.entries(r.newViewer).flatMap(([path, xs]) =>
        xs.map((x) => [path, x.messages.toLocaleString("en"), String(x.snapshotMessages), kb(x.medianBytes), spread(x.runs.map((j) => j.ms)), spread(x.runs.map((j) => j.readyMs))]),
      ),
    ),
  );

  out.push(
    ...table(
      "Storage growth: cost per delta (batches of 100 deltas, each acked after commit)",
      ["series", "at", "µs per delta (ack)", "µs per delta (room CPU)", "DB used KB", "DB file KB", "WAL KB", "log rows"],
      r.growth.flatMap((g) => [
        ...g.windows.map((w) => [
          g.label, w.at.toLocaleString("en"), f1(w.ackUsPerDelta), f1(w.cpuUsPerDelta),
          w.db ? kb(w.db.usedBytes) : "", w.db ? kb(w.db.fileBytes) : "", w.db ? kb(w.db.walBytes) : "", String(w.db?.tables.events ?? ""),
        ]),
        [g.label, "spread (max−min)/min", `${f1(g.spreadPct)} %`, "", "", "", "", ""],
      ]),
    ),
  );

  out.push(
    ...table(
      "Deploy: viewers rejoining while others watch live",
      ["path", "rejoiners", "schedule", "live viewers", "deltas/s", "rejoin with", "all caught up ms", "median rejoin ms", "live p50 ms (outside)", "live worst in window ms", "stall ms", "live missing", "rejoins retried", "cores: room / load generator"],
      Object.entries(r.rejoin).flatMap(([path, xs]) =>
        xs.map((x) => [
          path, String(x.rejoiners), x.schedule ?? "at once", String(x.viewers), String(x.rate), x.withCursor ? "cursor (replay)" : "no cursor (snapshot)",
          x.allCaughtUpMs.toFixed(0), f1(x.medianRejoinMs), f1(x.window!.p50Outside), f1(x.window!.maxInWindow), f1(x.window!.stallMs), String(x.missing), String(x.failedJoins ?? 0),
          x.stormCpu && Number.isFinite(x.stormCpu.room) ? `${x.stormCpu.room.toFixed(2)} / ${x.stormCpu.loadgen.toFixed(2)}` : "—",
        ]),
      ),
    ),
  );

  for (const [title, value] of [
    ["Client (Chromium)", r.client],
    ["Chain: scripted model → OpenCode → runner → room → viewer", r.chain],
    ["Chat: browser A presses Enter → browser B shows the message, agent streaming 100 deltas/s", r.chat],
    ["Reading over HTTP: SSE and long-poll against WebSocket, catch-up, the edge cache (bench/stream-http.ts)", r.http],
  ] as const) {
    if (value === undefined) continue;
    out.push(`### ${title}`, "", "```json", JSON.stringify(value, null, 2), "```", "");
  }
  for (const [name, prof] of Object.entries(r.profiles ?? {})) {
    out.push(
      ...table(
        `CPU profile of the room during ${name} (${prof.sampledMs.toFixed(0)} ms sampled over ${prof.durationMs.toFixed(0)} ms)`,
        ["function", "self ms", "total ms"],
        prof.top.map((e) => [`\`${e.fn}\``, f1(e.selfMs), f1(e.totalMs)]),
      ),
    );
  }
  if (r.notes.length) out.push("Notes from this run:", "", ...r.notes.map((n) => `- ${n}`), "");
  return out.join("\n");
}

const COLORS: Record<SystemName, string> = { agentroom: "#1f6feb", naive: "#d1242f", "ai-chat": "#9a6700", floor: "#57606a" };
const SYSTEMS: SystemName[] = ["floor", "agentroom", "naive", "ai-chat"];

/** A log–log plot's frame: scales from value to pixel and the SVG's opening lines with its title. */
function logPlot(xs: readonly [number, number], ys: readonly [number, number], title: string) {
  const W = 800;
  const H = 440;
  const m = { l: 70, r: 225, t: 40, b: 55 };
  const x = (v: number) => m.l + ((Math.log10(v) - Math.log10(xs[0])) / (Math.log10(xs[1]) - Math.log10(xs[0]))) * (W - m.l - m.r);
  const y = (v: number) => {
    const c = Math.min(ys[1], Math.max(ys[0], v));
    return H - m.b - ((Math.log10(c) - Math.log10(ys[0])) / (Math.log10(ys[1]) - Math.log10(ys[0]))) * (H - m.t - m.b);
  };
  const s: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.l}" y="22" font-size="14" font-weight="600">${title}</text>`,
  ];
  return { W, H, m, x, y, s };
}

/** p99 latency against viewers (both log scales) for each system and path, at one rate. */
export function plotSvg(points: Point[], rate: number): string {
  const xs = [10, 1000] as const;
  const ys = [1, 10_000] as const;
  const { W, H, m, x, y, s } = logPlot(xs, ys, `p99 agent → viewer latency vs viewers, ${rate} deltas/s, local workerd (median of repeats)`);
  for (const v of [10, 20, 50, 100, 200, 500, 1000]) {
    s.push(`<line x1="${x(v)}" y1="${m.t}" x2="${x(v)}" y2="${H - m.b}" stroke="#eee"/>`);
    s.push(`<text x="${x(v)}" y="${H - m.b + 16}" text-anchor="middle">${v}</text>`);
  }
  for (const v of [1, 10, 100, 1000, 10000]) {
    s.push(`<line x1="${m.l}" y1="${y(v)}" x2="${W - m.r}" y2="${y(v)}" stroke="#eee"/>`);
    s.push(`<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${v >= 1000 ? v / 1000 + " s" : v + " ms"}</text>`);
  }
  s.push(`<line x1="${m.l}" y1="${y(100)}" x2="${W - m.r}" y2="${y(100)}" stroke="#666" stroke-dasharray="2 3"/>`);
  s.push(`<text x="${W - m.r - 4}" y="${y(100) - 4}" text-anchor="end" fill="#666">100 ms target</text>`);
  s.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 14}" text-anchor="middle">viewers (log)</text>`);
  s.push(`<text x="16" y="${(m.t + H - m.b) / 2}" transform="rotate(-90 16 ${(m.t + H - m.b) / 2})" text-anchor="middle">p99 latency (log)</text>`);
  let ly = m.t + 10;
  for (const system of SYSTEMS) {
    for (const path of ["direct", "proxy", "remote"] as PathName[] | string[]) {
      // Repeated points at one V (headline runs, capacity retries) are drawn as their median.
      const byV = new Map<number, Point[]>();
      for (const p of points) if (p.system === system && p.path === path && p.rate === rate) byV.set(p.viewers, [...(byV.get(p.viewers) ?? []), p]);
      const ps = [...byV.values()]
        .map((g) => ({ ...g[0]!, p99: median(g.map((p) => p.p99)), drained: g.every((p) => p.drained), missing: Math.max(...g.map((p) => p.missing)) }))
        .sort((a, b) => a.viewers - b.viewers);
      if (!ps.length) continue;
      const dash = path === "proxy" ? ` stroke-dasharray="6 4"` : "";
      const d = ps.map((p, i) => `${i ? "L" : "M"}${x(p.viewers).toFixed(1)},${y(p.p99).toFixed(1)}`).join(" ");
      s.push(`<path d="${d}" fill="none" stroke="${COLORS[system]}" stroke-width="2"${dash}/>`);
      for (const p of ps) {
        const open = !p.drained || p.missing > 0;
        s.push(`<circle cx="${x(p.viewers).toFixed(1)}" cy="${y(p.p99).toFixed(1)}" r="3.5" fill="${open ? "white" : COLORS[system]}" stroke="${COLORS[system]}"/>`);
      }
      s.push(`<line x1="${W - m.r + 16}" y1="${ly}" x2="${W - m.r + 46}" y2="${ly}" stroke="${COLORS[system]}" stroke-width="2"${dash}/>`);
      s.push(`<text x="${W - m.r + 52}" y="${ly + 4}">${system} (${path === "proxy" ? "wrangler proxy" : path})</text>`);
      ly += 20;
    }
  }
  s.push(`<text x="${W - m.r + 16}" y="${ly + 10}" fill="#666">open circle: not all</text>`);
  s.push(`<text x="${W - m.r + 16}" y="${ly + 24}" fill="#666">delivered by the cutoff</text>`);
  s.push(`</svg>`);
  return s.join("\n");
}

/**
 * CPU per delivered frame against viewers (direct path, the room's workerd), the floor as a line
 * and 1.5× the floor (the target from 100 viewers up) dashed: the figure that holds across machines.
 */
export function cpuPlotSvg(points: Point[], rate: number): string {
  const direct = points.filter((p) => p.path === "direct" && p.rate === rate && Number.isFinite(p.cpuUsPerFrame) && p.cpuUsPerFrame > 0);
  const vs = direct.map((p) => p.viewers);
  const xs = [Math.min(10, ...vs), Math.max(1000, ...vs)] as const;
  const ys = [5, 500] as const;
  const { W, H, m, x, y, s } = logPlot(xs, ys, `room CPU per delivered frame vs viewers, ${rate} deltas/s, local workerd (direct)`);
  for (const v of [10, 20, 50, 100, 200, 500, 1000, 2000, 5000].filter((v) => v >= xs[0]! && v <= xs[1]!)) {
    s.push(`<line x1="${x(v)}" y1="${m.t}" x2="${x(v)}" y2="${H - m.b}" stroke="#eee"/>`);
    s.push(`<text x="${x(v)}" y="${H - m.b + 16}" text-anchor="middle">${v}</text>`);
  }
  for (const v of [5, 10, 20, 50, 100, 200, 500]) {
    s.push(`<line x1="${m.l}" y1="${y(v)}" x2="${W - m.r}" y2="${y(v)}" stroke="#eee"/>`);
    s.push(`<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${v} µs</text>`);
  }
  s.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 14}" text-anchor="middle">viewers (log)</text>`);
  s.push(`<text x="16" y="${(m.t + H - m.b) / 2}" transform="rotate(-90 16 ${(m.t + H - m.b) / 2})" text-anchor="middle">µs per delivered frame (log)</text>`);
  const lineOf = (system: SystemName, scale = 1) => {
    const byV = new Map<number, number[]>();
    for (const p of direct) if (p.system === system) byV.set(p.viewers, [...(byV.get(p.viewers) ?? []), p.cpuUsPerFrame * scale]);
    return [...byV].map(([v, c]) => ({ v, c: median(c) })).sort((a, b) => a.v - b.v);
  };
  const path = (ps: { v: number; c: number }[]) => ps.map((p, i) => `${i ? "L" : "M"}${x(p.v).toFixed(1)},${y(p.c).toFixed(1)}`).join(" ");
  let ly = m.t + 10;
  const legend = (stroke: string, width: number, dash: string, label: string) => {
    s.push(`<line x1="${W - m.r + 16}" y1="${ly}" x2="${W - m.r + 46}" y2="${ly}" stroke="${stroke}" stroke-width="${width}"${dash}/>`);
    s.push(`<text x="${W - m.r + 52}" y="${ly + 4}">${label}</text>`);
    ly += 20;
  };
  const band = lineOf("floor", 1.5);
  if (band.length) {
    s.push(`<path d="${path(band)}" fill="none" stroke="${COLORS.floor}" stroke-width="1.5" stroke-dasharray="4 4"/>`);
    legend(COLORS.floor, 1.5, ` stroke-dasharray="4 4"`, "1.5 × floor (target)");
  }
  for (const system of SYSTEMS) {
    const ps = lineOf(system);
    if (!ps.length) continue;
    const width = system === "floor" ? 4 : 2;
    s.push(`<path d="${path(ps)}" fill="none" stroke="${COLORS[system]}" stroke-width="${width}"/>`);
    for (const p of ps) s.push(`<circle cx="${x(p.v).toFixed(1)}" cy="${y(p.c).toFixed(1)}" r="3.5" fill="${COLORS[system]}"/>`);
    legend(COLORS[system], width, "", system === "floor" ? "floor (send only)" : system);
  }
  s.push(`</svg>`);
  return s.join("\n");
}
