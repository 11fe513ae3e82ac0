/**
 * However `npm start` ends, nothing it started is left, and a second `npm start` comes up on the
 * same port. Each run first heals what a long session may have healed — the runner SIGKILLed
 * (the next one adopts its OpenCode, which is then no longer below npm), the Worker's own workerd
 * SIGKILLed (wrangler starts another), OpenCode SIGKILLed (the runner starts another) — then ends
 * one way:
 *
 *  - Ctrl-C in a terminal: SIGINT to npm's whole process group;
 *  - SIGTERM to npm alone (a process manager, `kill`);
 *  - SIGTERM to its node (scripts/start.ts) alone;
 *  - SIGHUP to the group (the terminal closed);
 *  - SIGKILL of the node supervisor (a crash: no handler runs).
 *
 * (SIGINT to npm alone ends test/npm-start.test.ts.) Every process ever recorded under npm —
 * wrangler, both workerds, the runner, OpenCode and anything they started, the reaper — must be
 * gone within 5 s of the signal. Two chains run side by side on two ports to keep the wall time
 * down; in each, the next `npm start` takes the port the last one left.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { freePort, portFree } from "../scripts/ports.ts";
import { alive, wranglerWorkerds } from "../scripts/procs.ts";
import { signalGroup } from "../scripts/guard.ts";
import { until } from "./harness/stack.ts";
import { endAndCount, running, startNpm, type NpmStart } from "./harness/npm-start.ts";

const secret = randomBytes(32).toString("hex");
const GONE_WITHIN_MS = 5_000;
const started: NpmStart[] = [];
const dirs: string[] = [];

async function healthy(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
    await r.body?.cancel();
    return r.ok;
  } catch {
    return false;
  }
}

/** Runner and the Worker's workerd SIGKILLed at once, then OpenCode; each healed. */
async function heal(n: NpmStart): Promise<void> {
  const runner = n.runnerPid();
  const pair = wranglerWorkerds(n.port);
  expect(runner, "the runner's pid").toBeDefined();
  expect(pair, "both workerds").not.toBeNull();
  const readyLines = (): number => n.output().split("runner ready").length;
  const before = readyLines();
  process.kill(runner!, "SIGKILL");
  process.kill(pair!.inner, "SIGKILL");
  await until(() => readyLines() > before && n.runnerPid() !== undefined && n.runnerPid() !== runner, 150_000, "a new runner");
  await until(() => healthy(n.port), 60_000, "/health after the workerd's kill");
  // The new runner adopted the OpenCode its predecessor left: kill that, the runner starts another.
  const oc = n.opencode().opencodePid;
  expect(n.output()).toContain(`adopted running server pid ${oc}`);
  const listening = (): number => n.output().split("opencode: listening on").length;
  const was = listening();
  process.kill(oc, "SIGKILL");
  await until(() => listening() > was, 150_000, "a new OpenCode");
}

const endings: Record<string, (n: NpmStart) => void> = {
  "Ctrl-C (SIGINT to the group)": (n) => signalGroup(n.child.pid, "SIGINT"),
  "SIGTERM to npm alone": (n) => process.kill(n.child.pid!, "SIGTERM"),
  "SIGTERM to its node alone": (n) => process.kill(n.nodePid()!, "SIGTERM"),
  "SIGHUP to the group (terminal closed)": (n) => signalGroup(n.child.pid, "SIGHUP"),
  "SIGKILL of the node supervisor": (n) => process.kill(n.nodePid()!, "SIGKILL"),
};

const counts: Record<string, { before: number; goneMs: number | null }> = {};

/** One `npm start` per ending, in turn on one port. */
async function chain(ways: string[]): Promise<void> {
  const port = await freePort();
  for (const way of ways) {
    const dir = await mkdtemp(join(tmpdir(), "agentroom-end-"));
    dirs.push(dir);
    expect(await portFree(port), `port ${port} free before the npm start that ends with ${way}`).toBe(true);
    const n = startNpm(dir, port, secret);
    started.push(n);
    await running(n);
    // The same port as asked (npm start moves to a free one only when it is taken).
    expect(n.output()).toContain(`http://127.0.0.1:${port}/#token=`);
    await heal(n);
    const ocPid = n.opencode().opencodePid;
    const node = n.nodePid();
    expect(node).toBeDefined();
    const r = await endAndCount(n, () => endings[way]!(n), GONE_WITHIN_MS);
    counts[way] = { before: r.before, goneMs: r.goneMs };
    console.log(`npm start ended by ${way}: ${r.before} processes before, ${r.left.length} left after ${GONE_WITHIN_MS / 1000} s (all gone in ${r.goneMs} ms)`);
    expect(r.left, `left after ${way}`).toEqual([]);
    expect(alive(ocPid)).toBe(false);
    expect(r.before).toBeGreaterThanOrEqual(9); // npm, node, reaper, 2 watchdogs, wrangler (2 node), 2 workerds, runner, OpenCode
    await until(() => portFree(port), 5_000, `port ${port} free after ${way}`);
  }
}

afterAll(async () => {
  for (const n of started) n.kill();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("npm start ends cleanly, however it ends", () => {
  it("after heals, each way of ending leaves no process within 5 s, and the next npm start takes the same port", async () => {
    const ways = Object.keys(endings);
    await Promise.all([chain(ways.slice(0, 3)), chain(ways.slice(3))]);
    console.log(`npm start endings (processes before → after 5 s): ${JSON.stringify(counts)}`);
  }, 900_000);
});
