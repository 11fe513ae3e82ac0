/**
 * When is the Worker dead, and when only slow? The one decision of npm start's Worker watch
 * (scripts/supervise.ts), kept pure so every rule is unit-tested with the real defaults.
 *
 * A restart of `wrangler dev` costs 4–13 s on this machine and closes every viewer's socket, so
 * it is only worth it when waiting cannot help:
 *
 *  - dead: the front workerd (on the public port) is gone — wrangler's replacement never answers —
 *    or nothing listens on the port, or the Worker's own workerd has been gone `deadMs` and
 *    wrangler has not said it restarts it (a reload replaces it within a moment). Acted on after
 *    `deadMs` (3 s) of silence: fast, as before.
 *  - healing: wrangler announced it restarts its crashed workerd; it does so in ~2 s, so silence
 *    is allowed `selfHealMs` (10 s) first.
 *  - hung: alive and accepting connections, but no answer for `hungMs` (30 s) over at least
 *    `minFailedProbes` (3) failed probes, while the workerds used no CPU in the last `cpuWindowMs`
 *    (a stopped process — state T — uses none). Kubernetes' liveness defaults are the model:
 *    a probe every 10 s, 3 failures, so ~30 s before a container is restarted.
 *  - busy: no answer, but a workerd is using CPU, runnable or waiting on the disk (a large write,
 *    a rejoin storm, a long GC, a swapped-in page, both cores pinned by other work). Waited for,
 *    up to `busyLimitMs` (2 min): no single request's work lasts that long, a loop does.
 *
 * Each verdict other than "ok" carries the reason npm start prints.
 */

export interface HealthLimits {
  /** Silence before a dead Worker (process gone, port refused) is restarted. */
  deadMs: number;
  /** Silence allowed after wrangler announced it restarts a crashed workerd. */
  selfHealMs: number;
  /** Silence before an idle (no CPU) but alive Worker counts as hung. */
  hungMs: number;
  /** Failed probes in a row before "hung" (a single slow probe is never enough). */
  minFailedProbes: number;
  /** Silence before a Worker busy on CPU the whole time is restarted anyway (a loop). */
  busyLimitMs: number;
  /** Silence before npm start says the Worker is slow (once per episode). */
  slowMs: number;
  /** CPU share of one core, over the sampling window, above which a workerd is working. */
  busyCpuShare: number;
}

export const DEFAULT_LIMITS: HealthLimits = {
  deadMs: 3_000,
  selfHealMs: 10_000,
  hungMs: 30_000,
  minFailedProbes: 3,
  busyLimitMs: 120_000,
  slowMs: 3_000,
  busyCpuShare: 0.02,
};

/** The CPU window the supervisor samples over (its ticks keep the last this-many ms). */
export const CPU_WINDOW_MS = 5_000;

/** What the Worker watch knows at one tick. */
export interface HealthObservation {
  now: number;
  /** When /health last answered 2xx. */
  lastOk: number;
  /** Probes in a row that got no 2xx (timeouts, errors, refused). */
  failedProbes: number;
  /** Why the last probe failed ("" when it did not). */
  lastFailure: string;
  /** The last probe's connection was refused: nothing listens on the public port. */
  refused: boolean;
  /** The front workerd's pid is still alive (true while unknown). */
  frontAlive: boolean;
  /** How long wrangler has had no workerd but the front (0 while it has one, or unknown). */
  innerGoneMs: number;
  /** When wrangler last said it restarts a crashed workerd (0: not since the last answer). */
  crashAt: number;
  /** CPU the workerds used over the last `windowMs`, as a share of one core (max over them). */
  cpuShare: number;
  /** Some workerd was runnable (R) or in disk wait (D) in most samples of the window. */
  runnable: boolean;
  /** Some workerd is stopped (T: SIGSTOP, a debugger). */
  stopped: boolean;
}

export type HealthVerdict =
  | { kind: "ok" }
  | { kind: "wait" }
  | { kind: "slow"; reason: string }
  | { kind: "restart"; reason: string };

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export function judgeHealth(o: HealthObservation, limits: HealthLimits = DEFAULT_LIMITS): HealthVerdict {
  const silent = o.now - o.lastOk;
  // Silence counts from the last answer, a probe still waiting included: a front that never
  // answers must not wait out a probe's 5 s timeout before it is called dead.
  if (silent < 1_000) return { kind: "ok" };
  const last = o.lastFailure || "no answer yet";
  if (!o.frontAlive && silent >= 1_000) {
    // Acted on at once: wrangler's replacement front never answers.
    return { kind: "restart", reason: `wrangler's front workerd (on the public port) died and its replacement never answers` };
  }
  const healing = o.crashAt > 0 && o.now - o.crashAt < limits.selfHealMs;
  if (healing) {
    if (silent >= limits.selfHealMs) return { kind: "restart", reason: `the Worker has not answered /health for ${secs(silent)} (${last}), though wrangler restarted its crashed workerd ${secs(o.now - o.crashAt)} ago` };
    return { kind: "wait" };
  }
  if (o.refused && silent >= limits.deadMs) {
    return { kind: "restart", reason: `nothing accepts connections on the public port for ${secs(silent)} (${last})` };
  }
  if (o.innerGoneMs >= limits.deadMs && silent >= limits.deadMs) {
    return { kind: "restart", reason: `the Worker's own workerd is gone and /health has not answered for ${secs(silent)} (${last})` };
  }
  const working = !o.stopped && (o.cpuShare >= limits.busyCpuShare || o.runnable);
  const what = o.stopped
    ? "a workerd is stopped (state T) and uses no CPU"
    : working
      ? `its workerd is working (${Math.round(o.cpuShare * 100)}% of a core${o.runnable ? ", runnable" : ""})`
      : "its workerds use no CPU";
  if (silent >= limits.hungMs && o.failedProbes >= limits.minFailedProbes && !working) {
    return { kind: "restart", reason: `the Worker is hung: no answer to /health for ${secs(silent)} over ${o.failedProbes} probes (${last}) and ${what}` };
  }
  if (silent >= limits.busyLimitMs) {
    return { kind: "restart", reason: `the Worker has been busy without answering /health for ${secs(silent)} (${what}): a loop, not work` };
  }
  if (silent >= limits.slowMs) {
    const next = working ? `restart only after ${secs(limits.busyLimitMs)} busy` : `restart after ${secs(limits.hungMs)} without an answer while idle`;
    return { kind: "slow", reason: `the Worker is slow: no answer to /health for ${secs(silent)} (${last}); ${what}: the room is busy, not restarting (${next})` };
  }
  return { kind: "wait" };
}

/** Limits from the environment (AGENTROOM_WORKER_HUNG_MS shortens "hung" for tests and impatient operators). */
export function limitsFromEnv(env: Record<string, string | undefined> = process.env): HealthLimits {
  const n = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
  return { ...DEFAULT_LIMITS, hungMs: n(env.AGENTROOM_WORKER_HUNG_MS, DEFAULT_LIMITS.hungMs) };
}
