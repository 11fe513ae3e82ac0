/**
 * Starts a Worker under `wrangler dev` (local workerd) and finds both of its addresses:
 *  - `proxyUrl`: wrangler's public port, served by a proxy workerd that forwards every request and
 *    WebSocket frame to the Worker's own workerd (what `wrangler dev` users hit);
 *  - `directUrl`: the entry socket of the Worker's own workerd, which wrangler binds to a random
 *    port and does not print. Connecting there skips the proxy hop.
 * One process serves both, so the two paths are measured against the same objects and state.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { startWranglerDev } from "../../scripts/wrangler-dev.ts";
import { cpuSeconds } from "../../scripts/procs.ts";
import { dirname, join, resolve } from "node:path";

export type RunningWorker = {
  proxyUrl: string;
  directUrl: string;
  persistDir: string;
  /** workerd process ids: the one running the Worker and wrangler's proxy. */
  innerPid: number;
  proxyPid: number;
  /** wrangler's inspector proxy (DevTools protocol for the Worker's isolate). */
  inspectorPort: number;
  stop(): Promise<void>;
};

const ROOT = resolve(import.meta.dirname, "../..");

export { cpuSeconds };

export type StartOptions = {
  /** wrangler config, relative to the repository root. */
  config: string;
  persistDir: string;
  /** `--var` bindings (secrets for local runs, limit overrides). */
  vars?: Record<string, string>;
  /** Where wrangler's own output goes (for debugging a failed start). */
  logFile?: string;
  timeoutMs?: number;
};

/** Removes line and block comments outside strings (wrangler configs are JSONC). */
export function stripJsonComments(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && text[i + 1] === "*") {
      i = text.indexOf("*/", i + 2) + 1;
      if (i === 0) break;
    } else out += c;
  }
  return out;
}

/**
 * Bundles the Worker once into `dir` and writes a config that runs that bundle. `wrangler dev`
 * watches its sources and restarts workerd (on a new port) whenever a file changes; in a shared
 * work tree someone always is editing, so the benchmark runs a frozen copy of the code.
 */
export function freezeWorker(config: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  execFileSync(process.execPath, [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", dir, "-c", config], {
    cwd: ROOT,
    stdio: "ignore",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_LOG_PATH: join(dir, "logs") },
  });
  const cfgPath = resolve(ROOT, config);
  const cfg = JSON.parse(stripJsonComments(readFileSync(cfgPath, "utf8"))) as Record<string, unknown> & { assets?: { directory?: string } };
  const bundled = readdirSync(dir).find((f) => f.endsWith(".js"));
  if (!bundled) throw new Error(`wrangler produced no bundle for ${config}`);
  cfg.main = join(dir, bundled);
  delete cfg.$schema;
  if (cfg.assets?.directory) {
    cfg.assets.directory = resolve(dirname(cfgPath), cfg.assets.directory);
    mkdirSync(cfg.assets.directory, { recursive: true });
  }
  const out = join(dir, "wrangler.frozen.json");
  writeFileSync(out, JSON.stringify(cfg, null, 2));
  return out;
}

export async function startWrangler(opts: StartOptions): Promise<RunningWorker> {
  mkdirSync(opts.persistDir, { recursive: true });
  const frozen = freezeWorker(opts.config, join(opts.persistDir, "bundle"));
  let log = "";
  // Ready when the public port answers (any HTTP status: the comparison systems have no /health).
  const w = await startWranglerDev({
    config: frozen,
    noBundle: true,
    persistDir: opts.persistDir,
    vars: opts.vars,
    env: { WRANGLER_LOG_PATH: join(opts.persistDir, "wrangler-logs") },
    onOutput: (s) => (log += s),
    readyPath: "/__bench_probe",
    readyOnAnyStatus: true,
    startTimeoutMs: opts.timeoutMs ?? 90_000,
  });
  const stop = async () => {
    if (opts.logFile) writeFileSync(opts.logFile, log);
    await w.stop("SIGTERM", 5_000);
  };
  try {
    const found = w.workerds();
    if (!found) throw new Error(`could not find the Worker's own workerd under wrangler ${w.pid}`);
    const directUrl = `http://127.0.0.1:${found.innerPort}`;
    const probe = await fetch(directUrl + "/__bench_probe", { signal: AbortSignal.timeout(5_000) });
    if (probe.status === 500 && (await probe.text()) === "Not yet implemented") {
      throw new Error("picked workerd's debug port instead of its entry socket");
    }
    return { proxyUrl: w.url, directUrl, persistDir: opts.persistDir, innerPid: found.inner, proxyPid: found.front, inspectorPort: w.inspectorPort, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
