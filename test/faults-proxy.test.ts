/**
 * The chaos proxy itself, against a loopback echo server: whatever chaos it adds, the bytes that
 * get through arrive whole and in order (TCP's promise, which the fault tests rely on), cuts and
 * refusals happen and are counted, and cutAll drops every connection at once.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startChaosProxy, type ChaosProxy } from "./harness/proxy.ts";
import { setTimeout as sleep } from "node:timers/promises";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function echoServer(): Promise<number> {
  const server = net.createServer((s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

async function proxyTo(port: number, config: Parameters<typeof startChaosProxy>[1]): Promise<ChaosProxy> {
  const proxy = await startChaosProxy({ port }, config);
  cleanups.push(() => proxy.close());
  return proxy;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: "127.0.0.1" }, () => resolve(s));
    s.once("error", reject);
  });
}

/** Writes `chunks`, reads until the echo has it all or the socket closes; returns what came back. */
function roundTrip(sock: net.Socket, chunks: Buffer[], timeoutMs: number): Promise<{ data: Buffer; closed: boolean }> {
  const want = chunks.reduce((n, c) => n + c.length, 0);
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let n = 0;
    const done = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(got), closed });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on("data", (b: Buffer) => {
      got.push(b);
      n += b.length;
      if (n >= want) done(false);
    });
    sock.on("error", () => {});
    sock.on("close", () => done(true));
    for (const c of chunks) sock.write(c);
  });
}

describe("chaos proxy", () => {
  it("keeps bytes whole and in order through latency and stalls", async () => {
    const proxy = await proxyTo(await echoServer(), { seed: 1, latencyMs: [0, 15], stallProbability: 0.05, stallMs: [20, 80] });
    const sock = await connect(proxy.port);
    const chunks = Array.from({ length: 200 }, (_, i) => Buffer.from(`chunk-${i};`.repeat(1 + (i % 7))));
    const { data, closed } = await roundTrip(sock, chunks, 20_000);
    sock.destroy();
    expect(closed).toBe(false);
    expect(data.toString()).toBe(Buffer.concat(chunks).toString());
    expect(proxy.stats.accepted).toBe(1);
    expect(proxy.stats.stalls).toBeGreaterThan(0);
  });

  it("cuts connections after a random lifetime and counts the cuts", async () => {
    const proxy = await proxyTo(await echoServer(), { seed: 2, cutAfterMs: [20, 60], cutMode: "mixed" });
    for (let i = 0; i < 5; i++) {
      const sock = await connect(proxy.port);
      const { closed } = await new Promise<{ closed: boolean }>((resolve) => {
        sock.on("error", () => {});
        sock.on("close", () => resolve({ closed: true }));
        // The echo server never closes: a close within this is the proxy's cut, however busy the machine.
        setTimeout(() => resolve({ closed: false }), 10_000);
      });
      expect(closed).toBe(true);
    }
    expect(proxy.stats.cuts).toBe(5);
    expect(proxy.stats.open).toBe(0);
  });

  it("refuses new connections when told to, and cutAll drops every open one", async () => {
    const port = await echoServer();
    const refusing = await proxyTo(port, { seed: 3, refuseProbability: 1 });
    const sock = await connect(refusing.port).catch(() => null);
    if (sock) {
      const { closed, data } = await roundTrip(sock, [Buffer.from("hello")], 2000);
      expect(closed).toBe(true);
      expect(data.length).toBe(0);
    }
    expect(refusing.stats.refused).toBe(1);

    const proxy = await proxyTo(port, { seed: 4 });
    const socks = await Promise.all(Array.from({ length: 20 }, () => connect(proxy.port)));
    const closedAll = Promise.all(socks.map((s) => new Promise<void>((r) => (s.on("error", () => {}), s.on("close", () => r())))));
    await sleep(50); // let the proxy's upstream connects settle
    expect(proxy.stats.open).toBe(20);
    proxy.markTimeline();
    expect(proxy.cutAll()).toBe(20);
    await closedAll;
    expect(proxy.stats.cuts).toBe(20);
    expect(proxy.acceptTimes.length).toBe(0);
  });
});
