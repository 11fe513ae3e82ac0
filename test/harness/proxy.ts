/**
 * A loopback TCP chaos proxy for fault tests: clients connect to the proxy, the proxy connects to
 * workerd, and in between it adds latency, stalls, refuses new connections and cuts open ones at
 * random. It works on raw TCP, below HTTP and WebSocket, so what the clients see is what a bad
 * network does: a stream that goes quiet, a reset mid-frame, a connect that fails.
 *
 * Everything random comes from one seeded RNG, so a failing run can be replayed with its seed.
 * It never corrupts bytes inside a stream (TCP does not either): a "drop" here is a refused or
 * cut connection, or a stall that looks like loss plus retransmission.
 */
import net from "node:net";
import { createRng, type Rng } from "./fuzz.ts";

export type Range = readonly [min: number, max: number];

export interface ChaosConfig {
  /** Seed of the RNG behind every decision. */
  seed: number;
  /** Extra one-way latency per chunk, uniform in [min, max] ms. Order is always kept. */
  latencyMs?: Range;
  /** Each forwarded chunk may start a stall: the direction pauses for `stallMs` (looks like loss + retransmit). */
  stallProbability?: number;
  stallMs?: Range;
  /** A new connection is refused (reset at once, nothing forwarded) with this probability. */
  refuseProbability?: number;
  /** Each connection is cut after a random lifetime in [min, max] ms; null or absent: never. */
  cutAfterMs?: Range | null;
  /** How a cut looks: "reset" (RST), "end" (FIN both ways), or a random one of the two. */
  cutMode?: "reset" | "end" | "mixed";
}

export interface ChaosStats {
  accepted: number;
  refused: number;
  /** Connections the proxy cut (random lifetime or cutAll). */
  cuts: number;
  /** Connections closed by either end on their own. */
  closedByPeer: number;
  stalls: number;
  bytesUp: number;
  bytesDown: number;
  /** Connections open now. */
  open: number;
}

export interface ChaosProxy {
  readonly port: number;
  /** `ws://127.0.0.1:<port>` or `http://…`: the proxy's base URL for a scheme. */
  url(scheme?: "http" | "ws"): string;
  readonly stats: Readonly<ChaosStats>;
  /** Accept times (ms, performance.now()) of every connection since the last `markTimeline()`. */
  readonly acceptTimes: readonly number[];
  markTimeline(): void;
  /** Changes the chaos while running (e.g. calm down before the final comparison). */
  configure(change: Partial<Omit<ChaosConfig, "seed">>): void;
  /** Cuts every open connection at once; returns how many. */
  cutAll(mode?: "reset" | "end"): number;
  close(): Promise<void>;
}

/** Above this many queued bytes in one direction the proxy pauses the source (backpressure). */
const HIGH_WATER = 4 * 1024 * 1024;

interface Link {
  client: net.Socket;
  upstream: net.Socket;
  closed: boolean;
  cutTimer?: NodeJS.Timeout;
  cut(mode: "reset" | "end"): void;
}

