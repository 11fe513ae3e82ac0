/**
 * Client rendering in Chromium (Debian's, through playwright-core), against the real Worker on
 * workerd with rooms filled through the ordinary agent protocol:
 *
 *  - first paint of a session of N messages (1k, 5k): ms from navigation start to the frame in
 *    which the transcript was first on screen (the app's `agentroom:transcript-painted` mark, two
 *    animation frames after the first snapshot reached the store), and first-contentful-paint;
 *    with the median time of each step on the way (STEPS) and the initial scripts' sizes;
 *  - streaming: text deltas at 100 per second into the last message of a 5k-message session:
 *    the longest task (PerformanceObserver "longtask", ≥ 50 ms by definition, so "none" means all
 *    tasks were shorter), the longest frame (rAF interval), and script time per frame (Chrome's
 *    ScriptDuration from CDP Performance.getMetrics over the window, divided by frames drawn).
 *
 *   node bench/client-render.ts [--quick]     (or `npm run bench -- --only client`)
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { startWorker, REPO_ROOT, type WorkerHandle } from "../test/harness/worker.ts";
import { RoomFeeder, chromiumAvailable, launchBrowser, syntheticMessages } from "../test/harness/browser.ts";
import type { EventBody } from "../shared/protocol.ts";
import { setTimeout as sleep } from "node:timers/promises";

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function seededSession(w: WorkerHandle, messages: number): Promise<{ id: string; url: string; feeder: RoomFeeder }> {
  const s = await w.createSession({ title: `${messages} messages` });
  const feeder = await RoomFeeder.connect(w.wsUrl, s.id, await w.agentToken());
  const events = syntheticMessages(messages);
  for (let i = 0; i < events.length; i += 2_000) await feeder.send(events.slice(i, i + 2_000));
  return { id: s.id, url: `${w.url}${s.url}`, feeder };
}

/** The steps of a first paint, ms from navigation start (NaN: the step did not happen). */
const STEPS = {
  htmlLoaded: "the document's response complete",
  scriptsLoaded: "the app's script and stylesheet loaded (the later of the two)",
  socketOpened: "the room socket created (lib/early-socket.ts, before the app's modules run)",
  appStarted: "the app's modules evaluated, its first render begins (agentroom:app-start)",
  roomOpen: "the room client open on that socket (agentroom:socket-open)",
  firstFrame: "the room's first frame (welcome) handled by the room client (agentroom:room-first-frame); the snapshot is next",
  snapshotRendered: "the snapshot in the store and its rows built (agentroom:transcript-synced)",
  painted: "the frame after the transcript's first frame (agentroom:transcript-painted)",
} as const;
type Step = keyof typeof STEPS;

interface PaintRun {
  painted: number;
  fcp: number;
  steps: Record<Step, number>;
}

async function firstPaint(browser: Browser, url: string): Promise<PaintRun> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => performance.getEntriesByName("agentroom:transcript-painted").length > 0, null, { timeout: 60_000 });
  const r = await page.evaluate(() => {
    const mark = (n: string) => performance.getEntriesByName(n)[0]?.startTime ?? NaN;
    const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
    const initial = (performance.getEntriesByType("resource") as PerformanceResourceTiming[]).filter(
      (e) => /\/assets\/[^/]+\.(js|css)$/.test(e.name) && e.startTime < nav.domInteractive,
    );
    return {
      painted: mark("agentroom:transcript-painted"),
      fcp: mark("first-contentful-paint"),
      rows: document.querySelectorAll(".msg").length,
      steps: {
        htmlLoaded: nav.responseEnd,
        scriptsLoaded: initial.length ? Math.max(...initial.map((e) => e.responseEnd)) : NaN,
        socketOpened: mark("agentroom:early-socket"),
        appStarted: mark("agentroom:app-start"),
        roomOpen: mark("agentroom:socket-open"),
        firstFrame: mark("agentroom:room-first-frame"),
        snapshotRendered: mark("agentroom:transcript-synced"),
        painted: mark("agentroom:transcript-painted"),
      },
    };
  });
  if (r.rows === 0) throw new Error("transcript painted with no rows");
  await context.close();
  return { painted: r.painted, fcp: r.fcp, steps: r.steps };
}

