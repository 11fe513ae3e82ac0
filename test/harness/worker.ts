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
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { signToken } from "../../shared/token.ts";
import { recordScan } from "./token-scan.ts";
import { freePort } from "../../scripts/ports.ts";
import { REPO_ROOT, startWranglerDev, type WranglerDev } from "../../scripts/wrangler-dev.ts";
import type { CreateSessionBody, Role } from "../../shared/protocol.ts";

export { REPO_ROOT };

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

export async function startWorker(opts: StartWorkerOptions = {}): Promise<WorkerHandle> {
  const ownDir = !opts.persistDir;
  const persistDir = opts.persistDir ?? (await mkdtemp(join(tmpdir(), "agentroom-worker-")));
  const secret = opts.secret ?? randomBytes(32).toString("hex");
  let output = "";
  const launch = (port: number | undefined) =>
    startWranglerDev({
      port,
      persistDir,
      vars: { TOKEN_SECRET: secret, ...(opts.env ?? {}) },
      logLevel: opts.verbose ? "info" : "warn",
      startTimeoutMs: opts.startTimeoutMs,
      onOutput: (s) => {
        output += s;
        if (output.length > 2_000_000) {
          // What is dropped from the kept log is scanned for tokens first (token-scan.ts).
          recordScan(REPO_ROOT, "worker log (trimmed part)", [], [output.slice(0, -1_000_000)]);
          output = output.slice(-1_000_000);
        }
        if (opts.verbose) process.stderr.write(s);
      },
    });
  let w: WranglerDev | undefined = await launch(opts.port);
  const port = w.port;
  const url = w.url;
  let inspector = w.inspectorPort;

  // SIGTERM gets a short grace (wrangler can take long to wind down), then SIGKILL.
  const kill = async (signal: NodeJS.Signals = "SIGTERM") => {
    await w?.stop(signal, signal === "SIGKILL" ? 0 : 2_000);
    w = undefined;
  };

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
      w = await launch(port);
      inspector = w.inspectorPort;
    },
    async stop() {
      await kill("SIGTERM");
      // No token may be at rest in what workerd kept, nor in its output (token-at-rest.ts).
      recordScan(REPO_ROOT, "worker", [persistDir], [output]);
      if (ownDir) await rm(persistDir, { recursive: true, force: true });
    },
    logs: () => output,
  };
  return handle;
}
