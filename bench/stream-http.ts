/**
 * Reading a session over plain HTTP (`GET /api/sessions/:id/stream`, Durable Streams read side)
 * against the WebSocket path, on one `wrangler dev` in one run:
 *
 *  1. latency, delta sent by the agent → received by a reader, at 100 readers × 100 deltas/s, for
 *     WebSocket viewers, SSE readers and long-poll readers (one after another, each on a fresh
 *     session, the same feeder). Each delta's text carries its send time (this process's clock),
 *     so merged deltas still give one sample per send;
 *  2. catch-up of 10,000 events over HTTP from offset 0: requests, items, bytes, ms;
 *  3. the edge cache: 100 readers of one range below the head, at once, with the cache (a plain
 *     read from an explicit offset) and without (the same range asked with `live=long-poll`, which
 *     the Worker never caches, so every read reaches the room): how many reached the room.
 *
 *   node bench/stream-http.ts [--quick] [--readers 100] [--paths websocket,sse,long-poll] [--latency-only]
 *   (or `npm run bench -- --only http`)
 */
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { createParser } from "eventsource-parser";
import { startWorker, type WorkerHandle } from "../test/harness/worker.ts";
import { RoomFeeder } from "../test/harness/browser.ts";
import { offsetOf } from "../shared/http-stream.ts";
import type { EventBody } from "../shared/protocol.ts";

const now = (): number => performance.timeOrigin + performance.now();
const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const STAMP = /\|(\d+\.\d+)\|/g;
const MESSAGE = "msg_stream";
const PART = "prt_stream";

type Path = "websocket" | "sse" | "long-poll";

/** Latencies of every stamp in a chunk of received text (the stamps of deltas merged into it). */
function record(into: number[], text: string): void {
  const at = now();
  for (const m of text.matchAll(STAMP)) into.push(at - Number(m[1]));
}

/** The delta texts of a JSON array of stream items, or of a WebSocket frame's events. */
function deltaText(events: unknown): string {
  if (!Array.isArray(events)) return "";
  let s = "";
  for (const e of events as { type?: string; delta?: string }[]) if (e?.type === "part.delta" && typeof e.delta === "string") s += e.delta;
  return s;
}

async function feederFor(w: WorkerHandle, title: string): Promise<{ id: string; feeder: RoomFeeder; viewer: string }> {
  const s = await w.createSession({ title });
  const feeder = await RoomFeeder.connect(w.wsUrl, s.id, await w.agentToken());
  await feeder.send([
    { type: "message.upsert", message: { id: MESSAGE, role: "assistant", time: { created: Date.now() } } },
    { type: "part.upsert", part: { id: PART, messageID: MESSAGE, type: "text", text: "" } },
    { type: "status", status: "busy" },
  ] as EventBody[]);
  return { id: s.id, feeder, viewer: await w.mintToken({ sid: s.id, role: "viewer", name: "reader" }) };
}

