/**
 * `node scripts/reaper.ts <pid>`: makes sure nothing npm start ever started outlives it.
 *
 * npm start (scripts/start.ts) spawns this in its own process group with stdin a pipe it holds.
 * While that pipe is open the reaper records, twice a second, every process below npm start —
 * and below any process it recorded before, so an OpenCode server that its killed runner left to
 * the next one (reparented to init, runner/opencode.ts) and whatever that server starts stay
 * known, as do the agent processes a runner starts and the process groups they lead. Each is
 * kept with its start time, so a pid the kernel reuses is never mistaken for ours.
 *
 * When the pipe ends — npm start exited after its ordered stop, or it died (SIGKILL, a crash) —
 * every recorded process still running gets SIGTERM (its group too, when it leads one), SIGKILL
 * after a grace, and the reaper exits. Nothing is told apart by name.
 */
import { readFileSync, readdirSync } from "node:fs";
import { procStat } from "./procs.ts";
import { setTimeout as sleep } from "node:timers/promises";

const SCAN_MS = 500;
/** SIGTERM → SIGKILL. */
const GRACE_MS = 1_000;

export type Stat = NonNullable<ReturnType<typeof procStat>>;
const stat = procStat;

function table(): Map<number, Stat> {
  const all = new Map<number, Stat>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = stat(Number(name));
    if (st) all.set(Number(name), st);
  }
  return all;
}

/** What the reaper knows: pid → start time of every process recorded. */
export class Recorded {
  readonly known = new Map<number, number>();

  /** Records the processes below `root` and below every process recorded before (still the same process). */
  scan(root: number, self: number, all: Map<number, Stat> = table()): void {
    const children = new Map<number, number[]>();
    for (const [pid, st] of all) {
      if (!children.has(st.ppid)) children.set(st.ppid, []);
      children.get(st.ppid)!.push(pid);
    }
    const ours = (pid: number): boolean => this.known.get(pid) === all.get(pid)?.start;
    const todo = [root, ...[...this.known.keys()].filter(ours)];
    while (todo.length) {
      for (const c of children.get(todo.pop()!) ?? []) {
        if (c === self || ours(c)) continue;
        this.known.set(c, all.get(c)!.start);
        todo.push(c);
      }
    }
    // A group led by one of ours is ours, whoever its members' parents are now.
    const leaders = new Set([...this.known.keys()].filter((pid) => ours(pid) && all.get(pid)!.pgrp === pid));
    for (const [pid, st] of all) if (pid !== self && leaders.has(st.pgrp) && !ours(pid)) this.known.set(pid, st.start);
  }

  /** Recorded processes still running (not reused, not zombies). */
  living(look: (pid: number) => Stat | undefined = stat): number[] {
    return [...this.known]
      .filter(([pid, start]) => {
        const st = look(pid);
        return st !== undefined && st.start === start && !st.zombie;
      })
      .map(([pid]) => pid);
  }
}

const recorded = new Recorded();

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    const st = stat(pid);
    try {
      if (st?.pgrp === pid) process.kill(-pid, sig);
      process.kill(pid, sig);
    } catch {
      // gone meanwhile
    }
  }
}

function say(line: string): void {
  try {
    process.stderr.write(`[start] ${line}\n`);
  } catch {
    // the terminal is gone
  }
}

async function sweep(root: number): Promise<void> {
  recorded.scan(root, process.pid);
  const left = recorded.living();
  if (left.length === 0) return;
  const what = left.map((pid) => {
    try {
      return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(0, 3).join(" ")}`;
    } catch {
      return String(pid);
    }
  });
  say(`${left.length} process(es) npm start started are still running; stopping them: ${what.join("; ")}`);
  signal(left, "SIGTERM");
  const deadline = Date.now() + GRACE_MS;
  while (Date.now() < deadline && recorded.living().length) await sleep(50);
  signal(recorded.living(), "SIGKILL");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = Number(process.argv[2]);
  if (!Number.isInteger(root) || root <= 1) throw new Error("usage: node scripts/reaper.ts <pid of npm start>");
  process.stderr.on("error", () => {});
  // Its own group and session (spawned detached), so a terminal's Ctrl-C or hang-up reaches npm
  // start, not this; should one arrive anyway, npm start's stop (or death) ends the reaper.
  for (const sig of ["SIGINT", "SIGHUP"] as const) process.on(sig, () => {});
  const timer = setInterval(() => recorded.scan(root, process.pid), SCAN_MS);
  recorded.scan(root, process.pid);
  let done = false;
  const end = (): void => {
    if (done) return;
    done = true;
    clearInterval(timer);
    void sweep(root).finally(() => process.exit(0));
  };
  process.stdin.on("end", end);
  process.stdin.on("close", end);
  process.stdin.on("error", end);
  process.stdin.resume();
}
