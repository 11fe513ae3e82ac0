/**
 * `npm run bench` — agentroom's benchmarks, side by side with two baselines, in one run on local
 * workerd. See bench/README.md for what each figure means and how to point it at a deployment.
 *
 *   npm run bench                       full run (~15–20 min on 2 cores)
 *   npm run bench -- --quick            a short run (~3 min)
 *   npm run bench -- --only fanout,catchup,storage,rejoin,revoke,tier,client,chain,chat,http
 *   npm run bench -- --write            also update bench/RESULTS.md, bench/p99-vs-viewers.svg and bench/cpu-per-frame.svg
 *   npm run bench -- --profile          also CPU-profile the room (V8 sampling) during key points
 *   npm run bench -- --deflate          fan-out viewers offer permessage-deflate, as browsers do
 *   npm run bench -- --viewers 10,100,500,1000   the fan-out series' audiences (also in --quick)
 *   npm run bench -- --tier-viewers 1000,5000    the relay tier's audiences (none: only its storm)
 *   npm run bench -- --quick --storm full        the full run's rejoin storm (500 rejoiners beside 100 live)
 *   npm run bench -- --paths direct     fan-out on the direct path only (default direct,proxy)
 *   npm run bench -- --grid 10,100:50,100 --seconds 3   capacity grid (viewers:rates) and stream length
 *   npm run bench -- --url https://agentroom.example.workers.dev --secret $TOKEN_SECRET
 *   npm run bench -- --url https://... --token <operator token> --agent-token <agent token>
 */
import { parseArgs } from "node:util";
import { cpus, loadavg, totalmem, tmpdir } from "node:os";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { startWrangler, type RunningWorker } from "./lib/workerd.ts";
import { capacity, measurePoint, series, warmup, SYSTEM_NAMES, type PathName, type Point, type SystemName, type Target } from "./scenarios/fanout.ts";
import { newViewer, reconnectCatchup } from "./scenarios/catchup.ts";
import { partGrowth, sessionGrowth } from "./scenarios/storage.ts";
import { rejoinStorm, type RejoinSchedule } from "./scenarios/rejoin.ts";
import { revokeLatency } from "./scenarios/revoke.ts";
import { cpuPlotSvg, markdown, plotSvg, type Capacity, type Results } from "./report.ts";
import { startProfile } from "./lib/profile.ts";
import { agentroomRoom, AGENTROOM_CONFIG, type Agentroom, type Credentials } from "./systems/agentroom.ts";
import { naiveRoom, NAIVE_CONFIG } from "./systems/naive.ts";
import { aiChatRoom, AI_CHAT_CONFIG } from "./systems/ai-chat.ts";
import { floorRoom, FLOOR_CONFIG } from "./systems/floor.ts";
import { startTier } from "./lib/tier.ts";
import type { FanoutRoom } from "./lib/fanout.ts";
import { tierPoint, tierRejoin } from "./scenarios/tier.ts";

const ROOT = resolve(import.meta.dirname, "..");
/** Jittered rejoin storms run one after another in one process (see the rejoin section). */
const JITTERED_STORMS = 4;
const SECTIONS = ["fanout", "catchup", "storage", "rejoin", "revoke", "tier", "client", "chain", "chat", "http"] as const;
/** The relay tier's thresholds in the bench: few viewers on the room, relays of 500. */
const TIER = { relayAfterViewers: 100, relayCapacity: 500 };

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    systems: { type: "string", default: "floor,agentroom,naive,ai-chat" },
    runs: { type: "string" },
    write: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    deflate: { type: "boolean", default: false },
    viewers: { type: "string" },
    "tier-viewers": { type: "string" },
    storm: { type: "string" },
    paths: { type: "string", default: "direct,proxy" },
    grid: { type: "string" },
    seconds: { type: "string" },
    url: { type: "string" },
    secret: { type: "string" },
    token: { type: "string" },
    "agent-token": { type: "string" },
    out: { type: "string", default: join(ROOT, "bench/out") },
  },
});

