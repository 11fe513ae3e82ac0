/**
 * `npm start` as a child process, for the tests that heal it and stop it (test/npm-start*.test.ts):
 * started the way a terminal user starts it, on a given port with its state under a temp dir, and
 * every process it ever starts recorded (pid and start time, so reused pids are not counted), so
 * "nothing left behind" can be checked generically — an OpenCode a killed runner left to the next
 * one, agent processes — not by name.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/wrangler-dev.ts";
import { cmdline, descendants, procStat } from "../../scripts/procs.ts";
import { signalGroup } from "../../scripts/guard.ts";
import { until } from "./stack.ts";
import { setTimeout as sleep } from "node:timers/promises";

function startTime(pid: number): number | undefined {
  const st = procStat(pid);
  return st && !st.zombie ? st.start : undefined;
}

export interface NpmStart {
  child: ChildProcess;
  port: number;
  output(): string;
  /** Every process recorded under npm so far (and since reparented) that still runs. */
  living(): number[];
  /** The node process running scripts/start.ts. */
  nodePid(): number | undefined;
  /** The runner's node process (not the watchdog shell above it). */
  runnerPid(): number | undefined;
  /** The OpenCode server of the latest runner, from its `runner ready {…}` line. */
  opencode(): { opencode: string; opencodePid: number };
  /** Stops recording and kills whatever still runs (after a failure). */
  kill(): void;
}

/** `npm start` on `port` with its state under `dir`, in its own process group like a terminal's foreground job. */
export function startNpm(dir: string, port: number, secret: string, env: Record<string, string> = {}): NpmStart {
  let out = "";
  const child = spawn("npm", ["start"], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PORT: String(port),
      TOKEN_SECRET: secret,
      AGENTROOM_SKIP_BUILD: "1", // the integration setup built the app; a build would empty dist/client under other Workers
      AGENTROOM_WORKER_STATE: join(dir, "worker"),
      AGENTROOM_STATE_DIR: join(dir, "runner"),
      AGENTROOM_WORKSPACES: join(dir, "workspaces"),
      AGENTROOM_PERMISSION: JSON.stringify({ bash: "allow", edit: "allow" }),
      ...env,
    },
  });
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const known = new Map<number, number>();
  const ours = (pid: number): boolean => known.get(pid) !== undefined && known.get(pid) === startTime(pid);
  const record = (): void => {
    const children = new Map<number, number[]>();
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      const ppid = procStat(Number(name))?.ppid;
      if (ppid === undefined) continue;
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid)!.push(Number(name));
    }
    const todo = [child.pid!, ...[...known.keys()].filter(ours)];
    if (!known.has(child.pid!)) known.set(child.pid!, startTime(child.pid!) ?? -1);
    while (todo.length) {
      for (const c of children.get(todo.pop()!) ?? []) {
        if (known.has(c) && ours(c)) continue;
        const t = startTime(c);
        if (t === undefined) continue;
        known.set(c, t);
        todo.push(c);
      }
    }
  };
  record();
  const timer = setInterval(record, 200);
  const living = (): number[] => {
    record();
    return [...known.keys()].filter(ours);
  };
  const opencodeOf = (): { opencode: string; opencodePid: number } => {
    const last = [...out.matchAll(/runner ready (\{.*\})/g)].at(-1)?.[1];
    if (!last) throw new Error("no runner ready line yet");
    return JSON.parse(last) as { opencode: string; opencodePid: number };
  };
  const nodeScript = (suffix: string) => (): number | undefined =>
    descendants(child.pid!).find((pid) => cmdline(pid)[0] !== "/bin/sh" && cmdline(pid).some((a) => a.endsWith(suffix)));
  return {
    child,
    port,
    output: () => out,
    living,
    nodePid: nodeScript("scripts/start.ts"),
    runnerPid: nodeScript("runner/main.ts"),
    opencode: opencodeOf,
    kill: () => {
      const left = living();
      clearInterval(timer);
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
      signalGroup(child.pid, "SIGKILL");
    },
  };
}

/** Until npm start prints its URL (or fails). */
export async function running(n: NpmStart): Promise<void> {
  await until(() => n.output().includes("agentroom is running") || n.child.exitCode !== null, 150_000, "npm start to print its URL").catch((e: Error) => {
    throw new Error(`${e.message}; its output:\n${n.output().slice(-4000)}`);
  });
  if (!n.output().includes("agentroom is running")) throw new Error(`npm start failed:\n${n.output().slice(-4000)}`);
}

/** `what` and the command of each pid, for a readable failure. */
export function describePids(pids: number[]): string[] {
  return pids.map((p) => `${p} ${cmdline(p).slice(0, 3).join(" ")}`);
}

/**
 * Sends the ending, then lists what still runs after `withinMs` (or as soon as nothing does).
 * Returns the processes running just before, and how long until none was left (or null).
 */
export async function endAndCount(n: NpmStart, end: () => void, withinMs = 5_000): Promise<{ before: number; left: string[]; goneMs: number | null }> {
  const before = n.living().length;
  const t0 = Date.now();
  end();
  let goneMs: number | null = null;
  await until(() => n.living().length === 0 || Date.now() - t0 > withinMs, withinMs + 1_000, "the processes to end").catch(() => undefined);
  const left = n.living();
  if (left.length === 0) goneMs = Date.now() - t0;
  // The last lines they wrote may still be on their way through npm's pipes.
  if (n.child.stdout && !n.child.stdout.closed) {
    await Promise.race([new Promise((r) => n.child.once("close", r)), sleep(2_000)]);
  }
  return { before, left: describePids(left), goneMs };
}
