/**
 * One `opencode serve` owned by the runner: started with its own HOME/XDG dirs and the offline
 * settings, checked for health, restarted when it dies, and watched through ONE event stream
 * (`/global/event`, which carries every directory's events tagged with the directory).
 *
 * A runner killed with SIGKILL leaves its OpenCode running (it is in its own process group on
 * purpose); the next runner on the same state dir adopts that server if its configuration matches,
 * so a turn in flight continues instead of being cut. A server that does not match is stopped.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createParser } from "eventsource-parser";
import { createOpencodeClient, type OpencodeClient } from "@opencode-ai/sdk/v2";
import {
  buildOpencodeConfig,
  configFingerprint,
  opencodeDirs,
  opencodeEnv,
  prepareOpencodeDirs,
  type ProviderChoice,
} from "./opencode-config.ts";
import { setTimeout as sleep } from "node:timers/promises";

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export function defaultOpencodeBinary(): string {
  return join(PROJECT_ROOT, "node_modules", ".bin", "opencode");
}

/** An event as `/global/event` delivers it. */
export interface GlobalEnvelope {
  directory?: string;
  payload: { id?: string; type: string; properties?: Record<string, unknown> };
}

export interface OpencodeServerOptions {
  /** OpenCode's HOME/XDG dirs live in `<stateDir>/opencode`. */
  stateDir: string;
  provider: ProviderChoice;
  permission?: Record<string, unknown>;
  binary?: string;
  /** Adopt a healthy server a previous runner left on this state dir (default true). */
  adopt?: boolean;
  healthIntervalMs?: number;
  startTimeoutMs?: number;
  log?: (msg: string) => void;
}

interface ServerRecord {
  pid: number;
  url: string;
  fingerprint: string;
  startedAt: number;
}

export interface OpencodeServerEvents {
  /** An OpenCode event. */
  event: [GlobalEnvelope];
  /** The event stream is (re)connected: anything before it may have been missed. */
  "stream-open": [];
  /** The event stream broke. */
  "stream-lost": [reason: string];
  /** A new server is up (after start or restart), with how long it took. */
  ready: [info: { url: string; startupMs: number; adopted: boolean; generation: number }];
  /** The server died or stopped answering. */
  down: [reason: string];
}


function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when `pid` is an opencode process (so we never signal an unrelated process that reused the pid). */
function isOpencodePid(pid: number): boolean {
  try {
    return /opencode/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    return false;
  }
}

async function killPid(pid: number, graceMs = 2_000): Promise<void> {
  if (!pidAlive(pid)) return;
  // Its own process group: signal the group so any shell a tool started goes too.
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone */
      }
    }
  };
  signal("SIGTERM");
  const until = Date.now() + graceMs;
  while (Date.now() < until && pidAlive(pid)) await sleep(50);
  if (pidAlive(pid)) signal("SIGKILL");
  const hard = Date.now() + 2_000;
  while (Date.now() < hard && pidAlive(pid)) await sleep(25);
}

export class OpencodeServer extends EventEmitter<OpencodeServerEvents> {
  readonly options: OpencodeServerOptions;
  readonly binary: string;
  readonly dirs;
  readonly env: Record<string, string>;
  readonly fingerprint: string;
  url = "";
  pid = 0;
  /** Increments on every (re)start, so callers can tell servers apart. */
  generation = 0;
  /** Start-up times seen (spawn → healthy), ms. */
  readonly startupTimes: number[] = [];
  client: OpencodeClient | null = null;

  private child: ChildProcess | null = null;
  private stopped = false;
  private restarting: Promise<void> | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private streamAbort: AbortController | null = null;
  private readonly recordPath: string;
  private readonly log: (msg: string) => void;

  constructor(options: OpencodeServerOptions) {
    super();
    this.options = options;
    this.binary = options.binary ?? defaultOpencodeBinary();
    this.dirs = opencodeDirs(join(options.stateDir, "opencode"));
    const config = buildOpencodeConfig({ provider: options.provider, permission: options.permission });
    this.env = opencodeEnv(this.dirs, config, options.provider);
    this.fingerprint = configFingerprint(this.binary, this.env);
    this.recordPath = join(this.dirs.root, "server.json");
    this.log = options.log ?? (() => {});
  }

  /** Starts (or adopts) the server and its event stream. Resolves once it is healthy. */
  async start(): Promise<void> {
    this.stopped = false;
    prepareOpencodeDirs(this.dirs);
    if (!(await this.tryAdopt())) await this.spawnServer();
    this.startHealthChecks();
    this.openStream();
  }

