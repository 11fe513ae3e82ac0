/**
 * Starts a Worker under `wrangler dev` (local workerd) and finds both of its addresses:
 *  - `proxyUrl`: wrangler's public port, served by a proxy workerd that forwards every request and
 *    WebSocket frame to the Worker's own workerd (what `wrangler dev` users hit);
 *  - `directUrl`: the entry socket of the Worker's own workerd, which wrangler binds to a random
 *    port and does not print. Connecting there skips the proxy hop.
 * One process serves both, so the two paths are measured against the same objects and state.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { freePort } from "../../scripts/ports.ts";
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

/** Process groups of wranglers this process started; killed if it exits without stopping them. */
const started = new Set<number>();
process.on("exit", () => {
  for (const pgid of started) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

function descendants(pid: number): number[] {
  const all: number[] = [];
  const todo = [pid];
  while (todo.length) {
    for (const c of childPids(todo.pop()!)) {
      all.push(c);
      todo.push(c);
    }
  }
  return all;
}

function isWorkerd(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]!.endsWith("workerd");
  } catch {
    return false;
  }
}

/** Listening TCP sockets of one process, as [fd, port], from `ss` (iproute2). */
function listeningSockets(pid: number): Array<{ fd: number; port: number }> {
  const text = execFileSync("ss", ["-ltnpH"], { encoding: "utf8" });
  const out: Array<{ fd: number; port: number }> = [];
  for (const line of text.split("\n")) {
    const m = line.match(/127\.0\.0\.1:(\d+)\s.*pid=(\d+),fd=(\d+)/);
    if (m && Number(m[2]) === pid) out.push({ port: Number(m[1]), fd: Number(m[3]) });
  }
  return out.sort((a, b) => a.fd - b.fd);
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

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
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = [
    join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "--no-bundle",
    "-c",
    frozen,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--persist-to",
    opts.persistDir,
    "--inspector-port",
    String(inspectorPort),
    "--show-interactive-dev-session=false",
    "--log-level",
    "warn",
  ];
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push("--var", `${k}:${v}`);
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_LOG_PATH: join(opts.persistDir, "wrangler-logs"),
      CI: "1",
    },
  });
  if (child.pid !== undefined) started.add(child.pid);
  let log = "";
  child.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const stop = async () => {
    if (opts.logFile) writeFileSync(opts.logFile, log);
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, 5_000);
    await exited;
    clearTimeout(t);
    started.delete(child.pid);
  };

  const proxyUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  try {
    // Ready when the public port answers (any HTTP status).
    for (;;) {
      if (child.exitCode !== null) throw new Error(`wrangler exited (${child.exitCode}):\n${log}`);
      if (Date.now() > deadline) throw new Error(`wrangler did not start in time:\n${log}`);
      try {
        await fetch(proxyUrl + "/__bench_probe", { signal: AbortSignal.timeout(2_000) });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const workerds = descendants(child.pid!).filter(isWorkerd);
    let proxyPid = 0;
    let innerPid = 0;
    let directPort = 0;
    for (const pid of workerds) {
      const socks = listeningSockets(pid);
      if (socks.some((s) => s.port === port)) proxyPid = pid;
      else if (socks.length) {
        innerPid = pid;
        // The entry socket is the first one workerd opens: the lowest descriptor. Checked below.
        directPort = socks[0]!.port;
      }
    }
    if (!innerPid || !directPort) throw new Error(`could not find the Worker's own workerd among ${workerds.join(",")}`);
    const directUrl = `http://127.0.0.1:${directPort}`;
    const probe = await fetch(directUrl + "/__bench_probe", { signal: AbortSignal.timeout(5_000) });
    if (probe.status === 500 && (await probe.text()) === "Not yet implemented") {
      throw new Error("picked workerd's debug port instead of its entry socket");
    }
    return { proxyUrl, directUrl, persistDir: opts.persistDir, innerPid, proxyPid, inspectorPort, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
