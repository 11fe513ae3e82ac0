/**
 * Replay seek latency and memory in Chromium (Debian's, through playwright-core), against the real
 * Worker on workerd, for a session of 10,000 events filled through the ordinary agent protocol
 * (messages, text parts grown by deltas, tool calls):
 *
 *  - seek: from a random position to a random seq (uniform over the run), ms from the call until
 *    two animation frames later (the frame after the one that painted the new state), and the
 *    engine's part alone (one checkpoint clone plus at most K events folded, no drawing);
 *  - memory: the JS heap after a forced GC with the replay view open and loaded, against the live
 *    session view of the same session, and the time to read and fold the whole log.
 *
 *   node bench/replay-seek.ts [--events 10000] [--seeks 200]
 */
import { parseArgs } from "node:util";
import type { Browser, Page } from "playwright-core";
import { startWorker } from "../test/harness/worker.ts";
import { RoomFeeder, chromiumAvailable, launchBrowser } from "../test/harness/browser.ts";
import type { EventBody } from "../shared/protocol.ts";
import { CHECKPOINT_EVERY } from "../shared/replay.ts";

const { values } = parseArgs({ options: { events: { type: "string", default: "10000" }, seeks: { type: "string", default: "200" } } });
const EVENTS = Number(values.events);
const SEEKS = Number(values.seeks);

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

/** A run of exactly `n` events: turns of a user prompt, an answer streamed in deltas, a tool call. */
function run(n: number): EventBody[] {
  const out: EventBody[] = [];
  const now = Date.now();
  for (let i = 0; out.length < n; i++) {
    const u = `msg_u${i}`;
    const a = `msg_a${i}`;
    out.push({ type: "message.upsert", message: { id: u, role: "user", time: { created: now + i } } });
    out.push({ type: "part.upsert", part: { id: `prt_u${i}`, messageID: u, type: "text", text: `Step ${i}: look at src/file${i % 40}.ts` } });
    out.push({ type: "message.upsert", message: { id: a, role: "assistant", time: { created: now + i } } });
    out.push({ type: "part.upsert", part: { id: `prt_a${i}`, messageID: a, type: "text", text: "" } });
    for (let d = 0; d < 12; d++) out.push({ type: "part.delta", messageID: a, partID: `prt_a${i}`, field: "text", delta: `word${d} of answer ${i}, ` });
    out.push({
      type: "part.upsert",
      part: { id: `prt_t${i}`, messageID: a, type: "tool", callID: `c${i}`, tool: "bash", state: { status: "completed", input: { command: `grep -rn f${i} src` }, output: `src/a.ts:${i}: f${i}()\n`, title: "grep", metadata: {}, time: { start: now, end: now + 5 } } },
    } as EventBody);
  }
  return out.slice(0, n);
}

async function heap(page: Page): Promise<number> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("HeapProfiler.collectGarbage");
  const { usedSize } = (await cdp.send("Runtime.getHeapUsage")) as { usedSize: number };
  await cdp.detach();
  return usedSize;
}

async function main(): Promise<void> {
  if (!chromiumAvailable()) throw new Error("chromium not found (/usr/bin/chromium)");
  const worker = await startWorker();
  let browser: Browser | undefined;
  try {
    browser = await launchBrowser();
    const s = await worker.createSession({ title: `${EVENTS} events` });
    const feeder = await RoomFeeder.connect(worker.wsUrl, s.id, await worker.agentToken());
    const events = run(EVENTS - 1); // the runner's arrival is an event too
    for (let i = 0; i < events.length; i += 1_000) await feeder.send(events.slice(i, i + 1_000));

    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    await page.goto(`${worker.url}/s/${s.id}/replay#token=${s.ownerToken}`);
    await page.waitForFunction(() => performance.getEntriesByName("agentroom:replay-loaded").length > 0, null, { timeout: 120_000 });
    const loadedMs = await page.evaluate(() => performance.getEntriesByName("agentroom:replay-loaded")[0]!.startTime);
    const end = await page.evaluate(() => (window as unknown as { __agentroom: { replay: { end: number } } }).__agentroom.replay.end);
    const seqs = Array.from({ length: SEEKS }, () => Math.floor(Math.random() * (end + 1)));
    // Main-thread time Chrome spent (CDP TaskDuration, seconds): unlike wall time, it does not
    // count waiting for a CPU on a busy machine.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    const taskSeconds = async () => ((await cdp.send("Performance.getMetrics")) as { metrics: { name: string; value: number }[] }).metrics.find((m) => m.name === "TaskDuration")!.value;
    const busy0 = await taskSeconds();
    const timings = await page.evaluate(async (targets) => {
      type H = { __agentroom: { controls: { seekSeq(n: number): void }; engine(): { seek(n: number): unknown } } };
      const h = (window as unknown as H).__agentroom;
      const frames = () => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r())));
      const paint: number[] = [];
      const sync: number[] = [];
      const engine: number[] = [];
      for (const seq of targets) {
        const t0 = performance.now();
        h.controls.seekSeq(seq);
        sync.push(performance.now() - t0);
        await frames();
        paint.push(performance.now() - t0);
      }
      // The engine alone, from wherever the last seek left it.
      for (const seq of targets) {
        const t0 = performance.now();
        h.engine().seek(seq);
        engine.push(performance.now() - t0);
      }
      return { paint, sync, engine };
    }, seqs);
    const busyPerSeek = ((await taskSeconds()) - busy0) * 1000 / (2 * SEEKS);
    const replayHeap = await heap(page);
    await context.close();

    const live = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const livePage = await live.newPage();
    await livePage.goto(`${worker.url}${s.url}`);
    await livePage.waitForFunction(() => performance.getEntriesByName("agentroom:transcript-painted").length > 0, null, { timeout: 60_000 });
    const liveHeap = await heap(livePage);
    await live.close();
    feeder.close();

    const mb = (b: number) => r1(b / 1024 / 1024);
    console.log(`replay of a ${end}-event session (checkpoints every ${CHECKPOINT_EVERY} events), ${SEEKS} seeks to random seqs:`);
    console.log(`  seek to paint (two frames): median ${r1(pct(timings.paint, 50))} ms, p99 ${r1(pct(timings.paint, 99))} ms, max ${r1(Math.max(...timings.paint))} ms`);
    console.log(`  of which state and store (synchronous): median ${r1(pct(timings.sync, 50))} ms, p99 ${r1(pct(timings.sync, 99))} ms`);
    console.log(`  main-thread time per seek (CDP TaskDuration, both loops, mean): ${r1(busyPerSeek)} ms`);
    console.log(`  engine seek alone:          median ${r1(pct(timings.engine, 50))} ms, p99 ${r1(pct(timings.engine, 99))} ms`);
    console.log(`  log read and folded: ${r1(loadedMs)} ms from navigation start`);
    console.log(`  JS heap after GC: replay view ${mb(replayHeap)} MB, live view of the same session ${mb(liveHeap)} MB`);
  } finally {
    await browser?.close();
    await worker.stop();
  }
}

await main();
