/** Helpers for the ACP agent tests (test/acp-*.test.ts). */
import type { RunnerHandle } from "./stack.ts";

/** The pids of the ACP agents the runner started, from its log. */
export function agentPids(r: RunnerHandle): number[] {
  return [...r.logs().matchAll(/\(pid (\d+)\) initialized/g)].map((m) => Number(m[1]));
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Awaits `p`; a failure says what the runner logged (CI shows the failure summary, not the test's
 * output). `skip` drops noisy lines (JSON dumps, the ACP SDK's own error lines).
 */
export async function withRunnerLog<T>(runner: RunnerHandle, what: string, p: Promise<T>, skip = /^\s|^[{}]/): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const tail = runner.logs().split("\n").filter((l) => !skip.test(l)).slice(-40).join("\n");
    throw new Error(`${what}: ${e instanceof Error ? e.message : String(e)}\nrunner log:\n${tail}`);
  }
}
