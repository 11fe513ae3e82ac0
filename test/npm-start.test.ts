/**
 * `npm start` heals, and stops clean. The real command runs as a child process (npm → node
 * scripts/start.ts → wrangler dev and its two workerds, the runner and its OpenCode, the scripted
 * model), on a free port with its state in a temp dir. Then, in order:
 *
 *  - wrangler's front workerd (the one on the public port) is SIGKILLed — wrangler restarts it
 *    and the new one never answers, so the supervisor must restart wrangler dev;
 *  - the Worker's own workerd is SIGKILLed;
 *  - the Worker's own workerd hangs (SIGSTOP);
 *  - the runner is SIGKILLed — the Worker must stay up while it is restarted.
 *
 * Each time `/health` answers again within 15 s and, after a new prompt, a viewer's transcript
 * converges with OpenCode's `session.messages`. Last, a SIGINT to npm alone (not its process
 * group: what a process manager or `kill` sends) stops everything: no process started under npm
 * is left, and the port is free. START_KILL_ROUNDS=3 repeats the kills (the closing note's
 * medians); the recovery times are printed. A second `npm start` gets a terminal's Ctrl-C (SIGINT
 * to its whole group) and must stop the same way.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { RoomClient } from "../shared/room-client.ts";
import { normalizeMessages } from "../shared/transcript.ts";
import { signToken } from "../shared/token.ts";
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
import { freePort, portFree } from "../scripts/ports.ts";
import { REPO_ROOT } from "../scripts/wrangler-dev.ts";
import { alive, cmdline, descendants, wranglerWorkerds } from "../scripts/procs.ts";
import { signalGroup } from "../scripts/guard.ts";
import { until, turnDone } from "./harness/stack.ts";
import { divergence } from "./harness/faults-check.ts";

const ROUNDS = Number(process.env.START_KILL_ROUNDS ?? 1);
const RECOVERY_LIMIT_MS = 15_000;

let npm: ChildProcess;
let output = "";
let stateDir: string;
let port: number;
const secret = randomBytes(32).toString("hex");
const url = (): string => `http://127.0.0.1:${port}`;

async function healthy(): Promise<boolean> {
  try {
    const r = await fetch(`${url()}/health`, { signal: AbortSignal.timeout(1_000) });
    await r.body?.cancel();
    return r.ok;
  } catch {
    return false;
  }
}

/** The OpenCode server of the latest runner, from its `runner ready {…}` line. */
function opencode(): { opencode: string; opencodePid: number } {
  return opencodeOf(output);
}

function opencodeOf(output: string): { opencode: string; opencodePid: number } {
  const lines = [...output.matchAll(/runner ready (\{.*\})/g)];
  const last = lines.at(-1)?.[1];
  if (!last) throw new Error("no runner ready line yet");
  return JSON.parse(last) as { opencode: string; opencodePid: number };
}

function runnerPid(): number | undefined {
  // The node process itself, not the watchdog shell above it (whose arguments name it too).
  return descendants(npm.pid!).find((pid) => cmdline(pid)[0] !== "/bin/sh" && cmdline(pid).some((a) => a.endsWith("runner/main.ts")));
}

async function client(sessionId: string, role: "viewer" | "driver"): Promise<RoomClient> {
  const c = new RoomClient({
    host: url(),
    sessionId,
    token: await signToken(secret, { sid: sessionId, role, name: role, ttlSeconds: 3600 }),
    validate: true,
    watchNetwork: false,
    backoff: { baseMs: 200, maxMs: 1_000 },
    heartbeat: { intervalMs: 2_000, timeoutMs: 2_000 },
  });
  await c.waitFor((x) => x.live, 60_000);
  return c;
}