/** `readers` readers of one path; resolves once each is connected and following the head. */
async function openReaders(w: WorkerHandle, path: Path, id: string, token: string, readers: number, samples: number[], stop: AbortSignal): Promise<void> {
  const url = `${w.url}/api/sessions/${id}/stream`;
  const auth = { authorization: `Bearer ${token}` };
  const ready: Promise<void>[] = [];
  for (let i = 0; i < readers; i++) {
    if (path === "websocket") {
      ready.push(
        new Promise((resolve, reject) => {
          const ws = new WebSocket(`${w.wsUrl}/parties/session-room/${id}`, ["agentroom", `t.${token}`]);
          ws.on("message", (d) => {
            const f = JSON.parse(d.toString()) as { type: string; events?: unknown };
            if (f.type === "snapshot") resolve();
            else if (f.type === "events") record(samples, deltaText(f.events));
          });
          ws.once("error", reject);
          stop.addEventListener("abort", () => ws.close());
        }),
      );
    } else if (path === "sse") {
      ready.push(
        (async () => {
          const res = await fetch(`${url}?offset=now&live=sse`, { headers: auth, signal: stop });
          if (!res.ok || !res.body) throw new Error(`SSE: ${res.status}`);
          const parser = createParser({ onEvent: (e) => e.event === "data" && record(samples, deltaText(JSON.parse(e.data))) });
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          void (async () => {
            try {
              for (;;) {
                const { value, done } = await reader.read();
                if (done) break;
                parser.feed(value);
              }
            } catch {
              // aborted at the end
            }
          })();
        })(),
      );
    } else {
      ready.push(
        (async () => {
          const head = await fetch(`${url}?offset=now`, { headers: auth });
          await head.arrayBuffer();
          let offset = head.headers.get("stream-next-offset")!;
          let cursor: string | null = null;
          void (async () => {
            while (!stop.aborted) {
              try {
                const res: Response = await fetch(`${url}?offset=${offset}&live=long-poll${cursor ? `&cursor=${cursor}` : ""}`, { headers: auth, signal: stop });
                if (res.status === 200) record(samples, deltaText(await res.json()));
                else await res.arrayBuffer();
                offset = res.headers.get("stream-next-offset") ?? offset;
                cursor = res.headers.get("stream-cursor");
              } catch {
                if (!stop.aborted) await sleep(50);
              }
            }
          })();
        })(),
      );
    }
  }
  await Promise.all(ready);
}

/** One path: readers follow a 100 deltas/s stream for `seconds`; latency of every stamp each reader got. */
async function latency(w: WorkerHandle, path: Path, readers: number, rate: number, seconds: number): Promise<Record<string, number | string>> {
  const { id, feeder, viewer } = await feederFor(w, `http latency ${path}`);
  const samples: number[] = [];
  const stop = new AbortController();
  await openReaders(w, path, id, viewer, readers, samples, stop.signal);
  await sleep(500);
  const sent = rate * seconds;
  const t0 = now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < sent; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    feeder.sendNoWait([{ type: "part.delta", messageID: MESSAGE, partID: PART, field: "text", delta: `|${now().toFixed(1)}| ` }] as EventBody[]);
  }
  // Stragglers: up to 5 s for the last deltas to arrive.
  const want = sent * readers;
  for (let t = 0; t < 50 && samples.length < want; t++) await sleep(100);
  const cpu = process.cpuUsage(cpu0);
  const wall = now() - t0;
  stop.abort();
  feeder.close();
  return {
    path,
    readers,
    rate,
    seconds,
    received: `${samples.length} / ${want}`,
    p50Ms: round(quantile(samples, 0.5)),
    p99Ms: round(quantile(samples, 0.99)),
    maxMs: round(quantile(samples, 1)),
    /** Cores this process (the feeder and every reader) used meanwhile: near 1, the readers' side limits the figure. */
    loadgenCores: round((cpu.user + cpu.system) / 1000 / wall, 2),
  };
}

/** A session of `events` events (deltas to a few parts, so the log merges some, as a real turn's does). */
async function longSession(w: WorkerHandle, events: number): Promise<{ id: string; viewer: string; head: number }> {
  const { id, feeder, viewer } = await feederFor(w, "http catch-up");
  const batch = 200;
  for (let i = 0; i < events; i += batch) {
    const body: EventBody[] = [];
    for (let j = i; j < Math.min(events, i + batch); j++) {
      // Every 50th event a new part, so the log is not one long merge.
      if (j % 50 === 0) body.push({ type: "part.upsert", part: { id: `prt_${j}`, messageID: MESSAGE, type: "text", text: "" } } as EventBody);
      else body.push({ type: "part.delta", messageID: MESSAGE, partID: `prt_${j - (j % 50)}`, field: "text", delta: `word ${j} of the long answer; ` } as EventBody);
    }
    await feeder.send(body);
  }
  feeder.close();
  const res = await fetch(`${w.url}/api/sessions/${id}/stream?offset=now`, { headers: { authorization: `Bearer ${viewer}` } });
  await res.arrayBuffer();
  return { id, viewer, head: Number(res.headers.get("stream-next-offset")) };
}

