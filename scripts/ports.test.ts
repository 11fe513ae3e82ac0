import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, portFree } from "./ports.ts";

const listening: Server[] = [];
afterEach(async () => {
  await Promise.all(listening.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function listenOn(port: number): Promise<void> {
  const srv = createServer();
  listening.push(srv);
  return new Promise((res, rej) => {
    srv.once("error", rej);
    srv.listen(port, "127.0.0.1", () => res());
  });
}

describe("freePort", () => {
  it("picks ports below the kernel's ephemeral range, where outgoing sockets never land", async () => {
    const lo = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(lo);
    }
    // Random, not a fixed port: twenty picks are not all the same.
    expect(new Set(ports).size).toBeGreaterThan(1);
  });

  it("hands out a port that can be bound, and portFree sees it taken once bound", async () => {
    const p = await freePort();
    expect(await portFree(p)).toBe(true);
    await listenOn(p);
    expect(await portFree(p)).toBe(false);
  });
});
