/**
 * The chain a token travels: scripted model → OpenCode → runner → room → viewer. It checks that
 * every chunk the model sent reaches a viewer, in order, and records (not asserts) how long that
 * takes next to OpenCode's own SSE delivery measured in the same run; plus OpenCode's start-up time
 * as the runner saw it and the runner's memory with 1 and 10 active sessions. The figures go to
 * test-results/runner-chain.json and the log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createParser } from "eventsource-parser";
import { startStack, joinRoom, turnDone, type Stack, type RunnerReady } from "./harness/stack.ts";
import { nowMs, type ChunkRecord } from "../runner/scripted-model.ts";

let stack: Stack;
let ready: RunnerReady;

beforeAll(async () => {
  stack = await startStack();
  ready = await stack.runner.ready();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const round = (x: number): number => Math.round(x * 10) / 10;

/** Resident memory of a process, bytes (0 when it is gone). */
function rssOf(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
    return m?.[1] ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** OpenCode's own event stream, watched from the test: arrival time of each text length per part. */
function watchOpencode(url: string): { arrivals: Map<string, { t: number; len: number }[]>; stop: () => void } {
  const arrivals = new Map<string, { t: number; len: number }[]>();
  const lengths = new Map<string, number>();
  const abort = new AbortController();
  void (async () => {
    try {
      const res = await fetch(`${url}/global/event`, { signal: abort.signal });
      const parser = createParser({
        onEvent: (ev) => {
          const t = nowMs();
          const data = JSON.parse(ev.data) as { payload?: { type?: string; properties?: { partID?: string; delta?: string; field?: string } } };
          const p = data.payload;
          if (p?.type !== "message.part.delta" || p.properties?.field !== "text" || !p.properties.partID) return;
          const len = (lengths.get(p.properties.partID) ?? 0) + (p.properties.delta ?? "").length;
          lengths.set(p.properties.partID, len);
          const list = arrivals.get(p.properties.partID) ?? [];
          list.push({ t, len });
          arrivals.set(p.properties.partID, list);
        },
      });
      const dec = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(dec.decode(chunk, { stream: true }));
    } catch {
      /* aborted */
    }
  })();
  return { arrivals, stop: () => abort.abort() };
}

/** For each chunk, how long until `arrivals` first reached its end offset. */
function latencies(chunks: ChunkRecord[], arrivals: { t: number; len: number }[]): number[] {
  const out: number[] = [];
  let j = 0;
  for (const c of chunks) {
    while (j < arrivals.length && arrivals[j]!.len < c.endOffset) j++;
    if (j >= arrivals.length) break;
    out.push(arrivals[j]!.t - c.t);
  }
  return out;
}

describe("runner: chain latency, start-up, memory", () => {
  it("every chunk the model streams reaches a viewer in order; figures recorded", async () => {
    const s = await stack.worker.createSession({ title: "chain" });
    await stack.runner.waitHolding(s.id);
    const viewer = await joinRoom(stack, s.id, "viewer");
    const driver = await joinRoom(stack, s.id, "driver");
    const oc = watchOpencode(stack.runner.opencode()!.url);

    // The viewer's copy of the streamed text, timed on the same clock as the model's sends.
    const viewerArrivals = new Map<string, { t: number; len: number }[]>();
    viewer.onChange((changes, t) => {
      const now = nowMs();
      for (const [mid, parts] of changes.parts) {
        for (const pid of parts) {
          const part = t.part(mid, pid);
          if (part?.type !== "text" || t.message(mid)?.info.role !== "assistant") continue;
          const list = viewerArrivals.get(pid) ?? [];
          const len = String(part.text ?? "").length;
          if (!list.length || list[list.length - 1]!.len !== len) list.push({ t: now, len });
          viewerArrivals.set(pid, list);
        }
      }
    });

    const rssSamples: number[] = [];
    const ocRss: number[] = [];
    const sampler = setInterval(() => {
      rssSamples.push(stack.runner.rss());
      ocRss.push(rssOf(stack.runner.opencode()?.pid));
    }, 200);
    stack.model.reset();
    await driver.prompt("a long answer chunks=300 delay=20");
    await viewer.waitFor((x) => turnDone(x, 2), 120_000);
    clearInterval(sampler);
    oc.stop();

    const req = stack.model.requests().find((r) => r.kind === "script" && r.script === "long")!;
    const chunks = stack.model.chunks().filter((c) => c.requestId === req.id && c.kind === "text");
    const assistant = viewer.transcript.messages.at(-1)!;
    const textPart = assistant.parts.find((p) => p.type === "text")!;
    const fullText = chunks.map((c) => c.text).join("");
    expect(String(textPart.text)).toBe(fullText);

    const toViewer = latencies(chunks, viewerArrivals.get(textPart.id) ?? []);
    const toOpencodeSse = latencies(chunks, oc.arrivals.get(textPart.id) ?? []);
    // Every chunk reached the viewer (the last one at least by the final snapshot).
    expect(toViewer.length).toBe(chunks.length);
    expect(toOpencodeSse.length).toBeGreaterThan(chunks.length * 0.9);

    const figures = {
      chunks: chunks.length,
      chainToViewerMs: { median: round(percentile(toViewer, 50)), p99: round(percentile(toViewer, 99)), max: round(Math.max(...toViewer)) },
      opencodeSseMs: { median: round(percentile(toOpencodeSse, 50)), p99: round(percentile(toOpencodeSse, 99)), max: round(Math.max(...toOpencodeSse)) },
      opencodeStartupMs: ready.opencodeStartupMs,
      runnerRssMb1Session: round(Math.max(...rssSamples) / 1e6),
      opencodeRssMb1Session: round(Math.max(...ocRss) / 1e6),
    };
    console.log(`[runner-chain] ${JSON.stringify(figures)}`);
    mkdirSync("test-results", { recursive: true });
    writeFileSync("test-results/runner-chain.json", JSON.stringify(figures, null, 2));
    viewer.close();
    driver.close();
  }, 240_000);

  it("ten sessions streaming at once all finish; the runner's memory is recorded", async () => {
    const sessions = await Promise.all(Array.from({ length: 10 }, (_, i) => stack.worker.createSession({ title: `load ${i}` })));
    for (const s of sessions) await stack.runner.waitHolding(s.id, 120_000);
    const drivers = await Promise.all(sessions.map((s) => joinRoom(stack, s.id, "driver")));
    const rssSamples: number[] = [];
    const ocRss: number[] = [];
    const sampler = setInterval(() => {
      rssSamples.push(stack.runner.rss());
      ocRss.push(rssOf(stack.runner.opencode()?.pid));
    }, 200);
    await Promise.all(drivers.map((d) => d.prompt("a long answer chunks=100 delay=30")));
    await Promise.all(drivers.map((d) => d.waitFor((x) => turnDone(x, 2), 240_000)));
    clearInterval(sampler);
    for (const d of drivers) {
      const text = String(d.transcript.messages.at(-1)!.parts.find((p) => p.type === "text")?.text ?? "");
      expect(text.startsWith("Streaming a long answer")).toBe(true);
    }
    const figures = { runnerRssMb10Sessions: round(Math.max(...rssSamples) / 1e6), opencodeRssMb10Sessions: round(Math.max(...ocRss) / 1e6) };
    console.log(`[runner-chain] ${JSON.stringify(figures)}`);
    const prev = JSON.parse(readFileSync("test-results/runner-chain.json", "utf8")) as Record<string, unknown>;
    writeFileSync("test-results/runner-chain.json", JSON.stringify({ ...prev, ...figures }, null, 2));
    for (const d of drivers) d.close();
  }, 400_000);
});
