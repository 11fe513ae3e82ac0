/**
 * What keeps `npm start` alive: a watch on the Worker and one on the runner.
 *
 * The Worker is watched from outside, through the public port's `/health`, because that is what
 * viewers and the runner reach: when wrangler's front workerd is SIGKILLed, wrangler starts a new
 * one on the same port that never answers, and its own process looks fine. Silence is judged by
 * scripts/health-verdict.ts, which tells dead from slow: a front workerd gone, a port refusing
 * connections, or the Worker's workerd gone unannounced gets the whole `wrangler dev` process
 * group killed and started again on the same port and persisted state within seconds (the runner
 * and every viewer reconnect by themselves); an alive Worker that does not answer is restarted
 * only after 30 s of silence while its workerds use no CPU (hung or stopped), never while they
 * work. While silence is judged, the workerds' CPU time and thread states are sampled from /proc.
 *
 * The runner is watched by its exit: it is started again with backoff (1 s doubling to 30 s,
 * back to 1 s once it has run a minute), the Worker untouched. A new runner adopts the OpenCode
 * server its predecessor left (runner/opencode.ts).
 *
 * Each decision is one line through `say`.
 */
import type { ChildProcess } from "node:child_process";
import { startWranglerDev, type WranglerDev, type WranglerDevOptions } from "./wrangler-dev.ts";
import { alive, cpuSeconds, descendants, isWorkerd, threadStates } from "./procs.ts";
import { describeExit, spawnGuarded, stopGroup, type GuardedOptions } from "./guard.ts";
import { CPU_WINDOW_MS, DEFAULT_LIMITS, judgeHealth, type HealthLimits } from "./health-verdict.ts";
import { setTimeout as sleep } from "node:timers/promises";

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
/** How often silence is judged. */
const TICK_MS = 250;
/** A /health probe that takes longer counts as no answer (Kubernetes' liveness default is 1 s; a busy Worker gets more). */
const PROBE_TIMEOUT_MS = 5_000;
/** What wrangler prints when a workerd of it crashed and it restarts that one. */
const RUNTIME_RESTARTING = /Workers runtime crashed unexpectedly and is being restarted/;

interface CpuSample {
  at: number;
  /** CPU seconds per workerd pid. */
  cpu: Map<number, number>;
  runnable: boolean;
  stopped: boolean;
}

export interface WorkerWatchOptions extends WranglerDevOptions {
  port: number;
  say: (line: string) => void;
  /** When silence means dead or hung (scripts/health-verdict.ts; default DEFAULT_LIMITS). */
  limits?: HealthLimits;
  /** Time between probe starts (default 0.5 s); each probe may take up to 5 s. */
  probeEveryMs?: number;
}

export class WorkerWatch {
  private dev: WranglerDev | null = null;
  private stopped = false;
  private restarting = false;
  private lastOk = 0;
  private probing = false;
  private probedAt = 0;
  private lastFailure = "";
  private failedProbes = 0;
  private refused = false;
  /** When the current slow episode was announced (0: none). */
  private slowSince = 0;
  private samples: CpuSample[] = [];
  /** The front workerd (on the public port) of the current wrangler dev, once known. */
  private front = 0;
  /** When wrangler last said it restarts a crashed workerd. */
  private crashAt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** How long each restart took, kill to /health answering (ms). */
  readonly restarts: number[] = [];

  private readonly opts: WorkerWatchOptions;

  constructor(opts: WorkerWatchOptions) {
    this.opts = opts;
  }

  get url(): string {
    return `http://127.0.0.1:${this.opts.port}`;
  }

  /** The running wrangler dev (null while it restarts). */
  current(): WranglerDev | null {
    return this.dev;
  }

  /** Launches wrangler dev, noting the crash announcements in its output. */
  private launch(startTimeoutMs: number): Promise<WranglerDev> {
    return startWranglerDev({
      ...this.opts,
      startTimeoutMs,
      onOutput: (text) => {
        if (RUNTIME_RESTARTING.test(text)) this.crashAt = Date.now();
        this.opts.onOutput?.(text);
      },
    });
  }

