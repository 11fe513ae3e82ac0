/**
 * The fan-out load generator: V raw WebSocket viewers and one agent streaming R deltas per second,
 * all in this one Node process (the machine has two cores; the room needs one of them).
 *
 * Every delta carries a marker `~<index>@<send time, epoch ms>~`. A viewer scans each frame it
 * receives for markers, so latency and loss are measured the same way whatever the system's
 * framing (agentroom merges deltas into one event; the baselines send one frame each). All viewers
 * of a room receive byte-identical frames, so the scan result is cached per frame text.
 */
import WebSocket from "ws";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { LatencyHistogram, nowMs } from "./stats.ts";
import { cpuSeconds } from "./workerd.ts";

export type Endpoint = { url: string; protocols?: string[] };

export interface FanoutAgent {
  /** Node-paced systems: send delta number `index` now, with this text. */
  send?(index: number, text: string): void;
  /** Model-paced systems: the model itself streams `count` deltas at `rate`/s, each marker + pad. */
  stream?(count: number, rate: number, pad: string): Promise<void>;
  /** Agent frames sent but not yet acknowledged (Node-paced systems that acknowledge). */
  unacked?(): number;
  /** The last seq the room acknowledged (agentroom), for clients that rejoin with a cursor. */
  seq?(): number;
  close(): Promise<void>;
}

export interface FanoutRoom {
  viewer(i: number): Endpoint;
  /** True when this frame shows the viewer is live (caught up); earlier frames are not counted. */
  isReady(text: string): boolean;
  startAgent(): Promise<FanoutAgent>;
}

export type FanoutOptions = {
  viewers: number;
  rate: number;
  seconds: number;
  /** Extra text after each marker (a realistic token is a few characters; the marker is ~24). */
  pad?: string;
  /** How long to wait after the last send for every viewer to have every delta. */
  drainMs?: number;
  connectConcurrency?: number;
  /** workerd pids to charge CPU time to (inner room process, proxy). */
  pids?: { inner?: number; proxy?: number };
  /**
   * Something to do while the stream runs (e.g. 500 viewers rejoining), started when this
   * fraction of the deltas has been sent. The result reports live latency inside its window.
   */
  midStream?: { atFraction: number; run: () => Promise<void> };
  /**
   * Runs around the stream only (after every viewer is caught up, until the drain ends): a CPU
   * profile of the room then shows the fan-out, not the joins' token checks and upgrades.
   */
  aroundStream?: () => Promise<() => Promise<void>>;
  /** Viewers offer permessage-deflate, as browsers do (workerd accepts it). */
  deflate?: boolean;
};

/** Live latency of deltas sent while `midStream` ran, against deltas sent outside it. */
export type WindowStats = {
  windowMs: number;
  deltasInWindow: number;
  /** Worst latency any viewer saw for a delta sent in the window. */
  maxInWindow: number;
  p99InWindow: number;
  p50Outside: number;
  /** maxInWindow − p50Outside: how long live viewers were held up. */
  stallMs: number;
};

export type FanoutResult = {
  viewers: number;
  rate: number;
  seconds: number;
  deltas: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** Deltas never seen by a viewer by the end of the drain (sum over viewers). */
  missing: number;
  duplicates: number;
  drained: boolean;
  framesPerViewer: number;
  bytesPerViewer: number;
  /** Bytes a viewer's TCP socket read during the stream: frames as sent, headers and compression included. */
  wireBytesPerViewer: number;
  /** Whether the viewers negotiated permessage-deflate. */
  deflate: boolean;
  /** Time to open and catch up all viewers before the stream. */
  joinMs: number;
  /** Viewer upgrades that failed and were retried during the join. */
  connectRetries: number;
  /** CPU seconds used during the stream: the room's workerd, wrangler's proxy, this process. */
  cpu: { inner: number; proxy: number; loadgen: number };
  /** Event-loop delay of the load generator itself (p99, ms): high values mean it, not the room, lagged. */
  loadgenLagP99: number;
  /** How late the agent's sends were against schedule (p99, ms). */
  sendLagP99: number;
  window?: WindowStats;
};

const MARKER = /~(\d+)@(\d+(?:\.\d+)?)~/g;

function scanMarkers(text: string): number[] {
  const out: number[] = [];
  MARKER.lastIndex = 0;
  for (let m = MARKER.exec(text); m; m = MARKER.exec(text)) out.push(Number(m[1]), Number(m[2]));
  return out;
}

export const marker = (index: number, sentAt: number): string => `~${index}@${sentAt.toFixed(2)}~`;

