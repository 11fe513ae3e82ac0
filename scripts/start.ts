/**
 * `npm start`: the whole of agentroom on this machine, offline.
 *
 *  1. TOKEN_SECRET: generated into .dev.vars on first run (never committed; .gitignore has it).
 *  2. The app: `vite build` into dist/client (skipped with a note when there is no client yet).
 *  3. The Worker and its rooms on workerd (`wrangler dev`) on 127.0.0.1:8787, or a free port.
 *  4. The scripted model, unless a real provider is configured (ANTHROPIC_API_KEY,
 *     OPENAI_API_KEY or OPENCODE_CONFIG; see runner/main.ts).
 *  5. The runner (OpenCode inside it), joining every session that needs an agent.
 *  6. Prints the URL to open, with an operator token in its fragment — once.
 *
 * While it runs it supervises (scripts/supervise.ts): a Worker that is dead (or hung: no answer
 * for 30 s while its workerds use no CPU; AGENTROOM_WORKER_HUNG_MS changes that) is restarted on
 * the same port and state, a slow one is waited for; a runner that exits is restarted with
 * backoff; one log line says each decision.
 *
 * Ctrl-C (or SIGTERM, SIGHUP) stops everything within 5 s: the runner first (it stops OpenCode),
 * then the Worker. Every child runs under a watchdog (scripts/guard.ts) that kills its group when
 * this process is gone, and a reaper (scripts/reaper.ts) stops whatever this process ever started
 * that is still running once it exits or dies — an OpenCode a killed runner left to the next one,
 * an agent's processes — so a second `npm start` gets the same port.
 * State lives in .wrangler/state (rooms; AGENTROOM_WORKER_STATE moves it) and .agentroom/
 * (runner, workspaces; AGENTROOM_STATE_DIR and AGENTROOM_WORKSPACES move them). TOKEN_SECRET in
 * the environment is used instead of .dev.vars; PORT picks the port (default 8787).
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, appendFileSync } from "node:fs";
import { freePort, portFree } from "./ports.ts";
import { join, resolve } from "node:path";
import { nodeBinary, REPO_ROOT as ROOT } from "./wrangler-dev.ts";
import { RunnerWatch, WorkerWatch } from "./supervise.ts";
import { limitsFromEnv } from "./health-verdict.ts";
import { signToken, ALL_SESSIONS } from "../shared/token.ts";
import { startScriptedModel, type ScriptedModel } from "../runner/scripted-model.ts";
import { realProviderConfigured } from "../runner/opencode-config.ts";

const say = (msg: string): void => console.log(`[start] ${msg}`);

/** Graces of the ordered stop, within the 5 s every process gets to end (the reaper's 1 s last). */
const RUNNER_STOP_MS = 2_000;
const WORKER_STOP_MS = 1_000;

/**
 * The reaper holds the read end of a pipe whose write end only this process has: its EOF says
 * this process is gone, however it ended (a SIGKILL included), and the reaper stops what is left.
 */
function startReaper(): void {
  const reaper = spawn(nodeBinary(), [join(ROOT, "scripts", "reaper.ts"), String(process.pid)], {
    detached: true,
    stdio: ["pipe", "ignore", "inherit"],
  });
  reaper.unref();
  (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
}

function tokenSecret(): string {
  const file = join(ROOT, ".dev.vars");
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const m = text.match(/^TOKEN_SECRET\s*=\s*"?([^"\n]+)"?/m);
  if (m?.[1]) return m[1];
  const secret = randomBytes(32).toString("hex");
  appendFileSync(file, `${text && !text.endsWith("\n") ? "\n" : ""}TOKEN_SECRET="${secret}"\n`, { mode: 0o600 });
  say("generated TOKEN_SECRET into .dev.vars");
  return secret;
}

function buildApp(): void {
  if (process.env.AGENTROOM_SKIP_BUILD) return;
  if (!existsSync(join(ROOT, "client", "index.html")) || !existsSync(join(ROOT, "vite.config.ts"))) {
    say("no client/ app yet: serving a placeholder page");
    return;
  }
  say("building the app (vite build)…");
  const r = spawnSync(nodeBinary(), [join(ROOT, "node_modules", "vite", "bin", "vite.js"), "build", "--logLevel", "warn"], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) say("vite build failed; the API and rooms still run, the app may be stale or missing");
}