const quick = args.quick;
const only = new Set((args.only ?? SECTIONS.join(",")).split(","));
/** `LIMIT_*` variables in the bench's environment reach agentroom's Workers (docs/limits.md), and are recorded. */
const limitOverrides = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith("LIMIT_") && e[1] !== undefined));
const isSystem = (name: string): name is SystemName => (SYSTEM_NAMES as readonly string[]).includes(name);
const systems = args.systems!.split(",").map((name) => {
  // An unknown name used to fall through to a baseline and be measured under the wrong label.
  if (!isSystem(name)) throw new Error(`--systems: unknown system "${name}" (known: ${SYSTEM_NAMES.join(", ")})`);
  return name;
});
const remote = args.url?.replace(/\/$/, "");
const cfg = quick
  ? {
      seconds: 2,
      seriesViewers: [10, 100, 500],
      capacity: null as null | { viewers: number[]; rates: number[] },
      headlineRuns: Number(args.runs ?? 1),
      missed: [1_000, 10_000],
      sizes: [1_000],
      joinRuns: 3,
      growthDeltas: 10_000,
      growthBytes: 100_000,
      rejoin: { live: 50, rejoiners: 200, history: 100 },
      tierViewers: [200, 1000],
    }
  : {
      seconds: 5,
      seriesViewers: [10, 50, 100, 250, 500, 1000],
      capacity: { viewers: [10, 25, 50, 100, 250, 500, 1000], rates: [10, 25, 50, 100, 250, 500] },
      headlineRuns: Number(args.runs ?? 3),
      missed: [1_000, 10_000, 100_000],
      sizes: [1_000, 10_000],
      joinRuns: 5,
      growthDeltas: 100_000,
      growthBytes: 1_000_000,
      rejoin: { live: 100, rejoiners: 500, history: 200 },
      tierViewers: [200, 500, 1000, 2000, 5000],
    };
// --grid 10,100,1000:50,100,500 sets the capacity search's viewers and rates (also in --quick).
if (args.grid) {
  const [v, r] = args.grid.split(":").map((x) => x.split(",").map(Number));
  if (!v?.length || !r?.length || [...v, ...r].some((n) => !(n > 0))) throw new Error("--grid wants V,V,...:R,R,...");
  cfg.capacity = { viewers: v, rates: r };
}
if (args.seconds) cfg.seconds = Number(args.seconds);
if (args.viewers) {
  const v = args.viewers.split(",").map(Number);
  if (!v.length || v.some((n) => !(n > 0))) throw new Error("--viewers wants V,V,...");
  cfg.seriesViewers = v;
}
// --tier-viewers 1000,5000 sets the relay tier's audiences (none: only its storm).
if (args["tier-viewers"] !== undefined) {
  const v = args["tier-viewers"] === "none" ? [] : args["tier-viewers"].split(",").map(Number);
  if (v.some((n) => !(n > 0))) throw new Error("--tier-viewers wants V,V,... or none");
  cfg.tierViewers = v;
}
// --storm full: the full run's rejoin storm (100 live viewers, 500 rejoiners) in a quick run.
if (args.storm === "full") cfg.rejoin = { live: 100, rejoiners: 500, history: 200 };
else if (args.storm !== undefined) throw new Error("--storm wants full");
const RATE = 100;

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

function environment(): Record<string, string> {
  let commit = "?";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    // not a checkout
  }
  const c = cpus();
  return {
    date: new Date().toISOString(),
    machine: `${c.length} × ${c[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(0)} GB`,
    versions: `node ${process.version}, wrangler ${version("wrangler")}, workerd ${version("workerd")}, partyserver ${version("partyserver")}, agents ${version("agents")}, @cloudflare/ai-chat ${version("@cloudflare/ai-chat")}, ai ${version("ai")}, agentroom ${commit}`,
    loadStart: loadavg().map((l) => l.toFixed(2)).join(" "),
    loadEnd: "",
    ...(Object.keys(limitOverrides).length ? { limits: JSON.stringify(limitOverrides) } : {}),
  };
}

