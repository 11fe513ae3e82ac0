/**
 * The whole agentroom stack for integration tests, browser tests, fault tests and the bench:
 * the Worker on workerd (test/harness/worker.ts), the scripted model (in this process, so its
 * per-chunk send times are at hand), and one or more runners (child processes running the real
 * `opencode` binary), all on free 127.0.0.1 ports with state in a temp dir.
 *
 *   const stack = await startStack();
 *   const s = await stack.worker.createSession({ title: "t" });
 *   await stack.runner.waitHolding(s.id);          // the runner joined the room
 *   ...
 *   await stack.runner.kill("SIGKILL");            // OpenCode survives; a new runner adopts it
 *   await stack.runner.restart();
 *   await stack.runner.killOpencode();             // the runner restarts OpenCode
 *   await stack.stop();
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { startWorker, REPO_ROOT, type StartWorkerOptions, type WorkerHandle } from "./worker.ts";
import { recordScan } from "./token-scan.ts";
import { startScriptedModel, type ScriptedModel, type ScriptedModelOptions } from "../../runner/scripted-model.ts";
import type { Role } from "../../shared/protocol.ts";
import type { MessageEntry } from "../../shared/transcript.ts";
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
import { setTimeout as sleep } from "node:timers/promises";
import { TestRoomClient } from "./clients.ts";

export interface StackOptions {
  worker?: StartWorkerOptions;
  /** An already running Worker to use instead of starting one. */
  workerHandle?: WorkerHandle;
  model?: ScriptedModelOptions;
  /** Extra environment for the runner(s), e.g. `{ AGENTROOM_PERMISSION: '{"bash":"allow"}' }`. */
  runnerEnv?: Record<string, string>;
  /** Start no runner (the caller starts them with `startRunner`). */
  noRunner?: boolean;
  /** Print the runners' output as it comes. */
  verbose?: boolean;
}

export interface RunnerReady {
  runnerId: string;
  opencode: string;
  opencodePid: number;
  opencodeStartupMs: number | null;
}

export interface RunnerHandle {
  readonly name: string;
  readonly stateDir: string;
  pid(): number;
  /** Resolves with what the runner printed once it was ready (after each (re)start). */
  ready(): Promise<RunnerReady>;
  logs(): string;
  /** Waits until the runner's log says it holds the session's lease and reconciled it. */
  waitHolding(sessionId: string, timeoutMs?: number): Promise<void>;
  /** Signals the runner process only (its OpenCode lives on, as after a crash). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the runner again on the same state dir (it adopts a surviving OpenCode). */
  restart(): Promise<RunnerReady>;
  /** SIGKILLs the OpenCode server the runner uses (the runner must restart it). */
  killOpencode(): Promise<number>;
  /** OpenCode's pid and URL as the runner recorded them. */
  opencode(): { pid: number; url: string } | null;
  /** Resident memory of the runner process (bytes; not OpenCode's). */
  rss(): number;
  /** SIGTERM and wait; OpenCode is stopped by the runner (and killed here if it lingers). */
  stop(): Promise<void>;
}

export interface Stack {
  worker: WorkerHandle;
  model: ScriptedModel;
  /** The first runner (absent with noRunner). */
  runner: RunnerHandle;
  runners: RunnerHandle[];
  /** Root of the temp state: runners' dirs and the shared workspaces dir. */
  stateRoot: string;
  workspacesDir: string;
  startRunner(opts?: { name?: string; env?: Record<string, string> }): Promise<RunnerHandle>;
  stop(): Promise<void>;
}


