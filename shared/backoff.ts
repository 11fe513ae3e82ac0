/**
 * Reconnect backoff with full jitter.
 *
 * Why jitter: a deploy or a room restart drops every socket of a room at the same instant. With a
 * deterministic schedule (partysocket's own, which has had no jitter since May 2026) they would all
 * come back at the same instants too, and each wave of joins stalls the live viewers by its whole
 * catch-up cost. "Full jitter" (a uniform draw from [0, ceiling], the ceiling growing
 * exponentially) spreads each wave over the whole window, which is the schedule AWS measured as
 * cheapest for the server in "Exponential Backoff and Jitter" (2015).
 */

export interface BackoffOptions {
  /** Ceiling of the first retry's window, ms. The first retry lands uniformly in [minMs, baseMs]. */
  baseMs?: number;
  /** Largest ceiling, ms. */
  maxMs?: number;
  /** Growth of the ceiling per attempt. */
  factor?: number;
  /** Floor of every delay, ms (0 lets the first retry go at once for some clients). */
  minMs?: number;
  /** Source of randomness in [0, 1); tests pass a fixed one. */
  random?: () => number;
}

export const DEFAULT_BACKOFF: Required<Omit<BackoffOptions, "random">> = {
  baseMs: 1_000,
  maxMs: 10_000,
  factor: 2,
  minMs: 0,
};

/** The ceiling of the window for retry number `attempt` (1-based). */
export function backoffCeiling(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const max = opts.maxMs ?? DEFAULT_BACKOFF.maxMs;
  const factor = opts.factor ?? DEFAULT_BACKOFF.factor;
  const n = Math.max(1, Math.floor(attempt));
  // Exponent capped so a long outage cannot overflow to Infinity.
  return Math.min(max, base * factor ** Math.min(n - 1, 64));
}

/** A full-jitter delay for retry number `attempt` (1-based). */
export function jitteredDelay(attempt: number, opts: BackoffOptions = {}): number {
  const min = opts.minMs ?? DEFAULT_BACKOFF.minMs;
  const ceiling = Math.max(min, backoffCeiling(attempt, opts));
  const r = (opts.random ?? Math.random)();
  return Math.round(min + r * (ceiling - min));
}

/** Counts consecutive failed attempts and hands out the next delay. */
export class Backoff {
  private attemptCount = 0;
  private readonly opts: BackoffOptions;

  constructor(opts: BackoffOptions = {}) {
    this.opts = opts;
  }

  /** Retries handed out since the last reset. */
  get attempt(): number {
    return this.attemptCount;
  }

  /** Registers one more retry and returns how long to wait before it. */
  next(): number {
    this.attemptCount++;
    return jitteredDelay(this.attemptCount, this.opts);
  }

  /** Called once a connection proved healthy: the next failure starts from the first window. */
  reset(): void {
    this.attemptCount = 0;
  }
}