async function pickPort(preferred: number): Promise<number> {
  if (preferred > 0 && (await portFree(preferred))) return preferred;
  return freePort();
}

/** Prefixes a child's output lines, so the one URL line stays easy to find. */
function printer(label: string): (s: string) => void {
  return (s) => {
    for (const line of s.split("\n")) if (line.trim()) process.stdout.write(`[${label}] ${line}\n`);
  };
}

let worker: WorkerWatch | null = null;
let runner: RunnerWatch | null = null;
let model: ScriptedModel | null = null;
let stopping = false;

/** Runner first (it stops OpenCode and flushes to the rooms), then the Worker, then the model. */
async function stopAll(code: number): Promise<void> {
  if (stopping) {
    say("already stopping");
    return;
  }
  stopping = true;
  say("stopping…");
  const t0 = Date.now();
  await runner?.stop(RUNNER_STOP_MS);
  const t1 = Date.now();
  await worker?.stop(WORKER_STOP_MS);
  await model?.close();
  say(`stopped (runner ${((t1 - t0) / 1000).toFixed(1)} s, Worker ${((Date.now() - t1) / 1000).toFixed(1)} s)`);
  process.exit(code);
}

async function main(): Promise<void> {
  // npm passes SIGINT/SIGTERM on to this process (the script execs node: see package.json);
  // a terminal's Ctrl-C reaches it too, so the second of a pair is expected and ignored.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => void stopAll(0));
  // After a hang-up the terminal is gone: a failed write must not stop the stop.
  process.stdout.on("error", () => {});
  process.stderr.on("error", () => {});
  startReaper();
  // npm gone (SIGKILLed, or a SIGHUP it does not pass on): nobody is left to stop this, so stop.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent && !stopping) {
      say(`npm (pid ${parent}) is gone`);
      void stopAll(0);
    }
  }, 1_000).unref();
  const secret = process.env.TOKEN_SECRET || tokenSecret();
  buildApp();
  const port = await pickPort(Number(process.env.PORT ?? 8787));
  const persistDir = resolve(process.env.AGENTROOM_WORKER_STATE ?? join(ROOT, ".wrangler", "state"));

  worker = new WorkerWatch({ port, persistDir, vars: { TOKEN_SECRET: secret }, say, onOutput: printer("worker"), limits: limitsFromEnv() });
  const url = worker.url;
  say(`starting the Worker on ${url} (wrangler dev, workerd)…`);
  const real = realProviderConfigured(process.env);
  const modelPromise = real ? Promise.resolve(null) : startScriptedModel({ chunkDelayMs: Number(process.env.SCRIPTED_CHUNK_DELAY_MS ?? 25) });
  const [m] = await Promise.all([modelPromise, worker.start()]);
  model = m;
  say(model ? `scripted demo model on ${model.baseURL} (set ANTHROPIC_API_KEY, OPENAI_API_KEY or OPENCODE_CONFIG for a real one)` : "using the configured model provider");

  runner = new RunnerWatch({
    command: nodeBinary(),
    args: [join(ROOT, "runner", "main.ts")],
    cwd: ROOT,
    env: {
      ...process.env,
      AGENTROOM_URL: url,
      TOKEN_SECRET: secret,
      ...(model ? { SCRIPTED_MODEL_URL: model.baseURL } : {}),
    },
    say,
    onOutput: printer("runner"),
  });
  await runner.start();

  const token = await signToken(secret, { sid: ALL_SESSIONS, role: "owner", name: process.env.USER || "operator", ttlSeconds: 30 * 24 * 3600 });
  const line = "─".repeat(72);
  console.log(`\n${line}\n  agentroom is running. Open:\n\n  ${url}/#token=${token}\n\n  Ctrl-C stops everything.\n${line}\n`);
}

main().catch((e) => {
  console.error(`[start] ${e instanceof Error ? e.message : String(e)}`);
  void stopAll(1);
});
