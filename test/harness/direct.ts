/**
 * The Worker's own workerd port, behind `wrangler dev`'s proxy. `wrangler dev` runs two workerd
 * processes in one process group: a proxy on the public port that forwards every request and
 * WebSocket frame, and the Worker's own workerd on a random port. Production has no such hop, so
 * load tests that measure the room can talk to the second one directly (bench/lib/workerd.ts
 * does the same from wrangler's pid; here we start from the public port, which is all a
 * WorkerHandle knows).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

function stat(pid: number): { ppid: number; pgrp: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), pgrp: Number(f[2]) };
  } catch {
    return undefined; // gone while we looked
  }
}

function isWorkerd(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]!.endsWith("workerd");
  } catch {
    return false;
  }
}

/** Listening 127.0.0.1 TCP sockets per pid, as [fd, port], lowest descriptor first (`ss`, iproute2). */
function listening(): Map<number, Array<{ fd: number; port: number }>> {
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
 * The entry port of the workerd that runs the Worker behind the wrangler proxy on `publicPort`,
 * checked with a request (workerd's debug port answers "Not yet implemented").
 */
export async function directPort(publicPort: number): Promise<number> {
  const socks = listening();
  const proxyPid = [...socks].find(([pid, s]) => isWorkerd(pid) && s.some((x) => x.port === publicPort))?.[0];
  if (proxyPid === undefined) throw new Error(`no workerd listens on ${publicPort}`);
  const group = stat(proxyPid)?.pgrp;
  const inner = readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => pid !== proxyPid && isWorkerd(pid) && stat(pid)?.pgrp === group && (socks.get(pid)?.length ?? 0) > 0);
  if (inner.length !== 1) throw new Error(`expected one inner workerd beside ${proxyPid}, found ${inner.join(",") || "none"}`);
  const port = socks.get(inner[0]!)![0]!.port;
  const probe = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) });
  if (!probe.ok) throw new Error(`port ${port} of workerd ${inner[0]} is not the Worker's entry (HTTP ${probe.status})`);
  await probe.body?.cancel();
  return port;
}