/** A new prompt answered, then the viewer's transcript equals OpenCode's record. */
async function converges(driver: RoomClient, viewer: RoomClient, text: string): Promise<void> {
  const before = viewer.transcript.messages.length;
  await until(async () => {
    try {
      await driver.prompt(text, { id: `p-${text}` });
      return true;
    } catch {
      return false; // the room was unreachable for a moment: the same id makes a retry safe
    }
  }, 30_000, `prompt ${text} accepted`);
  await until(() => turnDone(viewer, before + 2), 90_000, `the answer to ${text}`);
  const meta = viewer.transcript.session!;
  const oc = createOpencodeClient({ baseUrl: opencode().opencode });
  const r = await oc.session.messages({ sessionID: meta.opencodeSessionId!, ...(meta.workspace ? { directory: meta.workspace } : {}) });
  const messages = r.data as unknown as { info: Record<string, unknown>; parts: Record<string, unknown>[] }[];
  expect(divergence(viewer.transcript.messages, messages)).toEqual({ missing: [], extra: [], differing: [], duplicated: [], running: [] });
  expect(normalizeMessages(driver.transcript.messages)).toEqual(normalizeMessages(viewer.transcript.messages));
}

/** `npm start` as a terminal user runs it, on a free port with its state under `dir`. */
function startNpm(dir: string, port: number, onData: (s: string) => void): ChildProcess {
  const child = spawn("npm", ["start"], {
    cwd: REPO_ROOT,
    detached: true, // its own group, like a terminal's foreground job
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
    },
  });
  child.stdout!.on("data", (d: Buffer) => onData(d.toString()));
  child.stderr!.on("data", (d: Buffer) => onData(d.toString()));
  return child;
}

async function running(child: ChildProcess, out: () => string): Promise<void> {
  await until(() => out().includes("agentroom is running") || child.exitCode !== null, 150_000, "npm start to print its URL");
  if (!out().includes("agentroom is running")) throw new Error(`npm start failed:\n${out()}`);
}

/** Stops npm with `signal` (to npm alone, or to its group) and lists what is left of `everyone`. */
async function stopAndList(child: ChildProcess, everyone: number[], signal: () => void): Promise<string[]> {
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  signal();
  await exited;
  await until(() => everyone.every((p) => !alive(p)), 5_000, "every process started under npm to be gone").catch(() => undefined);
  return everyone.filter(alive).map((p) => `${p} ${cmdline(p).join(" ")}`);
}

/** After a failure: everything under npm, and every OpenCode a runner reported (an adopted one is not under npm). */
function killAll(child: ChildProcess | undefined, out: string): void {
  for (const m of out.matchAll(/runner ready (\{.*\})/g)) {
    const pid = (JSON.parse(m[1]!) as { opencodePid: number }).opencodePid;
    // Only while that pid is still an OpenCode server started from this tree (pids get reused).
    const cmd = cmdline(pid);
    if (!cmd[0]?.startsWith(REPO_ROOT) || !cmd.includes("serve")) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  if (!child?.pid || child.exitCode !== null) return;
  for (const pid of descendants(child.pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  signalGroup(child.pid, "SIGKILL");
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "agentroom-start-"));
  port = await freePort();
  npm = startNpm(stateDir, port, (s) => (output += s));
  await running(npm, () => output);
}, 180_000);