const results: Results = {
  env: environment(),
  mode: quick ? "quick" : "full",
  series: [],
  capacity: [],
  headline: [],
  reconnect: {},
  newViewer: {},
  growth: [],
  rejoin: {},
  profiles: {},
  notes: [],
};

const stamp = () => new Date().toISOString().slice(11, 19);

/** Starts a CPU profile of the room's isolate; the returned stop saves and summarizes it. */
async function startNamedProfile(w: RunningWorker, name: string): Promise<() => Promise<void>> {
  const prof = await startProfile(w.inspectorPort);
  return async () => {
    mkdirSync(args.out!, { recursive: true });
    const summary = await prof.stop(join(args.out!, `${name}.cpuprofile`));
    results.profiles[name] = { ...summary, top: summary.top.slice(0, 15) };
    console.log(`  profile ${name}: ${summary.sampledMs.toFixed(0)} ms sampled in ${summary.durationMs.toFixed(0)} ms; top self time:`);
    for (const e of summary.top.slice(0, 8)) console.log(`    ${e.selfMs.toFixed(1).padStart(8)} ms self ${e.totalMs.toFixed(1).padStart(8)} ms total  ${e.fn}`);
  };
}

/** Runs `fn` under a CPU profile of the room's isolate when --profile is on (local runs only). */
async function profiled<T>(w: RunningWorker | undefined, name: string, fn: () => Promise<T>): Promise<T> {
  if (!args.profile || !w) return fn();
  const stop = await startNamedProfile(w, name);
  const out = await fn();
  await stop();
  return out;
}

/** A fan-out point profiled over its stream only (the joins' upgrades and token checks left out). */
function profiledPoint(w: RunningWorker | undefined, t: Target, viewers: number, name: string): Promise<Point> | undefined {
  if (!args.profile || !w) return undefined;
  return measurePoint(t, viewers, RATE, cfg.seconds, () => startNamedProfile(w, name));
}
const section = (name: string) => console.log(`\n[${stamp()}] ── ${name}`);

async function withWorker<T>(config: string, vars: Record<string, string>, fn: (w: RunningWorker) => Promise<T>): Promise<T> {
  const persistDir = mkdtempSync(join(tmpdir(), "agentroom-bench-"));
  mkdirSync(args.out!, { recursive: true });
  const logFile = join(args.out!, `wrangler-${config.replace(/[^a-z0-9]+/gi, "_")}.log`);
  const w = await startWrangler({ config, persistDir, vars, logFile });
  try {
    return await fn(w);
  } finally {
    await w.stop();
    rmSync(persistDir, { recursive: true, force: true });
  }
}

/** The systems measured beside agentroom: a Worker config each and how to reach its room. */
const BASELINES: Record<Exclude<SystemName, "agentroom">, { config: string; room: (base: string) => FanoutRoom }> = {
  naive: { config: NAIVE_CONFIG, room: naiveRoom },
  "ai-chat": { config: AI_CHAT_CONFIG, room: aiChatRoom },
  floor: { config: FLOOR_CONFIG, room: floorRoom },
};

function targetsFor(system: SystemName, w: RunningWorker | undefined, ar?: (base: string) => Agentroom): Target[] {
  const wanted = new Set(args.paths!.split(","));
  const paths: Array<[PathName, string]> = w
    ? ([["direct", w.directUrl], ["proxy", w.proxyUrl]] as Array<[PathName, string]>).filter(([p]) => wanted.has(p))
    : [["remote" as PathName, remote!]];
  return paths.map(([path, base]) => ({
    system,
    path,
    pids: path === "direct" || path === "proxy" ? { inner: w?.innerPid, proxy: w?.proxyPid } : {},
    deflate: args.deflate,
    makeRoom: () => (system === "agentroom" ? agentroomRoom(ar!(base)) : Promise.resolve(BASELINES[system].room(base))),
  }));
}

