/**
 * What keeps `npm start` alive: a watch on the Worker and one on the runner.
 *
 * The Worker is watched from outside, through the public port's `/health`, because that is what
 * viewers and the runner reach: when wrangler's front workerd is SIGKILLed, wrangler starts a new
 * one on the same port that never answers, and its own process looks fine. A Worker that has not
 * answered for `unhealthyMs` (killed, hung, or wrangler gone) gets its whole `wrangler dev`
 * process group killed and started again on the same port and persisted state; the runner and
 * every viewer reconnect by themselves. Two cases are told apart, because a restart costs 4–13 s
 * on this machine (node, wrangler, two workerds): the front workerd's death is acted on at once
 * (its replacement never answers), and a crash of the Worker's own workerd that wrangler announces
 * ("is being restarted") gets `selfHealMs` to heal by itself, as it does in ~2 s when it can.
 *
 * The runner is watched by its exit: it is started again with backoff (1 s doubling to 30 s,
 * back to 1 s once it has run a minute), the Worker untouched. A new runner adopts the OpenCode
 * server its predecessor left (runner/opencode.ts).
 *
 * Each action is one line through `say`.
 */
import type { ChildProcess } from "node:child_process";
import { startWranglerDev, type WranglerDev, type WranglerDevOptions } from "./wrangler-dev.ts";
import { alive } from "./procs.ts";
import { describeExit, spawnGuarded, stopGroup, type GuardedOptions } from "./guard.ts";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
/** How often silence is judged. */
const TICK_MS = 250;
/** A /health probe that takes longer counts as no answer. */
const PROBE_TIMEOUT_MS = 1_500;
/** What wrangler prints when a workerd of it crashed and it restarts that one. */
const RUNTIME_RESTARTING = /Workers runtime crashed unexpectedly and is being restarted/;

export interface WorkerWatchOptions extends WranglerDevOptions {
  port: number;
  say: (line: string) => void;
  /** Without an answer from /health for this long, wrangler dev is restarted (default 3 s). */
  unhealthyMs?: number;
  /** Time between probe starts (default 0.5 s); each probe may take up to 1.5 s. */
  /** After wrangler announced it restarts a crashed workerd, silence allowed (default 10 s). */
  selfHealMs?: number;
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
   * when a probe ends: a hung workerd lets each probe run to its timeout, which would add up to
   * that timeout to the time before anyone acts.
   */
  private tick(): void {
    if (this.stopped || this.restarting) return;
    const now = Date.now();
    const silent = now - this.lastOk;
    if (silent >= 1_000 && this.front && !alive(this.front)) {
      void this.restart(`wrangler's front workerd (pid ${this.front}, on the public port) died and its replacement never answers`);
      return;
    }
    const healing = now - this.crashAt < (this.opts.selfHealMs ?? 10_000);
    if (silent >= (healing ? (this.opts.selfHealMs ?? 10_000) : (this.opts.unhealthyMs ?? 3_000))) {
      const note = healing ? `, though wrangler restarted its crashed workerd ${secs(now - this.crashAt)} ago` : "";
      void this.restart(`the Worker has not answered /health for ${secs(silent)} (${this.lastFailure || "no answer yet"}${note})`);
      return;
    }
    if (!this.probing && now - this.probedAt >= (this.opts.probeEveryMs ?? 500)) void this.probe();
  }

  private async probe(): Promise<void> {
    this.probing = true;
    this.probedAt = Date.now();
    try {
      const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      await res.body?.cancel();
      if (res.ok) {
        this.lastOk = Date.now();
        this.lastFailure = "";
        this.crashAt = 0; // healed: the next silence gets no grace
      } else this.lastFailure = `HTTP ${res.status}`;
    } catch (e) {
      this.lastFailure = e instanceof Error && e.name === "TimeoutError" ? `no answer in ${secs(PROBE_TIMEOUT_MS)}` : (e as Error).message;
    } finally {
      this.probing = false;
    }
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