/** The app's build is missing or older than its sources (a stale build would be measured silently). */
function distStale(): boolean {
  const built = join(REPO_ROOT, "dist/client/index.html");
  if (!existsSync(built)) return true;
  const at = statSync(built).mtimeMs;
  const newer = (path: string): boolean =>
    statSync(path).isDirectory() ? readdirSync(path).some((f) => newer(join(path, f))) : statSync(path).mtimeMs > at;
  return ["client", "shared", "vite.config.ts"].some((p) => newer(join(REPO_ROOT, p)));
}

/** The scripts and stylesheets the app's page loads before it runs (dist/client/index.html), bytes and gzip bytes. */
function initialAssets(): Record<string, { bytes: number; gzip: number }> {
  const dist = join(REPO_ROOT, "dist/client");
  const html = readFileSync(join(dist, "index.html"), "utf8");
  const out: Record<string, { bytes: number; gzip: number }> = {};
  for (const m of html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)) {
    const body = readFileSync(join(dist, m[1]!));
    out[m[1]!] = { bytes: body.length, gzip: gzipSync(body).length };
  }
  return out;
}

interface StreamRun {
  deltas: number;
  seconds: number;
  longTasks: number;
  longestTaskMs: number;
  longestFrameMs: number;
  frames: number;
  scriptMsPerFrame: number;
  taskMsPerFrame: number;
  domRows: number;
}