async function fanout(targets: Target[], w?: RunningWorker): Promise<void> {
  for (const t of targets) {
    section(`fan-out: ${t.system} via ${t.path}`);
    await warmup(t);
    // Sizes asked for by name (--viewers) all run: the CPU ratios need every size, overloaded or not.
    const pts = await series(t, cfg.seriesViewers, RATE, cfg.seconds, args.viewers ? Number.POSITIVE_INFINITY : undefined);
    results.series.push(...pts);
    if (t.system === "agentroom") {
      // The target point, repeated: 1,000 viewers × 100 deltas/s.
      const prior = pts.find((p) => p.viewers === 1000 && p.rate === RATE);
      const runs: Point[] = prior ? [prior] : [];
      while (runs.length < cfg.headlineRuns) runs.push(await measurePoint(t, 1000, RATE, cfg.seconds));
      results.headline.push(...runs);
      // Profiled separately: the sampler itself costs the room time.
      if (t.path === "direct") {
        for (const v of [100, 1000]) await profiledPoint(w, t, v, `fan-out ${v} viewers x 100 deltas per s (stream only)`);
      }
    }
    if (cfg.capacity && t.path !== "proxy") {
      const c = await capacity(t, cfg.capacity.viewers, cfg.capacity.rates, cfg.seconds, results.series);
      results.series.push(...c.points);
      const cap: Capacity = { system: t.system, path: t.path, best: c.best };
      results.capacity.push(cap);
      console.log(`  capacity ${t.system}/${t.path}: ${c.best ? `${c.best.viewers} × ${c.best.rate} = ${c.best.product}` : "none passed"}`);
    }
  }
}

async function agentroomSections(ar: (base: string) => Agentroom, w: RunningWorker | undefined): Promise<void> {
  const paths: Array<[string, string]> = w ? [["direct", w.directUrl], ["proxy", w.proxyUrl]] : [["remote", remote!]];
  if (only.has("fanout")) await fanout(targetsFor("agentroom", w, ar), w);
  if (only.has("catchup")) {
    for (const [path, base] of paths) {
      section(`catch-up via ${path}`);
      results.reconnect[path] = await reconnectCatchup(ar(base), cfg.missed, cfg.joinRuns);
      if (path === "direct") await profiled(w, "reconnect after 10k deltas", () => reconnectCatchup(ar(base), [10_000], cfg.joinRuns));
      results.newViewer[path] = await newViewer(ar(base), cfg.sizes, cfg.joinRuns);
    }
  }
  if (only.has("storage")) {
    const [, base] = paths[0]!;
    section("storage growth");
    results.growth.push(await sessionGrowth(ar(base), w?.persistDir, w?.innerPid, cfg.growthDeltas));
    await profiled(w, "10k deltas in batches of 100", () => sessionGrowth(ar(base), undefined, undefined, 10_000));
    results.growth.push(await partGrowth(ar(base), w?.persistDir, w?.innerPid, cfg.growthBytes));
  }
  if (only.has("rejoin")) {
    for (const [path, base] of paths) {
      section(`rejoin storm via ${path}`);
      const list = (results.rejoin[path] = [] as Results["rejoin"][string]);
      const storm = (o: { withCursor: boolean; schedule?: RejoinSchedule }) =>
        rejoinStorm(ar(base), { ...cfg.rejoin, rate: RATE, seconds: quick ? 3 : 6, roomPid: w?.innerPid, ...o });
      for (const withCursor of [true, false]) {
        const run = () => storm({ withCursor });
        list.push(path === "direct" && withCursor ? await profiled(w, "rejoin storm", run) : await run());
      }
      // What a real deploy does: the room client spreads its first retry by full jitter. Repeated in
      // the same process: before live turns waited for their writes (TurnPacer, room/fanout.ts),
      // 10 of 16 such storms here stalled everyone 9–27 s, and one storm said nothing about that.
      for (let i = 0; i < (quick ? 1 : JITTERED_STORMS); i++) list.push(await storm({ withCursor: true, schedule: "client jitter" }));
    }
  }
  if (only.has("revoke")) {
    results.revoke = {};
    for (const [path, base] of paths) {
      section(`revoke a link held by 50 sockets via ${path}`);
      const r = await revokeLatency(ar(base), { sockets: 50, tries: quick ? 5 : 20 });
      results.revoke[path] = r;
      console.log(
        `  revoke → close frame (4411) on the last of ${r.sockets}: median ${r.medianMs.toFixed(1)} ms, max ${r.maxMs.toFixed(1)} ms; ` +
          `TCP gone: median ${r.tcpMedianMs.toFixed(0)} ms, max ${r.tcpMaxMs.toFixed(0)} ms (${r.tries} tries), wrong codes ${r.wrongCodes}`,
      );
    }
  }
}

