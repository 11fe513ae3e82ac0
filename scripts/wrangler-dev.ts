/**
 * The one launcher of `wrangler dev` (local workerd), shared by `npm start` (scripts/start.ts,
 * which restarts it when it stops answering), the tests (test/harness/worker.ts) and the bench
 * (bench/lib/workerd.ts).
 *
 *   const w = await startWranglerDev({ port, persistDir, vars: { TOKEN_SECRET } });
 *   w.workerds();          // { front, inner, innerPort }: the proxy on `port` and the Worker's own
 *   await w.stop();        // SIGTERM to the group, SIGKILL after a grace
 *
 * Offline-safe: no cf.json fetch, no telemetry, no update check. Each launch runs under the
 * watchdog of scripts/guard.ts, so wrangler and both workerds die with the process that started
 * them. The app is NOT built here: a placeholder page stands in while dist/client is empty. A port taken between our probe and wrangler's bind is retried (on a new port when the
 * caller let us choose it).
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ADDRESS_IN_USE, freePort } from "./ports.ts";
import { spawnGuarded, stopGroup } from "./guard.ts";
import { wranglerWorkerds } from "./procs.ts";
import { setTimeout as sleep } from "node:timers/promises";

export const REPO_ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** Node ≥ 22 runs wrangler; the devDependency `node` provides it when the system's is older. */
export function nodeBinary(): string {
  const local = join(REPO_ROOT, "node_modules", ".bin", "node");
  return existsSync(local) ? local : process.execPath;
}

/** The assets binding needs dist/client; a placeholder page stands in until the app is built. */
export function ensureAssetsDir(): void {
  const dir = join(REPO_ROOT, "dist", "client");
  if (existsSync(join(dir, "index.html"))) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>agentroom</title><p>The app is not built yet.</p>\n");
}

export interface WranglerDevOptions {
  /** Public port; a free one when omitted (and moved if it turns out taken). */
  port?: number;
  /** Where workerd keeps Durable Object state (`--persist-to`). */
  persistDir: string;
  /** wrangler config (default the repository's wrangler.jsonc). */
  config?: string;
  /** `--var` bindings (the token secret, limit overrides). */
  vars?: Record<string, string>;
  /** Run a prebuilt bundle as is (`--no-bundle`). */
  noBundle?: boolean;
  logLevel?: "warn" | "info";
  /** Extra environment for wrangler (e.g. WRANGLER_LOG_PATH). */
  env?: Record<string, string>;
  /** Each chunk of wrangler's output, as it comes. */
  onOutput?: (text: string) => void;
  /** Path probed for readiness (default /health, which must answer 2xx). */
  readyPath?: string;
  /** Ready on any HTTP answer, not only 2xx (for Workers without /health). */
  readyOnAnyStatus?: boolean;
  /** Milliseconds to wait for readiness (default 60 s). */
  startTimeoutMs?: number;
}

export interface WranglerDev {
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** wrangler's inspector port (the Worker's V8 inspector). */
  readonly inspectorPort: number;
  /** The watchdog shell leading the process group (wrangler and its workerds below it). */
  readonly pid: number;
  readonly exited: Promise<void>;
  running(): boolean;
  /** wrangler's output so far (the last ~1 MB). */
  output(): string;
  /** The front (proxy) workerd, the Worker's own, and its entry port; null until both listen. */
  workerds(): { front: number; inner: number; innerPort: number } | null;
  /** Signals the whole group, then SIGKILL after `graceMs` (default 5 s; 0 with SIGKILL). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

function spawnWrangler(opts: WranglerDevOptions, port: number, inspectorPort: number): WranglerDev {
  const args = [
    join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js"),
    "dev",
    ...(opts.noBundle ? ["--no-bundle"] : []),
    "--config",
    resolve(REPO_ROOT, opts.config ?? "wrangler.jsonc"),
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    opts.persistDir,
    "--show-interactive-dev-session=false",
    "--log-level",
    opts.logLevel ?? "warn",
    ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  const proc: ChildProcess = spawnGuarded(nodeBinary(), args, {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_HIDE_BANNER: "true",
      NO_UPDATE_NOTIFIER: "1",
      CI: "1",
      NO_COLOR: "1",
      // wrangler's local trace store (<persist>/v3/observability) keeps every request's full URL,
      // query string included, and `redact_query_string` does not apply to it: a token a client
      // put in a URL would stay at rest there. Nothing here reads it, so it is off.
      X_LOCAL_OBSERVABILITY: "false",
      ...opts.env,
    },
  });
  let output = "";
  const onData = (d: Buffer): void => {
    const s = d.toString();
    output += s;
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
    opts.onOutput?.(s);
  };
  proc.stdout?.on("data", onData);
  proc.stderr?.on("data", onData);
  const exited = new Promise<void>((res) => proc.once("exit", () => res()));
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    inspectorPort,
    pid: proc.pid!,
    exited,
    running: () => proc.exitCode === null && proc.signalCode === null,
    output: () => output,
    workerds: () => wranglerWorkerds(port, proc.pid!),
    stop: (signal = "SIGTERM", graceMs = signal === "SIGKILL" ? 0 : 5_000) => stopGroup(proc, graceMs, signal),
  };
}

/** Polls `url + path` until it answers (2xx, or anything with anyStatus), the process dies, or time runs out. */
export async function waitReady(w: WranglerDev, path: string, anyStatus: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!w.running()) throw new Error(`wrangler dev exited before it was ready:\n${w.output().slice(-4000)}`);
    try {
      const res = await fetch(`${w.url}${path}`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      if (res.ok || anyStatus) return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`wrangler dev did not answer ${path} within ${timeoutMs} ms:\n${w.output().slice(-4000)}`);
}

/** Starts tried when a port turns out taken; each failed start costs about a second. */
const LAUNCH_ATTEMPTS = 4;

/** Launches `wrangler dev` and resolves once it answers; retries a port taken under our feet. */
export async function startWranglerDev(opts: WranglerDevOptions): Promise<WranglerDev> {
  ensureAssetsDir();
  const mayMove = opts.port === undefined;
  let port = opts.port ?? (await freePort());
  for (let attempt = 1; ; attempt++) {
    const w = spawnWrangler(opts, port, await freePort());
    try {
      await waitReady(w, opts.readyPath ?? "/health", opts.readyOnAnyStatus ?? false, opts.startTimeoutMs ?? 60_000);
      return w;
    } catch (err) {
      await w.stop("SIGKILL");
      const inUse = err instanceof Error && ADDRESS_IN_USE.test(err.message);
      if (!inUse || attempt >= LAUNCH_ATTEMPTS) throw err;
      if (mayMove) port = await freePort();
      else await sleep(500 * attempt);
    }
  }
}