function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function nodeBin(): string {
  const local = join(REPO_ROOT, "node_modules", ".bin", "node");
  return existsSync(local) ? local : process.execPath;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const stateRoot = await mkdtemp(join(tmpdir(), "agentroom-stack-"));
  const workspacesDir = join(stateRoot, "workspaces");
  const ownWorker = !opts.workerHandle;
  const [worker, model] = await Promise.all([
    opts.workerHandle ? Promise.resolve(opts.workerHandle) : startWorker(opts.worker),
    startScriptedModel(opts.model),
  ]);
  const runners: RunnerHandle[] = [];

  const startRunner = async (ro: { name?: string; env?: Record<string, string> } = {}): Promise<RunnerHandle> => {
    const name = ro.name ?? `runner${runners.length + 1}`;
    const stateDir = join(stateRoot, name);
    let child: ChildProcess | null = null;
    let output = "";
    let readyPromise: Promise<RunnerReady> = Promise.reject(new Error("not started"));
    readyPromise.catch(() => {});

    const launch = (): Promise<RunnerReady> => {
      const proc = spawn(nodeBin(), [join(REPO_ROOT, "runner", "main.ts")], {
        cwd: REPO_ROOT,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: process.env.HOME ?? stateRoot,
          AGENTROOM_URL: worker.url,
          TOKEN_SECRET: worker.secret,
          AGENTROOM_STATE_DIR: stateDir,
          AGENTROOM_WORKSPACES: workspacesDir,
          SCRIPTED_MODEL_URL: model.baseURL,
          RUNNER_ID: name,
          ...opts.runnerEnv,
          ...ro.env,
        },
      });
      child = proc;
      const started = output.length;
      const onData = (d: Buffer): void => {
        const s = d.toString();
        output += s;
        if (output.length > 4_000_000) output = output.slice(-2_000_000);
        if (opts.verbose) process.stderr.write(`[${name}] ${s}`);
      };
      proc.stdout?.on("data", onData);
      proc.stderr?.on("data", onData);
      readyPromise = new Promise<RunnerReady>((resolve, reject) => {
        const timer = setInterval(() => {
          const m = output.slice(started).match(/runner ready (\{.*\})/);
          if (m?.[1]) {
            clearInterval(timer);
            resolve(JSON.parse(m[1]) as RunnerReady);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            clearInterval(timer);
            reject(new Error(`runner ${name} exited before ready:\n${output.slice(-3000)}`));
          }
        }, 25);
      });
      return readyPromise;
    };

    const opencodeRecord = (): { pid: number; url: string } | null => {
      const file = join(stateDir, "opencode", "server.json");
      if (!existsSync(file)) return null;
      try {
        return JSON.parse(readFileSync(file, "utf8")) as { pid: number; url: string };
      } catch {
        return null; // being written
      }
    };

    const waitExit = async (proc: ChildProcess, ms: number): Promise<boolean> => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        if (proc.exitCode !== null || proc.signalCode !== null) return true;
        await sleep(20);
      }
      return false;
    };

    const handle: RunnerHandle = {
      name,
      stateDir,
      pid: () => child?.pid ?? 0,
      ready: () => readyPromise,
      logs: () => output,
      async waitHolding(sessionId, timeoutMs = 60_000) {
        const until = Date.now() + timeoutMs;
        const from = output.lastIndexOf(`room ${sessionId}: closed`);
        while (Date.now() < until) {
          const since = output.slice(Math.max(0, from));
          if (since.includes(`room ${sessionId}: reconciled`)) return;
          await sleep(50);
        }
        throw new Error(`runner ${name} did not take session ${sessionId}:\n${output.slice(-3000)}`);
      },
      async kill(signal = "SIGKILL") {
        const proc = child;
        if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
        try {
          process.kill(proc.pid!, signal);
        } catch {
          /* gone */
        }
        await waitExit(proc, 10_000);
      },
      restart: () => launch(),
      async killOpencode() {
        const rec = opencodeRecord();
        if (!rec || !pidAlive(rec.pid)) throw new Error("no OpenCode running for this runner");
        process.kill(rec.pid, "SIGKILL");
        return rec.pid;
      },
      opencode: opencodeRecord,
      rss() {
        const pid = child?.pid;
        if (!pid) return 0;
        try {
          const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
          return m?.[1] ? Number(m[1]) * 1024 : 0;
        } catch {
          return 0;
        }
      },
      async stop() {
        const proc = child;
        if (proc && proc.exitCode === null && proc.signalCode === null) {
          try {
            process.kill(proc.pid!, "SIGTERM");
          } catch {
            /* gone */
          }
          if (!(await waitExit(proc, 10_000))) {
            try {
              process.kill(-proc.pid!, "SIGKILL");
            } catch {
              /* gone */
            }
          }
        }
        // An OpenCode left from a SIGKILLed runner that was never restarted.
        const rec = opencodeRecord();
        if (rec && pidAlive(rec.pid)) {
          try {
            process.kill(-rec.pid, "SIGKILL");
          } catch {
            try {
              process.kill(rec.pid, "SIGKILL");
            } catch {
              /* gone */
            }
          }
        }
      },
    };
    runners.push(handle);
    await launch();
    return handle;
  };

  let first: RunnerHandle | undefined;
  try {
    if (!opts.noRunner) first = await startRunner();
  } catch (e) {
    for (const r of runners) await r.stop();
    await model.close();
    if (ownWorker) await worker.stop();
    await rm(stateRoot, { recursive: true, force: true });
    throw e;
  }

  return {
    worker,
    model,
    get runner(): RunnerHandle {
      if (!first) throw new Error("this stack was started without a runner");
      return first;
    },
    runners,
    stateRoot,
    workspacesDir,
    startRunner,
    async stop() {
      await Promise.all(runners.map((r) => r.stop()));
      await model.close();
      if (ownWorker) await worker.stop();
      // The runners' state and output hold no token either (token-at-rest.ts).
      recordScan(REPO_ROOT, "runners", [stateRoot], runners.map((r) => r.logs()));
      await rm(stateRoot, { recursive: true, force: true });
    },
  };
}