export async function startChaosProxy(target: { host?: string; port: number }, initial: ChaosConfig): Promise<ChaosProxy> {
  const rng: Rng = createRng(initial.seed);
  let config: ChaosConfig = { ...initial };
  const links = new Set<Link>();
  const stats: ChaosStats = { accepted: 0, refused: 0, cuts: 0, closedByPeer: 0, stalls: 0, bytesUp: 0, bytesDown: 0, open: 0 };
  let acceptTimes: number[] = [];
  const host = target.host ?? "127.0.0.1";

  const between = (r: Range | undefined): number => (r ? r[0] + rng.next() * (r[1] - r[0]) : 0);

  /** One direction of a link: queues chunks with their release time so latency never reorders. */
  function forward(src: net.Socket, dst: net.Socket, link: Link, count: (n: number) => void): void {
    const queue: { buf: Buffer; at: number }[] = [];
    let queuedBytes = 0;
    let lastAt = 0;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;

    const flush = (): void => {
      timer = undefined;
      const now = performance.now();
      while (queue.length && queue[0]!.at <= now) {
        const { buf } = queue.shift()!;
        queuedBytes -= buf.length;
        if (!link.closed && !dst.destroyed) dst.write(buf);
      }
      if (queuedBytes < HIGH_WATER / 2 && src.isPaused()) src.resume();
      if (queue.length) timer = setTimeout(flush, Math.max(0, queue[0]!.at - performance.now()));
      else if (ended && !link.closed && !dst.destroyed) dst.end();
    };

    src.on("data", (buf: Buffer) => {
      count(buf.length);
      const now = performance.now();
      let delay = between(config.latencyMs);
      if (config.stallProbability && rng.chance(config.stallProbability)) {
        stats.stalls++;
        delay += between(config.stallMs ?? [200, 1500]);
      }
      // Fast path: nothing queued and nothing to wait for.
      if (delay <= 0 && queue.length === 0 && lastAt <= now) {
        if (!link.closed && !dst.destroyed) dst.write(buf);
        return;
      }
      const at = Math.max(lastAt, now + delay);
      lastAt = at;
      queue.push({ buf, at });
      queuedBytes += buf.length;
      if (queuedBytes > HIGH_WATER) src.pause();
      if (!timer) timer = setTimeout(flush, Math.max(0, at - now));
    });
    src.on("end", () => {
      ended = true;
      if (!queue.length && !link.closed && !dst.destroyed) dst.end();
    });
    src.on("close", () => {
      if (timer) clearTimeout(timer);
    });
  }

  function scheduleCut(link: Link): void {
    if (!config.cutAfterMs) return;
    const life = between(config.cutAfterMs);
    link.cutTimer = setTimeout(() => {
      const mode = config.cutMode === "end" ? "end" : config.cutMode === "mixed" && rng.chance(0.5) ? "end" : "reset";
      link.cut(mode);
    }, life);
  }

  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (client) => {
    acceptTimes.push(performance.now());
    if (config.refuseProbability && rng.chance(config.refuseProbability)) {
      stats.refused++;
      client.on("error", () => {});
      client.resetAndDestroy();
      return;
    }
    stats.accepted++;
    stats.open++;
    const upstream = net.connect({ host, port: target.port, noDelay: true });
    const link: Link = {
      client,
      upstream,
      closed: false,
      cut(mode) {
        if (link.closed) return;
        stats.cuts++;
        finish(false);
        if (mode === "reset") {
          client.resetAndDestroy();
          upstream.resetAndDestroy();
        } else {
          client.end();
          upstream.end();
          // A peer that never answers the FIN must not keep the socket forever.
          setTimeout(() => (client.destroy(), upstream.destroy()), 1000).unref();
        }
      },
    };
    const finish = (byPeer: boolean): void => {
      if (link.closed) return;
      link.closed = true;
      if (link.cutTimer) clearTimeout(link.cutTimer);
      links.delete(link);
      stats.open--;
      if (byPeer) stats.closedByPeer++;
    };
    links.add(link);
    client.on("error", () => {});
    upstream.on("error", () => {});
    const onClose = (): void => {
      const wasOpen = !link.closed;
      finish(true);
      if (wasOpen) {
        client.destroy();
        upstream.destroy();
      }
    };
    client.on("close", onClose);
    upstream.on("close", onClose);
    forward(client, upstream, link, (n) => (stats.bytesUp += n));
    forward(upstream, client, link, (n) => (stats.bytesDown += n));
    upstream.on("connect", () => client.resume());
    scheduleCut(link);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("proxy: no port");
  const port = address.port;

  return {
    port,
    url: (scheme = "http") => `${scheme}://127.0.0.1:${port}`,
    get stats() {
      return stats;
    },
    get acceptTimes() {
      return acceptTimes;
    },
    markTimeline() {
      acceptTimes = [];
    },
    configure(change) {
      config = { ...config, ...change };
      if (!config.cutAfterMs) for (const l of links) if (l.cutTimer) clearTimeout(l.cutTimer);
    },
    cutAll(mode = "reset") {
      const all = [...links];
      for (const l of all) l.cut(mode);
      return all.length;
    },
    async close() {
      for (const l of [...links]) {
        if (l.cutTimer) clearTimeout(l.cutTimer);
        l.closed = true;
        l.client.destroy();
        l.upstream.destroy();
      }
      links.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
