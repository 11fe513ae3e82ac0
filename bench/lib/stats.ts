/** Small statistics helpers for the benchmarks: a latency histogram and summaries of repeated runs. */

/**
 * Latency histogram with 0.1 ms buckets up to 120 s (anything above lands in the last bucket).
 * Millions of samples cost a few MB and O(1) each, so the load generator stays cheap.
 */
export class LatencyHistogram {
  static readonly RESOLUTION_MS = 0.1;
  private readonly buckets = new Uint32Array(1_200_001);
  count = 0;
  max = 0;
  private sum = 0;

  add(ms: number): void {
    const v = ms < 0 ? 0 : ms;
    const i = Math.min(this.buckets.length - 1, Math.round(v / LatencyHistogram.RESOLUTION_MS));
    this.buckets[i]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** q in [0, 1]; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return i * LatencyHistogram.RESOLUTION_MS;
    }
    return this.max;
  }

  mean(): number {
    return this.count ? this.sum / this.count : NaN;
  }
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** "median (min–max)" of repeated runs, with a fixed number of decimals. */
export function spread(xs: number[], digits = 1): string {
  const s = xs.filter((x) => Number.isFinite(x));
  if (!s.length) return "n/a";
  const f = (x: number) => x.toFixed(digits);
  if (s.length === 1) return f(s[0]!);
  return `${f(median(s))} (${f(Math.min(...s))}–${f(Math.max(...s))})`;
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes and threads. */
export const nowMs = (): number => performance.timeOrigin + performance.now();