  async start(): Promise<void> {
    this.dev = await this.launch(this.opts.startTimeoutMs ?? 90_000);
    this.front = this.dev.workerds()?.front ?? 0;
    this.watchExit(this.dev);
    this.lastOk = Date.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /**
   * Probes start every `probeEveryMs` (one at a time), and silence is judged on every tick, not
   * when a probe ends: a dead front lets each probe run to its timeout, which would add up to
   * that timeout to the time before anyone acts.
   */
  private tick(): void {
    if (this.stopped || this.restarting || !this.dev) return;
    const now = Date.now();
    if (now - this.lastOk >= 1_000 || this.failedProbes > 0) this.sample(now);
    else if (this.samples.length) this.samples = [];
    const workerds = this.samples.at(-1)?.cpu;
    const verdict = judgeHealth(
      {
        now,
        lastOk: this.lastOk,
        failedProbes: this.failedProbes,
        lastFailure: this.lastFailure,
        refused: this.refused,
        frontAlive: !this.front || alive(this.front),
        innerGoneMs: this.innerGone(now, workerds),
        crashAt: this.crashAt,
        ...this.cpuWindow(),
      },
      this.opts.limits ?? DEFAULT_LIMITS,
    );
    if (verdict.kind === "restart") {
      void this.restart(verdict.reason);
      return;
    }
    if (verdict.kind === "slow" && !this.slowSince) {
      this.slowSince = now;
      this.opts.say(verdict.reason);
    }
    if (!this.probing && now - this.probedAt >= (this.opts.probeEveryMs ?? 500)) void this.probe();
  }

  private innerGoneSince = 0;

  /** How long wrangler has run no workerd but the front (as last sampled). */
  private innerGone(now: number, workerds: Map<number, number> | undefined): number {
    if (!workerds || [...workerds.keys()].some((pid) => pid !== this.front)) this.innerGoneSince = 0;
    else if (!this.innerGoneSince) this.innerGoneSince = now;
    return this.innerGoneSince ? now - this.innerGoneSince : 0;
  }

  /** CPU time and thread states of wrangler's workerds now, keeping the last CPU_WINDOW_MS. */
  private sample(now: number): void {
    const pids = descendants(this.dev!.pid).filter(isWorkerd);
    const cpu = new Map(pids.map((pid) => [pid, cpuSeconds(pid)] as const).filter(([, c]) => !Number.isNaN(c)));
    const states = pids.map(threadStates);
    const runnable = states.some((t) => t.some((s) => s === "R" || s === "D"));
    const stopped = states.some((t) => t.length > 0 && t.every((s) => s === "T" || s === "t"));
    this.samples.push({ at: now, cpu, runnable, stopped });
    while (this.samples.length > 2 && now - this.samples[0]!.at > CPU_WINDOW_MS) this.samples.shift();
  }

  /** Over the sampled window: the busiest workerd's share of a core, mostly runnable, any stopped. */
  private cpuWindow(): { cpuShare: number; runnable: boolean; stopped: boolean } {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at - first.at < 1_000) return { cpuShare: 1, runnable: true, stopped: false }; // too soon to tell: assume working
    let share = 0;
    for (const [pid, c] of last.cpu) {
      const before = first.cpu.get(pid);
      if (before !== undefined) share = Math.max(share, (c - before) / ((last.at - first.at) / 1000));
    }
    const runnable = this.samples.filter((s) => s.runnable).length * 2 > this.samples.length;
    return { cpuShare: share, runnable, stopped: last.stopped };
  }

  private async probe(): Promise<void> {
    this.probing = true;
    this.probedAt = Date.now();
    try {
      const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      await res.body?.cancel();
      if (res.ok) {
        if (this.slowSince) this.opts.say(`the Worker answers again after ${secs(Date.now() - this.lastOk)} without an answer (slow, not hung): no restart`);
        this.lastOk = Date.now();
        this.lastFailure = "";
        this.failedProbes = 0;
        this.refused = false;
        this.slowSince = 0;
        this.crashAt = 0; // healed: the next silence gets no grace
      } else this.fail(`HTTP ${res.status}`, false);
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      if (err.name === "TimeoutError") this.fail(`no answer in ${secs(PROBE_TIMEOUT_MS)}`, false);
      else this.fail(err.cause?.code ?? err.message, err.cause?.code === "ECONNREFUSED");
    } finally {
      this.probing = false;
    }
  }