  /** Stops the server (and its stream). The runner calls this on a clean shutdown. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = null;
    this.streamAbort?.abort();
    this.streamAbort = null;
    const pid = this.pid;
    this.child = null;
    if (pid) await killPid(pid);
    rmSync(this.recordPath, { force: true });
  }

  /** Synchronous last-resort kill for process exit handlers. */
  killNow(): void {
    if (!this.pid) return;
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }

  /** Stops the current server and starts a fresh one (health failure, crash, or on request). */
  restart(reason: string): Promise<void> {
    if (this.restarting) return this.restarting;
    this.restarting = (async () => {
      this.log(`opencode: restarting (${reason})`);
      this.emit("down", reason);
      this.streamAbort?.abort();
      this.streamAbort = null;
      const old = this.pid;
      this.child = null;
      this.pid = 0;
      if (old) await killPid(old, 500);
      let attempt = 0;
      while (!this.stopped) {
        try {
          await this.spawnServer();
          this.openStream();
          break;
        } catch (e) {
          attempt++;
          this.log(`opencode: restart failed (${String(e)}); retrying`);
          await sleep(Math.min(10_000, 500 * 2 ** attempt));
        }
      }
    })().finally(() => {
      this.restarting = null;
    });
    return this.restarting;
  }

  /** Resolves when a server is up (waits out a restart in progress). */
  async ready(): Promise<OpencodeClient> {
    if (this.restarting) await this.restarting;
    if (!this.client) throw new Error("opencode is not running");
    return this.client;
  }

  private async healthy(url: string, timeoutMs = 2_000): Promise<boolean> {
    try {
      const r = await fetch(`${url}/global/health`, { signal: AbortSignal.timeout(timeoutMs) });
      if (!r.ok) return false;
      const j = (await r.json()) as { healthy?: boolean };
      return j.healthy !== false;
    } catch {
      return false;
    }
  }

  private async tryAdopt(): Promise<boolean> {
    if (!existsSync(this.recordPath)) return false;
    let rec: ServerRecord;
    try {
      rec = JSON.parse(readFileSync(this.recordPath, "utf8")) as ServerRecord;
    } catch {
      return false;
    }
    if (!rec.pid || !pidAlive(rec.pid) || !isOpencodePid(rec.pid)) return false;
    // Patient: a server busy with a turn on a loaded machine may be slow to answer, and giving
    // up on it would cut the very turn adoption is meant to save.
    const answers = async (): Promise<boolean> => {
      for (let i = 0; i < 3; i++) if (await this.healthy(rec.url, 5_000)) return true;
      return false;
    };
    if (this.options.adopt !== false && rec.fingerprint === this.fingerprint && (await answers())) {
      this.attach(rec.url, rec.pid);
      this.generation++;
      this.log(`opencode: adopted running server pid ${rec.pid} at ${rec.url}`);
      this.emit("ready", { url: rec.url, startupMs: 0, adopted: true, generation: this.generation });
      return true;
    }
    this.log(`opencode: stopping a stale server pid ${rec.pid}`);
    await killPid(rec.pid);
    return false;
  }

  private attach(url: string, pid: number): void {
    this.url = url;
    this.pid = pid;
    this.client = createOpencodeClient({ baseUrl: url });
  }