/** Reads from offset 0 to the head, page after page. */
async function catchUp(w: WorkerHandle, id: string, token: string): Promise<{ requests: number; items: number; bytes: number; ms: number }> {
  let offset = offsetOf(0);
  let requests = 0;
  let items = 0;
  let bytes = 0;
  const t0 = now();
  for (;;) {
    const res = await fetch(`${w.url}/api/sessions/${id}/stream?offset=${offset}`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`catch-up: ${res.status} ${body}`);
    requests++;
    bytes += body.length;
    items += (JSON.parse(body) as unknown[]).length;
    offset = res.headers.get("stream-next-offset")!;
    if (res.headers.get("stream-up-to-date") === "true") break;
  }
  return { requests, items, bytes, ms: round(now() - t0) };
}

/** `readers` readers of one range at once: how many reached the room, and how long they took. */
async function sameRange(w: WorkerHandle, id: string, token: string, offset: string, readers: number, cached: boolean): Promise<Record<string, number | string>> {
  const q = cached ? `offset=${offset}` : `offset=${offset}&live=long-poll`;
  const t0 = now();
  const times: number[] = [];
  const sources = await Promise.all(
    Array.from({ length: readers }, async () => {
      const res = await fetch(`${w.url}/api/sessions/${id}/stream?${q}`, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      times.push(now() - t0);
      if (res.status !== 200) throw new Error(`same range: ${res.status}`);
      return res.headers.get("x-agentroom-cache") ?? "room";
    }),
  );
  const count = (s: string) => sources.filter((x) => x === s).length;
  const roomReads = cached ? count("miss") : readers;
  return { mode: cached ? "edge cache" : "no cache (live=long-poll)", readers, roomReads, hits: count("hit"), joined: count("joined"), p50Ms: round(quantile(times, 0.5)), allMs: round(quantile(times, 1)) };
}

export async function streamHttp(opts: { quick?: boolean; readers?: number; paths?: Path[]; latencyOnly?: boolean } = {}): Promise<Record<string, unknown>> {
  const quick = opts.quick ?? false;
  const seconds = quick ? 3 : 8;
  const readers = opts.readers ?? 100;
  const w = await startWorker();
  try {
    const load = loadavg()[0]!.toFixed(1);
    const latencies: Record<string, number | string>[] = [];
    for (const path of opts.paths ?? (["websocket", "sse", "long-poll"] as Path[])) {
      const r = await latency(w, path, readers, 100, seconds);
      console.log(`  ${path}: ${JSON.stringify(r)}`);
      latencies.push(r);
    }
    if (opts.latencyOnly) return { loadAtStart: load, latencies };
    const events = 10_000;
    const long = await longSession(w, events);
    const catchup = { events, head: long.head, ...(await catchUp(w, long.id, long.viewer)) };
    console.log(`  catch-up: ${JSON.stringify(catchup)}`);
    // A range well below the head: from the middle of the log.
    const mid = offsetOf(Math.floor(long.head / 2));
    const edge = [await sameRange(w, long.id, long.viewer, mid, 100, false), await sameRange(w, long.id, long.viewer, offsetOf(Math.floor(long.head / 3)), 100, true)];
    for (const e of edge) console.log(`  same range: ${JSON.stringify(e)}`);
    return { loadAtStart: load, latencies, catchup, edge };
  } finally {
    await w.stop();
  }
}

if (import.meta.main || process.argv[1]?.endsWith("stream-http.ts")) {
  const { values } = parseArgs({
    options: { quick: { type: "boolean", default: false }, readers: { type: "string" }, paths: { type: "string" }, "latency-only": { type: "boolean", default: false } },
  });
  const paths = values.paths?.split(",") as Path[] | undefined;
  console.log(JSON.stringify(await streamHttp({ quick: values.quick, readers: values.readers ? Number(values.readers) : undefined, paths, latencyOnly: values["latency-only"] }), null, 2));
}
