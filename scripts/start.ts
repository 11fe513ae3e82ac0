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
 * Ctrl-C stops everything: the runner first (it stops OpenCode), then the Worker.
 * State lives in .wrangler/state (rooms) and .agentroom/ (runner, workspaces).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { freePort, portFree } from "./ports.ts";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { signToken, ALL_SESSIONS } from "../shared/token.ts";
import { startScriptedModel, type ScriptedModel } from "../runner/scripted-model.ts";
import { realProviderConfigured } from "../runner/opencode-config.ts";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const NODE = existsSync(join(ROOT, "node_modules", ".bin", "node")) ? join(ROOT, "node_modules", ".bin", "node") : process.execPath;
const say = (msg: string): void => console.log(`[start] ${msg}`);

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
  const r = spawnSync(NODE, [join(ROOT, "node_modules", "vite", "bin", "vite.js"), "build", "--logLevel", "warn"], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) say("vite build failed; the API and rooms still run, the app may be stale or missing");
}

function ensureAssetsDir(): void {
  const dir = join(ROOT, "dist", "client");
  if (existsSync(join(dir, "index.html"))) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>agentroom</title><p>The app is not built yet.</p>\n");
}

async function pickPort(preferred: number): Promise<number> {
  if (preferred > 0 && (await portFree(preferred))) return preferred;
  return freePort();
}

async function waitHealthy(url: string, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error("wrangler dev exited");
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`the Worker did not answer ${url}/health within ${timeoutMs} ms`);
}

/** Prefixes a child's output lines, so the one URL line stays easy to find. */
function pipe(proc: ChildProcess, label: string): void {
  const out = (s: Buffer): void => {
    for (const line of s.toString().split("\n")) if (line.trim()) process.stdout.write(`[${label}] ${line}\n`);
  };
  proc.stdout?.on("data", out);
  proc.stderr?.on("data", out);
}

function stopChild(proc: ChildProcess | null, graceMs: number): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const hard = setTimeout(() => {
      try {
        process.kill(-proc.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
      res();
    }, graceMs);
    proc.once("exit", () => {
      clearTimeout(hard);
      res();
    });
    try {
      process.kill(-proc.pid!, "SIGTERM");
    } catch {
      clearTimeout(hard);
      res();
    }
  });
}

let wrangler: ChildProcess | null = null;
let runner: ChildProcess | null = null;
let model: ScriptedModel | null = null;
let stopping = false;

/** Runner first (it stops OpenCode and flushes to the rooms), then the Worker, then the model. */
async function stopAll(code: number): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  say("stopping…");
  await stopChild(runner, 10_000);
  await stopChild(wrangler, 5_000);
  await model?.close();
  say("stopped");
  process.exit(code);
}

async function main(): Promise<void> {
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));
  const secret = tokenSecret();
  buildApp();
  ensureAssetsDir();
  const port = await pickPort(Number(process.env.PORT ?? 8787));
  const url = `http://127.0.0.1:${port}`;
  const inspector = await pickPort(0);

  say(`starting the Worker on ${url} (wrangler dev, workerd)…`);
  wrangler = spawn(
    NODE,
    [
      join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"),
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspector),
      "--persist-to",
      join(ROOT, ".wrangler", "state"),
      "--show-interactive-dev-session=false",
      "--log-level",
      "warn",
    ],
    {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", NO_UPDATE_NOTIFIER: "1" },
    },
  );
  pipe(wrangler, "worker");
  wrangler.once("exit", (c) => {
    if (!stopping) {
      say(`the Worker exited (${c}); stopping`);
      void stopAll(1);
    }
  });

  const real = realProviderConfigured(process.env);
  const modelPromise = real ? Promise.resolve(null) : startScriptedModel({ chunkDelayMs: Number(process.env.SCRIPTED_CHUNK_DELAY_MS ?? 25) });
  const [m] = await Promise.all([modelPromise, waitHealthy(url, wrangler, 90_000)]);
  model = m;
  say(model ? `scripted demo model on ${model.baseURL} (set ANTHROPIC_API_KEY, OPENAI_API_KEY or OPENCODE_CONFIG for a real one)` : "using the configured model provider");

  runner = spawn(NODE, [join(ROOT, "runner", "main.ts")], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      AGENTROOM_URL: url,
      TOKEN_SECRET: secret,
      ...(model ? { SCRIPTED_MODEL_URL: model.baseURL } : {}),
    },
  });
  pipe(runner, "runner");
  const runnerReady = new Promise<void>((res) => {
    runner!.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes("runner ready")) res();
    });
  });
  runner.once("exit", (c) => {
    if (!stopping) {
      say(`the runner exited (${c}); stopping`);
      void stopAll(1);
    }
  });
  await runnerReady;

  const token = await signToken(secret, { sid: ALL_SESSIONS, role: "owner", name: process.env.USER || "operator", ttlSeconds: 30 * 24 * 3600 });
  const line = "─".repeat(72);
  console.log(`\n${line}\n  agentroom is running. Open:\n\n  ${url}/#token=${token}\n\n  Ctrl-C stops everything.\n${line}\n`);
}

main().catch((e) => {
  console.error(`[start] ${e instanceof Error ? e.message : String(e)}`);
  void stopAll(1);
});
