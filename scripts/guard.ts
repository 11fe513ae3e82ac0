/**
 * Starts a child process in its own process group, led by a small watchdog shell that kills the
 * group as soon as the parent (npm start, a test, the bench) is gone — so a parent that is
 * SIGKILLed, or whose npm got a SIGINT it never passed on, leaves no wrangler or workerd behind.
 *
 * The shell passes SIGTERM/SIGINT sent to it alone on to the child, exits with the child's own
 * status (128 + signal number when a signal ended it), and on the way out sends SIGTERM to
 * whatever the child left in the group (wrangler's workerds). Callers signal the whole group
 * (`process.kill(-pid, sig)`) to stop it.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { constants } from "node:os";

const WATCHDOG = [
  'P="$1"; shift',
  '"$@" &',
  "W=$!",
  'trap \'kill -TERM "$W" 2>/dev/null\' TERM',
  'trap \'kill -INT "$W" 2>/dev/null\' INT',
  'while kill -0 "$P" 2>/dev/null && kill -0 "$W" 2>/dev/null; do sleep 0.5; done',
  'if kill -0 "$W" 2>/dev/null; then kill -KILL 0; fi',
  'wait "$W"; rc=$?',
  "trap '' TERM",
  "kill -TERM 0 2>/dev/null",
  "exit $rc",
].join("\n");

export type GuardedOptions = Pick<SpawnOptions, "cwd" | "env">;

/** Spawns `command args…` under the watchdog; stdout/stderr are pipes, stdin is closed. */
export function spawnGuarded(command: string, args: readonly string[], opts: GuardedOptions = {}): ChildProcess {
  return spawn("/bin/sh", ["-c", WATCHDOG, "sh", String(process.pid), command, ...args], {
    ...opts,
    detached: true, // own process group: kill(-pid) reaches the child and everything it started
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** "code 1", or "SIGKILL" for the watchdog's 128 + n. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return signal;
  if (code !== null && code > 128) {
    const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return name;
  }
  return `code ${code}`;
}

/** Signals a whole process group; false when it is already gone. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a guarded child: SIGTERM (or `signal`) to its group, SIGKILL to the group after
 * `graceMs`, and resolves once the watchdog has exited and the group is gone.
 */
export async function stopGroup(proc: ChildProcess | null | undefined, graceMs: number, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!proc?.pid) return;
  const pid = proc.pid;
  const exited = proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise<void>((res) => proc.once("exit", () => res()));
  signalGroup(pid, signal);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<void>((res) => (timer = setTimeout(res, graceMs)))]);
  clearTimeout(timer);
  // Whatever is left of the group (a workerd outliving wrangler) goes too.
  signalGroup(pid, "SIGKILL");
  await exited;
}