  private fail(why: string, refused: boolean): void {
    this.failedProbes++;
    this.lastFailure = why;
    this.refused = refused;
  }

  private watchExit(dev: WranglerDev): void {
    void dev.exited.then(() => {
      if (this.stopped || this.restarting || this.dev !== dev) return;
      void this.restart("wrangler dev exited");
    });
  }

  /** Kills the whole wrangler dev group and starts it again on the same port and state. */
  private async restart(why: string): Promise<void> {
    if (this.restarting || this.stopped) return;
    this.restarting = true;
    const t0 = Date.now();
    this.opts.say(`${why}: restarting wrangler dev on ${this.url} (same persisted state)`);
    for (let attempt = 1; !this.stopped; attempt++) {
      const old = this.dev;
      this.dev = null;
      await old?.stop("SIGKILL");
      try {
        this.dev = await this.launch(60_000);
        this.front = this.dev.workerds()?.front ?? 0;
        break;
      } catch (e) {
        const wait = Math.min(1_000 * 2 ** (attempt - 1), 15_000);
        this.opts.say(`wrangler dev did not come back (${(e as Error).message.split("\n")[0]}); trying again in ${secs(wait)}`);
        await sleep(wait);
      }
    }
    this.restarting = false;
    if (!this.dev) return;
    this.lastOk = Date.now();
    this.failedProbes = 0;
    this.refused = false;
    this.slowSince = 0;
    this.samples = [];
    this.restarts.push(this.lastOk - t0);
    this.watchExit(this.dev);
    this.opts.say(`the Worker answers again on ${this.url} (wrangler dev restarted in ${secs(this.lastOk - t0)})`);
  }

  async stop(graceMs = 5_000): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.dev?.stop("SIGTERM", graceMs);
  }
}

export interface RunnerWatchOptions extends GuardedOptions {
  command: string;
  args: string[];
  say: (line: string) => void;
  /** Each chunk of the runner's output. */
  onOutput: (text: string) => void;
  /** First restart delay, doubled on each quick exit up to maxBackoffMs (default 1 s → 30 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A runner that ran this long before exiting is restarted after backoffMs again (default 60 s). */
  stableMs?: number;
}

export class RunnerWatch {
  private proc: ChildProcess | null = null;
  private stopped = false;
  private delay: number;
  private timer: NodeJS.Timeout | undefined;
  private readyWaiters: Array<() => void> = [];

  private readonly opts: RunnerWatchOptions;

  constructor(opts: RunnerWatchOptions) {
    this.opts = opts;
    this.delay = opts.backoffMs ?? 1_000;
  }

  /** Starts the runner; resolves when it prints `runner ready`. */
  start(): Promise<void> {
    const ready = new Promise<void>((res) => this.readyWaiters.push(res));
    this.spawn();
    return ready;
  }

  pid(): number | undefined {
    return this.proc?.pid;
  }

  private spawn(): void {
    const proc = spawnGuarded(this.opts.command, this.opts.args, { cwd: this.opts.cwd, env: this.opts.env });
    this.proc = proc;
    const startedAt = Date.now();
    const onData = (d: Buffer): void => {
      const s = d.toString();
      this.opts.onOutput(s);
      if (s.includes("runner ready")) for (const w of this.readyWaiters.splice(0)) w();
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    proc.once("exit", (code, signal) => {
      if (this.stopped || this.proc !== proc) return;
      this.proc = null;
      if (Date.now() - startedAt >= (this.opts.stableMs ?? 60_000)) this.delay = this.opts.backoffMs ?? 1_000;
      const wait = this.delay;
      this.delay = Math.min(this.delay * 2, this.opts.maxBackoffMs ?? 30_000);
      this.opts.say(`the runner exited (${describeExit(code, signal)}) after ${secs(Date.now() - startedAt)}; restarting it in ${secs(wait)}, the Worker stays up`);
      this.timer = setTimeout(() => {
        if (!this.stopped) this.spawn();
      }, wait);
    });
  }

  /** SIGTERM to the runner's group (it stops OpenCode and flushes to the rooms), SIGKILL after graceMs. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await stopGroup(this.proc, graceMs);
  }
}
