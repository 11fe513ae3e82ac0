/**
 * Starts the agentroom Worker (party/worker.ts and its Durable Objects) on real workerd through
 * `wrangler dev`, on free ports, with its state persisted in a directory, for tests and benches.
 *
 *   const w = await startWorker();                 // fresh temp state dir, random secret
 *   const s = await w.createSession({ title: "t" }); // { id, ownerToken, url }
 *   const viewer = await w.mintToken({ sid: s.id, role: "viewer", name: "v" });
 *   new WebSocket(w.roomUrl(s.id), ["agentroom", "t." + viewer]);
 *   await w.kill("SIGKILL"); await w.restart();    // same port, same persisted state
 *   await w.stop();                                // kills it and removes a temp state dir
 *
 * The API is kept small and stable: the runner, bench, fault and browser tests build on it.
 * Offline-safe: no cf.json fetch, no telemetry, no update check. The app is NOT built here; if
 * dist/client is missing a placeholder index.html is written so the assets binding works.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, mkdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { signToken } from "../../shared/token.ts";
import { ADDRESS_IN_USE, freePort } from "../../scripts/ports.ts";
import type { CreateSessionBody, Role } from "../../shared/protocol.ts";

export const REPO_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

export interface StartWorkerOptions {
  /** Where workerd keeps Durable Object state; a temp dir (removed by stop()) when omitted. */
  persistDir?: string;
  /** Extra variables for the Worker, e.g. `{ LIMIT_LOG_RETAIN_EVENTS: "100" }`. */
  env?: Record<string, string>;
  /** The token secret; random when omitted. */
  secret?: string;
  /** Port to listen on; a free one when omitted. restart() keeps the same port. */
  port?: number;
  /** Print wrangler's output as it comes (default: keep it for logs()). */
  verbose?: boolean;
  /** Milliseconds to wait for /health (default 60 s). */
  startTimeoutMs?: number;
}

export interface TokenClaims {
  sid: string;
  role: Role;
  name?: string;
  ttlSeconds?: number;
}

export interface CreatedSession {
  id: string;
  ownerToken: string;
  url: string;
}

export interface WorkerHandle {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** ws://127.0.0.1:PORT */
  readonly wsUrl: string;
  readonly port: number;
  readonly secret: string;
  readonly persistDir: string;
  /** wrangler's inspector port (V8 inspector of the Worker; changes on restart). */
  readonly inspectorPort: number;
  /** A signed token (default name: the role; default lifetime: 1 day). */
  mintToken(claims: TokenClaims): Promise<string>;
  /** The operator's token (sid "*", role owner): may create and list sessions. */
  operatorToken(): Promise<string>;
  /** A runner's token (sid "*", role agent). */
  agentToken(name?: string): Promise<string>;
  /** POST /api/sessions as the operator. */
  createSession(body?: CreateSessionBody): Promise<CreatedSession>;
  /** ws URL of a session's room, with an optional cursor. */
  roomUrl(sessionId: string, cursor?: number): string;
  /** ws URL of the session list. */
  lobbyUrl(): string;
  /** Sends a signal to wrangler's whole process group (workerd included) and waits for exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts again on the same port and state (after kill). */
  restart(): Promise<void>;
  /** Kills and cleans up (removes the state dir if this harness made it). */
  stop(): Promise<void>;
  /** wrangler/workerd output so far. */
  logs(): string;
}

export { freePort };

/** Starts tried when a port turns out taken; each failed start costs about a second. */
const LAUNCH_ATTEMPTS = 4;

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** The assets binding needs dist/client; a placeholder stands in until the app is built. */
async function ensureClientDir(): Promise<void> {
  const dir = join(REPO_ROOT, "dist", "client");
  if (await exists(join(dir, "index.html"))) return;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "index.html"), "<!doctype html><title>agentroom</title><p>app not built</p>\n");
}