type Viewer = {
  ws: WebSocket;
  ready: boolean;
  seen: number;
  frames: number;
  bytes: number;
  /** Offset of this viewer's row in the shared seen-bitmap. */
  row: number;
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Opens a raw WebSocket, by default without compression. Browsers offer permessage-deflate and
 * workerd accepts it; `deflate` offers it too (see `FanoutOptions.deflate`).
 */
export function openSocket(ep: Endpoint, deflate = false): WebSocket {
  return new WebSocket(ep.url, ep.protocols ?? [], { perMessageDeflate: deflate, skipUTF8Validation: true });
}

/** Bytes read so far by a socket's TCP connection (0 once it is gone). */
const wireBytes = (ws: WebSocket): number => (ws as unknown as { _socket?: { bytesRead: number } })._socket?.bytesRead ?? 0;

export async function runFanout(room: FanoutRoom, opts: FanoutOptions): Promise<FanoutResult> {
  const V = opts.viewers;
  const count = Math.max(1, Math.round(opts.rate * opts.seconds));
  const pad = opts.pad ?? "";
  const seen = new Uint8Array(V * count);
  const hist = new LatencyHistogram();
  const cache = new Map<string, number[]>();
  let duplicates = 0;
  let complete = 0;
  let onComplete: (() => void) | null = null;
  const viewers: Viewer[] = [];
  // Per delta: when it was sent and the worst latency any viewer saw (for midStream windows).
  const sentAt = new Float64Array(count);
  const worst = new Float32Array(count);

  const handle = (v: Viewer, data: Buffer) => {
    const t = nowMs();
    if (!v.ready) {
      if (room.isReady(data.toString())) v.ready = true;
      return;
    }
    v.frames++;
    v.bytes += data.length;
    if (v.seen === count) return; // trailing frames (e.g. a final whole-message broadcast)
    const text = data.toString();
    let marks = cache.get(text);
    if (!marks) {
      if (cache.size > 2_000) cache.clear();
      marks = scanMarkers(text);
      cache.set(text, marks);
    }
    for (let k = 0; k < marks.length; k += 2) {
      const idx = marks[k]!;
      if (idx >= count) continue;
      const bit = v.row + idx;
      if (seen[bit]) {
        duplicates++;
        continue;
      }
      seen[bit] = 1;
      v.seen++;
      const lat = t - marks[k + 1]!;
      hist.add(lat);
      sentAt[idx] = marks[k + 1]!;
      if (lat > worst[idx]!) worst[idx] = lat;
    }
    if (v.seen === count && ++complete === V) onComplete?.();
  };

  // ── join: open every viewer and wait until each is caught up ──
  const joinStart = nowMs();
  const concurrency = opts.connectConcurrency ?? 50;
  let next = 0;
  let connectRetries = 0;
  /** One viewer; a failed upgrade is retried (as a real client would) up to 3 times. */
  const openOne = (i: number, attempt = 1): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const ws = openSocket(room.viewer(i), opts.deflate);
      const v: Viewer = { ws, ready: false, seen: 0, frames: 0, bytes: 0, row: i * count };
      viewers[i] = v;
      let settled = false;
      const fail = (why: string) => {
        if (settled || v.ready) return;
        settled = true;
        clearTimeout(timer);
        ws.terminate();
        if (attempt >= 3) return reject(new Error(`viewer ${i}: ${why}`));
        connectRetries++;
        setTimeout(() => openOne(i, attempt + 1).then(resolve, reject), 200 * attempt);
      };
      const timer = setTimeout(() => fail("not ready after 60 s"), 60_000);
      ws.on("message", (data: Buffer) => {
        const wasReady = v.ready;
        handle(v, data);
        if (!wasReady && v.ready && !settled) {
          settled = true;
          clearTimeout(timer);
          resolve();
        }
      });
      ws.on("error", (e) => fail(String(e)));
      ws.on("close", (code) => fail(`closed before ready (${code})`));
    });
  await Promise.all(
    Array.from({ length: Math.min(concurrency, V) }, async () => {
      while (next < V) await openOne(next++);
    }),
  );
  const joinMs = nowMs() - joinStart;

  const agent = await room.startAgent();
  await sleep(200); // let the join traffic settle
  const endAround = await opts.aroundStream?.();

  const cpu0 = { inner: cpuSeconds(opts.pids?.inner ?? 0), proxy: cpuSeconds(opts.pids?.proxy ?? 0), self: process.cpuUsage() };
  let wire0 = 0;
  for (const v of viewers) wire0 += wireBytes(v.ws);
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  const sendLag = new LatencyHistogram();
  const allDone = new Promise<void>((r) => (onComplete = r));

  // ── stream ──
  let mid: Promise<void> | undefined;
  let midStart = 0;
  let midEnd = 0;
  const midAt = opts.midStream ? Math.floor(count * opts.midStream.atFraction) : -1;
  const startMid = () => {
    midStart = nowMs();
    mid = opts.midStream!.run().then(() => void (midEnd = nowMs()));
  };
  if (agent.send) {
    const start = nowMs();
    const interval = 1000 / opts.rate;
    let i = 0;
    while (i < count) {
      const now = nowMs();
      const due = start + i * interval;
      if (now >= due) {
        if (i === midAt) startMid();
        sendLag.add(now - due);
        agent.send(i, marker(i, now) + pad);
        i++;
        continue;
      }
      await sleep(Math.max(0, Math.floor(due - now)));
    }
  } else if (agent.stream) {
    if (opts.midStream) setTimeout(startMid, (midAt / opts.rate) * 1000);
    await agent.stream(count, opts.rate, pad);
  } else {
    throw new Error("agent can neither send nor stream");
  }

  if (opts.midStream) {
    while (!mid) await sleep(10);
    await mid;
  }

  // ── drain ──
  const drainMs = opts.drainMs ?? Math.max(5_000, opts.seconds * 1000);
  const drained = await Promise.race([allDone.then(() => true), sleep(drainMs).then(() => false)]);
  eld.disable();
  let wire = -wire0;
  for (const v of viewers) wire += wireBytes(v.ws);
  await endAround?.();
  const self = process.cpuUsage(cpu0.self);
  const cpu = {
    inner: cpuSeconds(opts.pids?.inner ?? 0) - cpu0.inner,
    proxy: cpuSeconds(opts.pids?.proxy ?? 0) - cpu0.proxy,
    loadgen: (self.user + self.system) / 1e6,
  };

  let missing = 0;
  let frames = 0;
  let bytes = 0;
  for (const v of viewers) {
    missing += count - v.seen;
    frames += v.frames;
    bytes += v.bytes;
  }
  if (process.env.FANOUT_DUMP) {
    const rows: string[] = [];
    for (let i = 0; i < count; i += Math.max(1, Math.floor(count / 40))) rows.push(`${i}:${worst[i]!.toFixed(0)}`);
    console.log("worst by delta:", rows.join(" "), "lag p99", (eld.percentile(99) / 1e6).toFixed(1), "lag max", (eld.max / 1e6).toFixed(1), "sendLag p99", sendLag.quantile(0.99).toFixed(1));
  }
  await agent.close();
  await closeAll(viewers.map((v) => v.ws));
  return {
    viewers: V,
    rate: opts.rate,
    seconds: opts.seconds,
    deltas: count,
    p50: hist.quantile(0.5),
    p90: hist.quantile(0.9),
    p99: hist.quantile(0.99),
    max: hist.max,
    mean: hist.mean(),
    missing,
    duplicates,
    drained,
    framesPerViewer: frames / V,
    bytesPerViewer: bytes / V,
    wireBytesPerViewer: wire / V,
    deflate: viewers.some((v) => v.ws.extensions.includes("permessage-deflate")),
    joinMs,
    connectRetries,
    cpu,
    loadgenLagP99: eld.percentile(99) / 1e6,
    sendLagP99: sendLag.quantile(0.99),
    window: opts.midStream ? windowStats(sentAt, worst, midStart, midEnd) : undefined,
  };
}

function windowStats(sentAt: Float64Array, worst: Float32Array, start: number, end: number): WindowStats {
  const inside = new LatencyHistogram();
  const outside = new LatencyHistogram();
  for (let i = 0; i < sentAt.length; i++) {
    if (!sentAt[i]) continue;
    // A delta sent shortly before the window can be held up by it too.
    (sentAt[i]! >= start - 100 && sentAt[i]! <= end ? inside : outside).add(worst[i]!);
  }
  const p50Outside = outside.quantile(0.5);
  return {
    windowMs: end - start,
    deltasInWindow: inside.count,
    maxInWindow: inside.max,
    p99InWindow: inside.quantile(0.99),
    p50Outside,
    stallMs: Math.max(0, inside.max - (Number.isFinite(p50Outside) ? p50Outside : 0)),
  };
}

/** Closes sockets and waits (briefly) for the closes, so the next run starts on a quiet room. */
export async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((r) => {
          if (ws.readyState === WebSocket.CLOSED) return r();
          const t = setTimeout(() => {
            ws.terminate();
            r();
          }, 2_000);
          ws.once("close", () => {
            clearTimeout(t);
            r();
          });
          ws.close();
        }),
    ),
  );
}