async function streaming(browser: Browser, w: WorkerHandle, seconds: number, rate: number): Promise<StreamRun> {
  const s = await seededSession(w, 5_000);
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  await page.goto(s.url);
  await page.waitForFunction(() => performance.getEntriesByName("agentroom:transcript-painted").length > 0, null, { timeout: 60_000 });

  const messageID = "msg_999999";
  const partID = "prt_999999_0";
  const now = Date.now();
  await s.feeder.send([
    { type: "message.upsert", message: { id: "msg_999998", role: "user", time: { created: now } } },
    { type: "part.upsert", part: { id: "prt_999998_0", messageID: "msg_999998", type: "text", text: "Stream a long answer, please." } },
    { type: "message.upsert", message: { id: messageID, role: "assistant", time: { created: now }, agent: "build", modelID: "bench" } },
    { type: "part.upsert", part: { id: partID, messageID, type: "text", text: "" } },
  ] as EventBody[]);
  await page.waitForSelector(`[data-message-id="${messageID}"]`);

  const cdp = await context.newCDPSession(page);
  await cdp.send("Performance.enable");
  await page.evaluate(() => {
    const w = window as unknown as { __bench: { long: number[]; frames: number; maxFrame: number; last: number; on: boolean } };
    w.__bench = { long: [], frames: 0, maxFrame: 0, last: performance.now(), on: true };
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__bench.long.push(e.duration);
    }).observe({ type: "longtask" });
    const tick = (t: number) => {
      const b = w.__bench;
      if (!b.on) return;
      b.frames++;
      b.maxFrame = Math.max(b.maxFrame, t - b.last);
      b.last = t;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const metric = async (name: string) => {
    const m = (await cdp.send("Performance.getMetrics")) as { metrics: { name: string; value: number }[] };
    return m.metrics.find((x) => x.name === name)?.value ?? 0;
  };
  const script0 = await metric("ScriptDuration");
  const task0 = await metric("TaskDuration");

  // One delta per 1000/rate ms, each its own batch (the room merges what arrives together).
  const total = Math.round(seconds * rate);
  const vocabulary = ["agentroom ", "streams ", "text ", "to ", "every ", "viewer ", "as ", "it ", "arrives, ", "token ", "by ", "token. "];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const delta = vocabulary[i % vocabulary.length]! + (i % 40 === 39 ? "\n\n" : "");
    s.feeder.sendNoWait([{ type: "part.delta", messageID, partID, field: "text", delta }]);
    const due = t0 + ((i + 1) * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const elapsed = (performance.now() - t0) / 1000;
  // Let the last deltas land (the DOM shows every word once the store has them all).
  const words = () =>
    page.evaluate(() => {
      type H = { __agentroom: { room: { messages: Record<string, { parts: { text?: string }[] }> } } };
      const store = (window as unknown as H).__agentroom.room.messages["msg_999999"]?.parts[0]?.text ?? "";
      const dom = document.querySelector('[data-message-id="msg_999999"] .part-text')?.textContent ?? "";
      const count = (t: string) => t.split(/\s+/).filter(Boolean).length;
      return { store: count(store), dom: count(dom) };
    });
  const landedBy = Date.now() + 30_000;
  let seen = await words();
  while ((seen.store < total || seen.dom < total) && Date.now() < landedBy) {
    await sleep(100);
    seen = await words();
  }
  if (seen.store < total || seen.dom < total) {
    throw new Error(`streaming: after 30 s the page holds ${seen.store} of ${total} deltas in its store and shows ${seen.dom}`);
  }
  const script1 = await metric("ScriptDuration");
  const task1 = await metric("TaskDuration");
  const b = await page.evaluate(() => {
    const w = window as unknown as { __bench: { long: number[]; frames: number; maxFrame: number; on: boolean } };
    w.__bench.on = false;
    return { ...w.__bench, rows: document.querySelectorAll(".msg").length };
  });
  await context.close();
  s.feeder.close();
  return {
    deltas: total,
    seconds: round(elapsed, 2),
    longTasks: b.long.length,
    longestTaskMs: round(Math.max(0, ...b.long)),
    longestFrameMs: round(b.maxFrame),
    frames: b.frames,
    scriptMsPerFrame: round(((script1 - script0) * 1000) / Math.max(1, b.frames), 2),
    taskMsPerFrame: round(((task1 - task0) * 1000) / Math.max(1, b.frames), 2),
    domRows: b.rows,
  };
}

export async function clientRender(opts: { quick?: boolean; streamOnly?: boolean } = {}): Promise<Record<string, unknown>> {
  if (!chromiumAvailable()) return { skipped: "Chromium not found at /usr/bin/chromium (apt-get install -y chromium)" };
  if (distStale()) {
    execFileSync(process.execPath, [join(REPO_ROOT, "node_modules/vite/bin/vite.js"), "build", "--logLevel", "error"], { cwd: REPO_ROOT, stdio: "inherit" });
  }
  const runs = opts.quick ? 3 : 7;
  const w = await startWorker();
  const browser = await launchBrowser();
  try {
    const paint: Record<string, unknown> = {};
    for (const n of opts.streamOnly ? [] : opts.quick ? [5_000] : [1_000, 5_000]) {
      const s = await seededSession(w, n);
      s.feeder.close();
      await firstPaint(browser, s.url); // warm-up (compile caches, workerd JIT)
      const xs: PaintRun[] = [];
      for (let i = 0; i < runs; i++) xs.push(await firstPaint(browser, s.url));
      const painted = xs.map((x) => x.painted);
      const steps = Object.fromEntries(
        (Object.keys(STEPS) as Step[]).map((k) => [k, round(median(xs.map((x) => x.steps[k]).filter(Number.isFinite)))]),
      );
      paint[`${n}`] = {
        runs,
        transcriptPaintedMs: { median: round(median(painted)), min: round(Math.min(...painted)), max: round(Math.max(...painted)) },
        firstContentfulPaintMs: { median: round(median(xs.map((x) => x.fcp))) },
        stepsMs: steps,
        loadAverage: loadavg().map((x) => round(x, 2)),
      };
      console.log(`first paint, ${n} messages:`, JSON.stringify(paint[`${n}`]));
    }
    const streams: StreamRun[] = [];
    for (let i = 0; i < (opts.quick ? 1 : 3); i++) {
      const r = await streaming(browser, w, opts.quick ? 5 : 10, 100);
      console.log("streaming 100 deltas/s:", JSON.stringify(r));
      streams.push(r);
    }
    const result = {
      chromium: browser.version(),
      initialAssets: initialAssets(),
      firstPaintSteps: STEPS,
      firstPaint: paint,
      streaming100PerSecond: {
        runs: streams.length,
        longestTaskMs: { median: median(streams.map((r) => r.longestTaskMs)), max: Math.max(...streams.map((r) => r.longestTaskMs)) },
        longTasks: streams.map((r) => r.longTasks),
        longestFrameMs: { median: median(streams.map((r) => r.longestFrameMs)), max: Math.max(...streams.map((r) => r.longestFrameMs)) },
        scriptMsPerFrame: { median: median(streams.map((r) => r.scriptMsPerFrame)) },
        taskMsPerFrame: { median: median(streams.map((r) => r.taskMsPerFrame)) },
        domRows: streams[0]?.domRows,
        detail: streams,
      },
    };
    const outDir = join(REPO_ROOT, "bench/out");
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, "client-render.json"), JSON.stringify(result, null, 2));
    return result;
  } finally {
    await browser.close();
    await w.stop();
  }
}

if (import.meta.main || process.argv[1]?.endsWith("client-render.ts")) {
  const r = await clientRender({ quick: process.argv.includes("--quick"), streamOnly: process.argv.includes("--stream-only") });
  console.log(JSON.stringify(r, null, 2));
}