/**
 * The relay tier: the room's Worker and the relays' Worker as two `wrangler dev` processes;
 * viewers connect straight to the relays' workerd, the agent to the room's (both direct paths).
 */
async function tierSection(): Promise<void> {
  const secret = randomBytes(24).toString("base64url");
  const persistDir = mkdtempSync(join(tmpdir(), "agentroom-bench-tier-"));
  mkdirSync(args.out!, { recursive: true });
  const vars = { TOKEN_SECRET: secret, LIMIT_RELAY_AFTER_VIEWERS: String(TIER.relayAfterViewers), LIMIT_RELAY_CAPACITY: String(TIER.relayCapacity), ...limitOverrides };
  const tier = await startTier({ persistDir, vars, logDir: args.out! });
  try {
    const ar = { base: tier.room.directUrl, viewerBase: tier.relays.directUrl, creds: { secret } };
    section("relay tier: fan-out through relays (room and relays in separate workerd processes)");
    const points = [];
    for (const v of cfg.tierViewers) {
      const p = await tierPoint(ar, tier, TIER, v, RATE, cfg.seconds);
      points.push(p);
      if (!p.drained && p.loadgenLagP99 > 1_000) break;
    }
    section("relay tier: rejoin storm through relays");
    const rejoin = await tierRejoin(ar, tier, { ...cfg.rejoin, rate: RATE, seconds: quick ? 3 : 6 });
    results.tier = { config: TIER, points, rejoin };
  } finally {
    await tier.stop();
    rmSync(persistDir, { recursive: true, force: true });
  }
}

/** Optional harnesses owned by others: run them when present. */
async function external(): Promise<void> {
  if (only.has("client")) {
    const file = join(ROOT, "bench/client-render.ts");
    if (existsSync(file)) {
      section("client rendering (bench/client-render.ts)");
      const mod = (await import(file)) as Record<string, unknown>;
      const fn = (mod.clientRender ?? mod.default ?? mod.run) as ((o: { quick: boolean }) => Promise<unknown>) | undefined;
      if (fn) results.client = await fn({ quick });
      else results.notes.push("bench/client-render.ts exports no clientRender/default/run function; client figures skipped.");
    } else {
      results.notes.push("Client rendering: bench/client-render.ts is not present in this checkout; skipped.");
    }
  }
  if (only.has("chat")) {
    section("chat delivery between two browsers while the agent streams 100 deltas/s (bench/chat-latency.ts)");
    const { chatLatency } = await import("./chat-latency.ts");
    results.chat = await chatLatency({ quick });
  }
  if (only.has("http")) {
    section("reading over HTTP: SSE and long-poll against WebSocket at 100 readers x 100 deltas/s, catch-up, edge cache (bench/stream-http.ts)");
    const { streamHttp } = await import("./stream-http.ts");
    results.http = await streamHttp({ quick });
  }
  if (only.has("chain")) {
    // The runner's chain measurement lives in its integration test (real OpenCode, scripted
    // model); run it and take the figures it records.
    const test = join(ROOT, "test/runner-chain.test.ts");
    const figures = join(ROOT, "test-results/runner-chain.json");
    if (existsSync(test)) {
      section("chain: scripted model → OpenCode → runner → room → viewer (test/runner-chain.test.ts)");
      rmSync(figures, { force: true });
      try {
        execFileSync(process.execPath, [join(ROOT, "node_modules/vitest/vitest.mjs"), "run", "--project", "integration", "test/runner-chain.test.ts"], {
          cwd: ROOT,
          stdio: "inherit",
          timeout: 600_000,
        });
      } catch (e) {
        results.notes.push(`Chain: test/runner-chain.test.ts failed (${String(e).slice(0, 200)}).`);
      }
      if (existsSync(figures)) results.chain = JSON.parse(readFileSync(figures, "utf8")) as unknown;
    } else {
      results.notes.push("Chain latency: test/runner-chain.test.ts is not in this checkout; skipped.");
    }
  }
}

