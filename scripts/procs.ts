/**
 * The processes under a pid, read from /proc (Linux), and the TCP ports they listen on (`ss`,
 * iproute2). `wrangler dev` runs two workerd processes — a front proxy on the public port and
 * the Worker's own — and says neither pid nor the second port: npm start's supervisor, the tests
 * and the bench find them here.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

/**
 * Parent, process group and start time (clock ticks since boot: with the pid, it names one
 * process, as pids get reused) of a pid, or undefined once it is gone.
 */
export function procStat(pid: number): { ppid: number; pgrp: number; start: number; zombie: boolean } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), pgrp: Number(f[2]), start: Number(f[19]), zombie: f[0] === "Z" };
  } catch {
    return undefined; // gone while we looked
  }
}

/** True while the pid exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Every process below `pid` (children, grandchildren…), detached ones included. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (!st) continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid)!.push(Number(name));
  }
  const all: number[] = [];
  const todo = [pid];
  while (todo.length) {
    for (const c of children.get(todo.pop()!) ?? []) {
      all.push(c);
      todo.push(c);
    }
  }
  return all;
}

/** The command line of a pid as its arguments ([] once it is gone). */
export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

export function isWorkerd(pid: number): boolean {
  return cmdline(pid)[0]?.endsWith("workerd") ?? false;
}

/** Listening 127.0.0.1 TCP sockets per pid, as {fd, port}, lowest descriptor first. */
export function listeningSockets(): Map<number, Array<{ fd: number; port: number }>> {
  const out = new Map<number, Array<{ fd: number; port: number }>>();
  for (const line of execFileSync("ss", ["-ltnpH"], { encoding: "utf8" }).split("\n")) {
    const m = line.match(/127\.0\.0\.1:(\d+)\s.*pid=(\d+),fd=(\d+)/);
    if (!m) continue;
    const pid = Number(m[2]);
    if (!out.has(pid)) out.set(pid, []);
    out.get(pid)!.push({ port: Number(m[1]), fd: Number(m[3]) });
  }
  for (const socks of out.values()) socks.sort((a, b) => a.fd - b.fd);
  return out;
}

/**
 * The two workerd processes of one `wrangler dev` (found among `root`'s descendants, or in the
 * process group of whichever workerd listens on `publicPort` when root is 0): `front` listens on
 * the public port; `inner` runs the Worker, its entry socket being the lowest descriptor it
 * listens on (callers that need certainty probe it: workerd's debug port answers "Not yet
 * implemented").
 */
export function wranglerWorkerds(publicPort: number, root = 0): { front: number; inner: number; innerPort: number } | null {
  const socks = listeningSockets();
  let candidates: number[];
  if (root) candidates = descendants(root).filter(isWorkerd);
  else {
    const front = [...socks].find(([pid, s]) => isWorkerd(pid) && s.some((x) => x.port === publicPort))?.[0];
    if (front === undefined) return null;
    const group = procStat(front)?.pgrp;
    candidates = readdirSync("/proc")
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .filter((pid) => isWorkerd(pid) && procStat(pid)?.pgrp === group);
  }
  const front = candidates.find((pid) => socks.get(pid)?.some((s) => s.port === publicPort));
  const inner = candidates.filter((pid) => pid !== front && (socks.get(pid)?.length ?? 0) > 0);
  if (front === undefined || inner.length !== 1) return null;
  return { front, inner: inner[0]!, innerPort: socks.get(inner[0]!)![0]!.port };
}

/** CPU seconds (user + system) a process has used so far; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** Scheduler states of a process's threads (R running, S sleeping, D disk wait, T stopped…); [] once gone. */
export function threadStates(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
      try {
        const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        return [s.slice(s.lastIndexOf(")") + 2)[0]!];
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}