// ───────────────────────────── helpers for tests on a stack ─────────────────────────────

/** One stack for a test file: started before its tests, stopped after. Returns a getter. */
export function stackPerFile(opts: StackOptions = {}): () => Stack {
  let stack: Stack | undefined;
  beforeAll(async () => {
    stack = await startStack(opts);
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });
  return () => {
    if (!stack) throw new Error("the stack is not started");
    return stack;
  };
}


/** A room client with a freshly minted token (validating every frame, as tests should). */
export async function joinRoom(stack: Stack, sessionId: string, role: Role, name: string = role): Promise<TestRoomClient> {
  const token = await stack.worker.mintToken({ sid: sessionId, role, name });
  const c = new TestRoomClient({ host: stack.worker.url, sessionId, token, validate: true, watchNetwork: false });
  await c.waitFor((x) => x.live, 30_000);
  return c;
}

/** A new session the stack's runner holds, with a driver joined. */
export async function sessionWithDriver(stack: Stack, title: string): Promise<{ id: string; driver: TestRoomClient }> {
  const s = await stack.worker.createSession({ title });
  await stack.runner.waitHolding(s.id);
  return { id: s.id, driver: await joinRoom(stack, s.id, "driver", "dana") };
}

/** Polls `fn` until it returns a truthy value. */
export async function until<T>(fn: () => T | Promise<T>, timeoutMs = 30_000, what = "condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** OpenCode's own transcript of a session, read through the runner's OpenCode server. */
export async function opencodeMessages(runner: RunnerHandle, sessionID: string, directory?: string): Promise<{ info: Record<string, unknown>; parts: Record<string, unknown>[] }[]> {
  const rec = runner.opencode();
  if (!rec) throw new Error("the runner has no OpenCode");
  const oc = createOpencodeClient({ baseUrl: rec.url });
  const r = await oc.session.messages({ sessionID, ...(directory ? { directory } : {}) });
  if (!r.data) throw new Error(`session.messages failed: ${JSON.stringify(r.error)}`);
  return r.data as unknown as { info: Record<string, unknown>; parts: Record<string, unknown>[] }[];
}

/** The assistant turn is over: the newest message is a completed assistant message and the agent idle. */
export function turnDone(c: TestRoomClient, minMessages = 2): boolean {
  const t = c.transcript;
  const last = t.messages[t.messages.length - 1];
  return (
    t.session?.agentStatus === "idle" &&
    t.messages.length >= minMessages &&
    last?.info.role === "assistant" &&
    last.info.time.completed !== undefined
  );
}

/** Messages as the room's transcript or OpenCode's API holds them (the fields below are read from either). */
type AnyMessages = readonly { info: object; parts: readonly object[] }[];
const roleOf = (m: AnyMessages[number]): unknown => (m.info as { role?: unknown }).role;
const textOf = (p: object): string | undefined => ((p as { type?: unknown }).type === "text" ? String((p as { text?: unknown }).text ?? "") : undefined);

/** The text of each user turn, in order (text parts only). */
export function userTexts(messages: AnyMessages): string[] {
  return messages.filter((m) => roleOf(m) === "user").map((m) => m.parts.map(textOf).join(""));
}

/** Characters of text in the last message when it is the agent's answer (0 otherwise): how far a turn streamed. */
export function answerChars(messages: AnyMessages): number {
  const last = messages.at(-1);
  if (!last || roleOf(last) !== "assistant") return 0;
  return last.parts.reduce((n, p) => n + (textOf(p)?.length ?? 0), 0);
}

/** Every tool part's status and every part id, to check nothing is left running or doubled. */
export function partSummary(messages: readonly MessageEntry[]): { ids: string[]; running: string[] } {
  const ids: string[] = [];
  const running: string[] = [];
  for (const m of messages) {
    for (const p of m.parts) {
      ids.push(p.id);
      const st = (p as { state?: { status?: string } }).state?.status;
      if (p.type === "tool" && (st === "pending" || st === "running")) running.push(p.id);
    }
  }
  return { ids, running };
}