export async function startWorker(opts: StartWorkerOptions = {}): Promise<WorkerHandle> {
  await ensureClientDir();
  const ownDir = !opts.persistDir;
  const persistDir = opts.persistDir ?? (await mkdtemp(join(tmpdir(), "agentroom-worker-")));
  const secret = opts.secret ?? randomBytes(32).toString("hex");
  let port = opts.port ?? (await freePort());
  let url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = "";
  let inspector = 0;

  const launch = async () => {
    const inspectorPort = await freePort();
    inspector = inspectorPort;
    const vars = { TOKEN_SECRET: secret, ...(opts.env ?? {}) };
    const args = [
      join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js"),
      "dev",
      "--config",
      join(REPO_ROOT, "wrangler.jsonc"),
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspectorPort),
      "--persist-to",
      persistDir,
      "--show-interactive-dev-session=false",
      "--log-level",
      opts.verbose ? "info" : "warn",
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ];
    // Node ≥ 22 runs wrangler; the devDependency `node` provides it when the system's is older.
    const nodeBin = (await exists(join(REPO_ROOT, "node_modules", ".bin", "node")))
      ? join(REPO_ROOT, "node_modules", ".bin", "node")
      : process.execPath;
    // A watchdog shell leads the process group: it starts wrangler and, as soon as this process
    // (the test) or wrangler is gone, kills the whole group — so a test runner that is itself
    // killed leaves no workerd behind.
    const watchdog = [
      'P="$1"; shift',
      '"$@" &',
      "W=$!",
      'while kill -0 "$P" 2>/dev/null && kill -0 "$W" 2>/dev/null; do sleep 0.5; done',
      "kill -KILL 0",
    ].join("\n");
    const proc = spawn("/bin/sh", ["-c", watchdog, "sh", String(process.pid), nodeBin, ...args], {
      cwd: REPO_ROOT,
      detached: true, // own process group: kill(-pid) reaches wrangler and workerd too
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: "false",
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
        WRANGLER_HIDE_BANNER: "true",
        NO_UPDATE_NOTIFIER: "1",
        CI: "1",
        NO_COLOR: "1",
      },
    });
    child = proc;
    const onData = (d: Buffer) => {
      const s = d.toString();
      output += s;
      if (output.length > 2_000_000) output = output.slice(-1_000_000);
      if (opts.verbose) process.stderr.write(s);
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    exited = new Promise((res) => proc.once("exit", () => res()));
    await waitHealthy(url, opts.startTimeoutMs ?? 60_000, () => proc.exitCode !== null || proc.signalCode !== null, () => output);
  };

  const kill = async (signal: NodeJS.Signals = "SIGTERM") => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    try {
      process.kill(-proc.pid!, signal);
    } catch {
      // already gone
    }
    // wrangler can take long to wind down on SIGTERM; a short grace, then SIGKILL.
    const timeout = new Promise<"timeout">((res) => setTimeout(() => res("timeout"), signal === "SIGKILL" ? 10_000 : 2_000));
    await Promise.race([exited, timeout]);
    // Whatever is left of the group (workerd children outliving wrangler) goes too.
    try {
      process.kill(-proc.pid!, "SIGKILL");
    } catch {
      // gone
    }
    await exited;
    child = undefined;
  };

  // A port can still be taken between the probe and wrangler's bind (another suite's server, a
  // restarted workerd's old socket in TIME_WAIT): try again, on a new port when we chose it.
  const launchRetrying = async (mayMove: boolean) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await launch();
      } catch (err) {
        const inUse = err instanceof Error && ADDRESS_IN_USE.test(err.message);
        if (!inUse || attempt >= LAUNCH_ATTEMPTS) throw err;
        await kill("SIGKILL");
        if (mayMove) {
          port = await freePort();
          url = `http://127.0.0.1:${port}`;
        } else {
          await new Promise((r) => setTimeout(r, 500 * attempt));
        }
      }
    }
  };

  await launchRetrying(opts.port === undefined);

  const mintToken = (c: TokenClaims) =>
    signToken(secret, { sid: c.sid, role: c.role, name: c.name ?? c.role, ttlSeconds: c.ttlSeconds ?? 86_400 });

  const handle: WorkerHandle = {
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    secret,
    persistDir,
    get inspectorPort() {
      return inspector;
    },
    mintToken,
    operatorToken: () => mintToken({ sid: "*", role: "owner", name: "operator" }),
    agentToken: (name = "runner") => mintToken({ sid: "*", role: "agent", name }),
    async createSession(body: CreateSessionBody = {}) {
      const res = await fetch(`${url}/api/sessions`, {
        method: "POST",
        headers: { authorization: `Bearer ${await handle.operatorToken()}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (res.status !== 201) throw new Error(`createSession: ${res.status} ${await res.text()}`);
      return (await res.json()) as CreatedSession;
    },
    roomUrl: (id, cursor) => `ws://127.0.0.1:${port}/parties/session-room/${id}${cursor !== undefined ? `?cursor=${cursor}` : ""}`,
    lobbyUrl: () => `ws://127.0.0.1:${port}/parties/lobby/main`,
    kill,
    async restart() {
      await kill("SIGKILL");
      await launchRetrying(false);
    },
    async stop() {
      await kill("SIGTERM");
      if (ownDir) await rm(persistDir, { recursive: true, force: true });
    },
    logs: () => output,
  };
  return handle;
}

async function waitHealthy(url: string, timeoutMs: number, dead: () => boolean, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead()) throw new Error(`wrangler dev exited before it was ready:\n${logs().slice(-4000)}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`wrangler dev did not answer /health within ${timeoutMs} ms:\n${logs().slice(-4000)}`);
}