afterAll(async () => {
  if (npm?.pid && npm.exitCode === null) console.log(`npm start's output (the test failed before stopping it):\n${output.slice(-6000)}`);
  killAll(npm, output);
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe("npm start supervises", () => {
  it("heals a killed front workerd, a killed Worker workerd and a killed runner; a SIGINT to npm alone leaves nothing behind", async () => {
    // The printed URL opens the app with the operator token in its fragment.
    const printed = output.match(/(http:\/\/127\.0\.0\.1:\d+)\/#token=(\S+)/);
    expect(printed?.[1]).toBe(url());
    const created = await fetch(`${url()}/api/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${printed![2]}`, "content-type": "application/json" },
      body: JSON.stringify({ title: "supervised" }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const driver = await client(id, "driver");
    const viewer = await client(id, "viewer");
    await converges(driver, viewer, "hello before any kill");

    const times: Record<"front" | "inner" | "hung" | "runner", number[]> = { front: [], inner: [], hung: [], runner: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      // SIGKILL the front workerd, SIGKILL the Worker's own, then hang the Worker's own (SIGSTOP).
      for (const which of ["front", "inner", "hung"] as const) {
        const pair = wranglerWorkerds(port);
        expect(pair, `both workerds of wrangler dev (round ${round})`).not.toBeNull();
        const t0 = Date.now();
        if (which === "hung") process.kill(pair!.inner, "SIGSTOP");
        else process.kill(pair![which], "SIGKILL");
        await until(async () => !(await healthy()) || Date.now() - t0 > 3_000, 10_000, "the kill to take effect");
        await until(() => healthy(), RECOVERY_LIMIT_MS + 5_000, `/health after the ${which} workerd was killed`);
        const ms = Date.now() - t0;
        times[which].push(ms);
        console.log(`npm start: /health back ${ms} ms after the ${which} workerd's fault (round ${round})`);
        expect(ms, `/health answered again after the ${which} workerd's fault`).toBeLessThan(RECOVERY_LIMIT_MS);
        await converges(driver, viewer, `after ${which} kill ${round}`);
      }

      const pid = runnerPid();
      expect(pid, "the runner's pid").toBeDefined();
      const workerBefore = wranglerWorkerds(port);
      const restartsBefore = output.split("restarting wrangler dev").length;
      const t0 = Date.now();
      process.kill(pid!, "SIGKILL");
      await until(() => !viewer.transcript.session?.agentOnline, 15_000, "the room to notice the runner gone");
      await until(() => viewer.transcript.session?.agentOnline && runnerPid() !== undefined && runnerPid() !== pid, RECOVERY_LIMIT_MS + 5_000, "a new runner to hold the session");
      times.runner.push(Date.now() - t0);
      console.log(`npm start: a new runner held the session ${Date.now() - t0} ms after the runner's SIGKILL (round ${round})`);
      expect(Date.now() - t0).toBeLessThan(RECOVERY_LIMIT_MS);
      // The Worker stayed up meanwhile: the same two workerds, and no restart of wrangler dev.
      expect(wranglerWorkerds(port)).toEqual(workerBefore);
      expect(output.split("restarting wrangler dev").length).toBe(restartsBefore);
      expect(await healthy()).toBe(true);
      await converges(driver, viewer, `after runner kill ${round}`);
    }
    console.log(`npm start recovery (ms, ${ROUNDS} round(s)): ${JSON.stringify(times)}`);
    expect(output).toMatch(/\[start\] the Worker has not answered \/health for [\d.]+ s .*restarting wrangler dev/);
    expect(output).toMatch(/\[start\] the runner exited \(SIGKILL\).*restarting it in/);
    driver.close();
    viewer.close();

    // SIGINT to npm alone: npm passes it to start.ts (the script execs node), which stops all.
    // OpenCode is not always below npm: a restarted runner adopts the server its killed
    // predecessor left (reparented to init), and must still stop it.
    const ocPid = opencode().opencodePid;
    expect(alive(ocPid)).toBe(true);
    const everyone = [npm.pid!, ...descendants(npm.pid!), ocPid];
    expect(everyone.some((p) => cmdline(p).some((a) => a.endsWith("wrangler.js")))).toBe(true);
    expect(everyone.filter((p) => cmdline(p)[0] !== "/bin/sh" && cmdline(p).some((a) => a.endsWith("runner/main.ts")))).toHaveLength(1);
    expect(await stopAndList(npm, everyone, () => process.kill(npm.pid!, "SIGINT"))).toEqual([]);
    expect(await portFree(port)).toBe(true);
    expect(output).toContain("[start] stopped");
  }, 600_000);

  it("Ctrl-C in a terminal (SIGINT to the whole foreground group) stops everything in order", async () => {
    const dir = await mkdtemp(join(tmpdir(), "agentroom-start-"));
    let out = "";
    const port2 = await freePort();
    const child = startNpm(dir, port2, (s) => (out += s));
    try {
      await running(child, () => out);
      const everyone = [child.pid!, ...descendants(child.pid!), opencodeOf(out).opencodePid];
      expect(everyone.filter(alive).length).toBeGreaterThanOrEqual(6); // npm, node, 2 watchdogs, wrangler, 2 workerds, runner, OpenCode
      expect(await stopAndList(child, everyone, () => signalGroup(child.pid, "SIGINT"))).toEqual([]);
      expect(await portFree(port2)).toBe(true);
      // In order: the runner (and OpenCode) before the Worker; a second SIGINT (npm passes one on) changes nothing.
      expect(out).toMatch(/\[start\] stopping…[\s\S]*\[runner [^\]]+\] SIG(INT|TERM): stopping[\s\S]*\[start\] stopped/);
    } finally {
      killAll(child, out);
      await rm(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
