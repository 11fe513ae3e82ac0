/**
 * Chat delivery latency between two browsers while the agent streams: Chromium (Debian's, through
 * playwright-core) against the real Worker on workerd. An agent feeder streams text deltas at
 * 100 per second into the room; browser A posts chat messages through its composer (Enter), and
 * browser B records when each appears in its chat panel (a MutationObserver). Latency is B's
 * render time minus A's keypress time, both on this machine's clock (`performance.timeOrigin +
 * performance.now()` in each page), so it covers A's client, the room's commit and flush window,
 * B's client and B's render.
 *
 * Messages are spaced 600 ms apart: the chat bucket (2 per second, burst 10) would otherwise
 * refuse some, which is the limit working, not latency.
 *
 *   node bench/chat-latency.ts [--quick]     (or `npm run bench -- --only chat`)
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadavg } from "node:os";
import type { Browser, Page } from "playwright-core";
import { startWorker, REPO_ROOT, type WorkerHandle } from "../test/harness/worker.ts";
import { RoomFeeder, chromiumAvailable, launchBrowser } from "../test/harness/browser.ts";
import type { EventBody } from "../shared/protocol.ts";
import { setTimeout as sleep } from "node:timers/promises";

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** Types `text` into the chat composer and presses Enter in one task; returns the press time. */
function sendFromPage(page: Page, text: string): Promise<number> {
  return page.evaluate((t) => {
    const el = document.querySelector<HTMLTextAreaElement>(".chat-input")!;
    el.value = t;
    el.dispatchEvent(new Event("input", { bubbles: true }));
    const at = performance.timeOrigin + performance.now();
    el.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
    return at;
  }, text);
}

/** One measurement: `messages` chat messages from A to B while the agent streams `rate` deltas/s (0: idle). */
async function measure(w: WorkerHandle, browser: Browser, rate: number, messages: number): Promise<Record<string, unknown> & { samplesMs: number[] }> {
  const s = await w.createSession({ title: "chat latency", name: "Ann" });
  const feeder = await RoomFeeder.connect(w.wsUrl, s.id, await w.agentToken());
  const messageID = "msg_stream";
  const partID = "prt_stream";
  const now = Date.now();
  await feeder.send([
    { type: "message.upsert", message: { id: messageID, role: "assistant", time: { created: now } } },
    { type: "part.upsert", part: { id: partID, messageID, type: "text", text: "" } },
    { type: "status", status: rate > 0 ? "busy" : "idle" },
  ] as EventBody[]);
  const driver = await w.mintToken({ sid: s.id, role: "driver", name: "Ben" });
  const pages: Page[] = [];
  for (const url of [`${w.url}${s.url}`, `${w.url}/s/${s.id}#token=${driver}`]) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForSelector("[data-chat-panel] .chat-input");
    pages.push(page);
  }
  const [a, b] = pages as [Page, Page];
  await b.evaluate(() => {
    const seen: Record<string, number> = {};
    (window as unknown as { __seen: Record<string, number> }).__seen = seen;
    new MutationObserver(() => {
      const at = performance.timeOrigin + performance.now();
      for (const el of document.querySelectorAll(".chat-list .chat-msg")) {
        const m = /lat-(\d+)/.exec(el.textContent ?? "");
        if (m && seen[m[1]!] === undefined) seen[m[1]!] = at;
      }
    }).observe(document.querySelector(".chat-list")!, { childList: true, subtree: true, characterData: true });
  });

  // The agent streams for the whole measurement.
  let streaming = rate > 0;
  let streamError: unknown;
  let sent = 0;
  const stream = (async () => {
    const t0 = performance.now();
    while (streaming) {
      try {
        // Paragraphs every 40 deltas, as real answers have: one endless paragraph would make
        // every page re-parse an ever longer last block (what bench/client-render.ts avoids too).
        const delta = `token ${sent} ` + (sent % 40 === 39 ? "\n\n" : "");
        feeder.sendNoWait([{ type: "part.delta", messageID, partID, field: "text", delta }]);
      } catch (e) {
        streamError = e;
        return;
      }
      sent++;
      const wait = t0 + (sent * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
    }
  })();
  await sleep(1_000); // streaming at its rate before the first message
  const pressed: number[] = [];
  const streamStart = performance.now();
  const loadBefore = loadavg()[0]!;
  for (let i = 0; i < messages && streamError === undefined; i++) {
    pressed.push(await sendFromPage(a, `lat-${i} is this the right branch?`));
    await sleep(600);
  }
  if (streamError !== undefined) throw streamError;
  await b.waitForFunction((n) => Object.keys((window as unknown as { __seen: Record<string, number> }).__seen).length >= n, messages, { timeout: 30_000 });
  streaming = false;
  await stream;
  if (streamError !== undefined) throw streamError;
  const streamSeconds = (performance.now() - streamStart) / 1000 + 1;
  const seen = await b.evaluate(() => (window as unknown as { __seen: Record<string, number> }).__seen);
  const lat = pressed.map((t, i) => seen[String(i)]! - t);
  feeder.close();
  for (const p of pages) await p.context().close();
  const result = {
    messages,
    agentDeltasPerSecond: rate,
    deltasSent: sent,
    achievedDeltasPerSecond: round(sent / streamSeconds),
    // The machine's 1-minute load average before and after: on 2 cores, other work inflates every figure.
    loadAverage: [round(loadBefore, 2), round(loadavg()[0]!, 2)],
    latencyMs: { median: round(quantile(lat, 0.5)), p90: round(quantile(lat, 0.9)), p99: round(quantile(lat, 0.99)), min: round(Math.min(...lat)), max: round(Math.max(...lat)) },
  };
  return { ...result, samplesMs: lat.map((x) => round(x)) };
}

export async function chatLatency(opts: { quick?: boolean } = {}): Promise<Record<string, unknown>> {
  if (!chromiumAvailable()) return { skipped: "Chromium not found at /usr/bin/chromium (apt-get install -y chromium)" };
  if (!existsSync(join(REPO_ROOT, "dist/client/assets"))) {
    execFileSync(process.execPath, [join(REPO_ROOT, "node_modules/vite/bin/vite.js"), "build", "--logLevel", "error"], { cwd: REPO_ROOT, stdio: "inherit" });
  }
  const messages = opts.quick ? 25 : 100;
  const w = await startWorker();
  const browser = await launchBrowser();
  try {
    // Side by side: the agent idle, then streaming 100 deltas/s (each on a fresh session).
    const idle = await measure(w, browser, 0, messages);
    const streaming = await measure(w, browser, 100, messages);
    const outDir = join(REPO_ROOT, "bench/out");
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, "chat-latency.json"), JSON.stringify({ chromium: browser.version(), idle, streaming }, null, 2));
    const brief = ({ samplesMs: _s, ...rest }: Record<string, unknown> & { samplesMs: number[] }) => rest;
    return { chromium: browser.version(), agentIdle: brief(idle), agentStreaming100PerSecond: brief(streaming) };
  } catch (e) {
    console.error("chat latency failed; wrangler's last output:\n" + w.logs().slice(-3000));
    throw e;
  } finally {
    await browser.close();
    await w.stop();
  }
}

if (import.meta.main || process.argv[1]?.endsWith("chat-latency.ts")) {
  const r = await chatLatency({ quick: process.argv.includes("--quick") });
  console.log(JSON.stringify(r, null, 2));
}