  private async spawnServer(): Promise<void> {
    const t0 = performance.now();
    // Its output goes to a file, not a pipe: a server adopted after the runner died must not hit
    // a closed pipe (SIGPIPE) the next time it logs. The file also keeps its logs for debugging.
    const logPath = join(this.dirs.root, "server.log");
    if (existsSync(logPath) && statSync(logPath).size > 20 * 1024 * 1024) truncateSync(logPath, 0);
    const logFd = openSync(logPath, "a");
    const from = statSync(logPath).size;
    const child = spawn(this.binary, ["serve", "--hostname=127.0.0.1", "--port=0"], {
      cwd: this.dirs.home,
      env: this.env,
      // Own process group: a runner killed hard leaves it running for the next runner to adopt,
      // and stopping it takes any shell a tool started with it.
      detached: true,
      stdio: ["ignore", logFd, logFd],
    });
    closeSync(logFd);
    const timeoutMs = this.options.startTimeoutMs ?? 30_000;
    const output = (): string => {
      // What it printed since this start (the first 64 KB is plenty for the "listening" line).
      let fd: number | undefined;
      try {
        fd = openSync(logPath, "r");
        const buf = Buffer.alloc(64 * 1024);
        const n = readSync(fd, buf, 0, buf.length, from);
        return buf.subarray(0, n).toString("utf8");
      } catch {
        return "";
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
    };
    const url = await new Promise<string>((resolveUrl, reject) => {
      let settled = false;
      const finish = (err: Error | null, value?: string): void => {
        if (settled) return;
        settled = true;
        clearInterval(poll);
        clearTimeout(timer);
        if (err) reject(err);
        else resolveUrl(value!);
      };
      const timer = setTimeout(() => {
        finish(new Error(`opencode did not start within ${timeoutMs} ms: ${output().slice(-500)}`));
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          /* gone */
        }
      }, timeoutMs);
      const poll = setInterval(() => {
        const m = output().match(/opencode server listening on (https?:\/\/\S+)/);
        if (m?.[1]) finish(null, m[1]);
      }, 25);
      child.once("exit", (code, sig) => finish(new Error(`opencode exited during start-up (code ${code}, signal ${sig}): ${output().slice(-500)}`)));
      child.once("error", (e) => finish(e));
    });
    const until = Date.now() + timeoutMs;
    while (!(await this.healthy(url, 1_000))) {
      if (Date.now() > until) throw new Error("opencode never became healthy");
      await sleep(50);
    }
    const startupMs = performance.now() - t0;
    this.startupTimes.push(startupMs);
    this.child = child;
    this.attach(url, child.pid!);
    this.generation++;
    const rec: ServerRecord = { pid: child.pid!, url, fingerprint: this.fingerprint, startedAt: Date.now() };
    writeFileSync(this.recordPath, JSON.stringify(rec));
    const gen = this.generation;
    child.once("exit", (code, sig) => {
      if (this.stopped || this.generation !== gen) return;
      void this.restart(`exited with code ${code} signal ${sig}`);
    });
    this.log(`opencode: listening on ${url} (pid ${child.pid}, ${startupMs.toFixed(0)} ms)`);
    this.emit("ready", { url, startupMs, adopted: false, generation: gen });
  }

  /**
   * Death is noticed at once (our child's exit, or — for an adopted server — its pid gone, checked
   * every second). A server that lives but stops answering is restarted only after a long silence:
   * under load (2 cores, a first prompt loading plugins) a healthy OpenCode can take seconds to
   * answer, and a needless restart would cut the turn it is running.
   */
  private startHealthChecks(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    let failures = 0;
    let tick = 0;
    let probing = false;
    const intervalMs = this.options.healthIntervalMs ?? 1_000;
    this.healthTimer = setInterval(() => {
      if (this.stopped || this.restarting || !this.url) return;
      if (!pidAlive(this.pid)) {
        void this.restart("process is gone");
        return;
      }
      if (++tick % 5 !== 0 || probing) return;
      probing = true;
      const url = this.url;
      void this.healthy(url, 10_000).then((ok) => {
        probing = false;
        if (this.stopped || this.restarting || url !== this.url) return;
        failures = ok ? 0 : failures + 1;
        if (failures >= 6) void this.restart(`no answer to health checks for ${failures * 5 * intervalMs} ms`);
      });
    }, intervalMs);
    this.healthTimer.unref?.();
  }

  /** The one event stream. Reconnects while the server lives; every (re)open is announced. */
  private openStream(): void {
    this.streamAbort?.abort();
    const abort = new AbortController();
    this.streamAbort = abort;
    const url = this.url;
    void (async () => {
      let attempt = 0;
      while (!abort.signal.aborted && !this.stopped) {
        try {
          const res = await fetch(`${url}/global/event`, { signal: abort.signal, headers: { accept: "text/event-stream" } });
          if (!res.ok || !res.body) throw new Error(`event stream answered ${res.status}`);
          attempt = 0;
          this.emit("stream-open");
          const parser = createParser({
            onEvent: (ev) => {
              let data: unknown;
              try {
                data = JSON.parse(ev.data);
              } catch {
                return;
              }
              const env = toEnvelope(data);
              if (env) this.emit("event", env);
            },
          });
          const decoder = new TextDecoder();
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            parser.feed(decoder.decode(chunk, { stream: true }));
          }
          throw new Error("event stream ended");
        } catch (e) {
          if (abort.signal.aborted || this.stopped) return;
          this.emit("stream-lost", String(e));
          attempt++;
          await sleep(Math.min(2_000, 100 * attempt));
        }
      }
    })();
  }
}

/** `/global/event` sends `{directory, payload}`; `/event` sends the payload alone. Accept both. */
export function toEnvelope(data: unknown): GlobalEnvelope | null {
  if (!data || typeof data !== "object") return null;
  const d = data as Record<string, unknown>;
  if (d.payload && typeof d.payload === "object" && typeof (d.payload as { type?: unknown }).type === "string") {
    return { directory: typeof d.directory === "string" ? d.directory : undefined, payload: d.payload as GlobalEnvelope["payload"] };
  }
  if (typeof d.type === "string") return { payload: d as GlobalEnvelope["payload"] };
  return null;
}