async function main(): Promise<void> {
  console.log(`agentroom bench (${results.mode}) — ${results.env.machine}; load ${results.env.loadStart}${Object.keys(limitOverrides).length ? `; limits ${JSON.stringify(limitOverrides)}` : ""}`);
  if (remote) {
    const creds: Credentials | undefined = args.secret
      ? { secret: args.secret }
      : args.token && args["agent-token"]
        ? { operatorToken: args.token, agentToken: args["agent-token"] }
        : undefined;
    if (!creds) throw new Error("--url needs --secret, or --token and --agent-token");
    results.env.target = remote;
    await agentroomSections(() => ({ base: remote, creds }), undefined);
  } else {
    for (const system of systems) {
      if (system === "agentroom") {
        const secret = randomBytes(24).toString("base64url");
        await withWorker(AGENTROOM_CONFIG, { TOKEN_SECRET: secret, ...limitOverrides }, (w) => agentroomSections((base) => ({ base, creds: { secret } }), w));
      } else if (only.has("fanout")) {
        await withWorker(BASELINES[system].config, {}, (w) => fanout(targetsFor(system, w)));
      }
    }
  }
  if (!remote && only.has("tier")) await tierSection();
  await external();
  results.env.loadEnd = loadavg().map((l) => l.toFixed(2)).join(" ");

  mkdirSync(args.out!, { recursive: true });
  const name = `results-${results.env.date!.replace(/[:.]/g, "-")}`;
  writeFileSync(join(args.out!, `${name}.json`), JSON.stringify(results, null, 1));
  const md = markdown(results);
  writeFileSync(join(args.out!, `${name}.md`), md);
  const svg = plotSvg(results.series, RATE);
  writeFileSync(join(args.out!, `${name}.svg`), svg);
  const cpuSvg = cpuPlotSvg(results.series, RATE);
  writeFileSync(join(args.out!, `${name}-cpu.svg`), cpuSvg);
  console.log(`\nwrote ${join(args.out!, name)}.{json,md,svg}`);
  if (args.write) {
    const file = join(ROOT, "bench/RESULTS.md");
    const begin = "<!-- bench:generated:begin -->";
    const end = "<!-- bench:generated:end -->";
    const doc = existsSync(file) ? readFileSync(file, "utf8") : `# Benchmark results\n\n${begin}\n${end}\n`;
    const a = doc.indexOf(begin);
    const b = doc.indexOf(end);
    const next = a >= 0 && b > a ? doc.slice(0, a + begin.length) + "\n" + md + "\n" + doc.slice(b) : doc + `\n${begin}\n${md}\n${end}\n`;
    writeFileSync(file, next);
    if (results.series.length) {
      writeFileSync(join(ROOT, "bench/p99-vs-viewers.svg"), svg);
      writeFileSync(join(ROOT, "bench/cpu-per-frame.svg"), cpuSvg);
    }
    console.log("updated bench/RESULTS.md, bench/p99-vs-viewers.svg and bench/cpu-per-frame.svg");
  }
}

// Ctrl-C or a kill: exit through process.exit so lib/workerd.ts stops every wrangler it started.
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

await main();
