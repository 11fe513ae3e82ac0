import { describe, expect, it } from "vitest";
import { Backoff, backoffCeiling, jitteredDelay } from "./backoff.ts";

describe("backoff", () => {
  it("grows the ceiling exponentially up to the cap", () => {
    const opts = { baseMs: 100, factor: 2, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 6, 50].map((a) => backoffCeiling(a, opts))).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    expect(backoffCeiling(10_000, opts)).toBe(1_000); // no overflow after a long outage
  });

  it("draws each delay uniformly within [min, ceiling] (full jitter)", () => {
    const opts = { baseMs: 1_000, maxMs: 8_000, minMs: 50 };
    expect(jitteredDelay(1, { ...opts, random: () => 0 })).toBe(50);
    expect(jitteredDelay(1, { ...opts, random: () => 0.999999 })).toBe(1_000);
    expect(jitteredDelay(3, { ...opts, random: () => 0.5 })).toBe(Math.round(50 + 0.5 * (4_000 - 50)));
    for (let attempt = 1; attempt <= 8; attempt++) {
      for (let i = 0; i < 200; i++) {
        const d = jitteredDelay(attempt, opts);
        expect(d).toBeGreaterThanOrEqual(50);
        expect(d).toBeLessThanOrEqual(backoffCeiling(attempt, opts));
      }
    }
  });

  it("spreads a crowd: 1,000 clients dropped at once do not come back together", () => {
    const delays = Array.from({ length: 1_000 }, () => jitteredDelay(1, { baseMs: 1_000 }));
    const buckets = new Array(10).fill(0) as number[];
    for (const d of delays) buckets[Math.min(9, Math.floor(d / 100))]!++;
    // Every 100 ms slice of the first second gets some of them, none gets most of them.
    for (const b of buckets) {
      expect(b).toBeGreaterThan(40);
      expect(b).toBeLessThan(200);
    }
  });

  it("counts attempts and starts over after a reset", () => {
    const b = new Backoff({ baseMs: 100, factor: 2, maxMs: 10_000, random: () => 1 });
    expect([b.next(), b.next(), b.next()]).toEqual([100, 200, 400]);
    expect(b.attempt).toBe(3);
    b.reset();
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(100);
  });
});
