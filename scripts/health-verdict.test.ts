import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, judgeHealth, limitsFromEnv, type HealthObservation } from "./health-verdict.ts";

const T = 1_000_000;
/** `silentMs` without an answer, alive and accepting, idle unless told otherwise. */
function obs(silentMs: number, o: Partial<HealthObservation> = {}): HealthObservation {
  return {
    now: T,
    lastOk: T - silentMs,
    failedProbes: Math.max(1, Math.floor(silentMs / 5_000)),
    lastFailure: "no answer in 5.0 s",
    refused: false,
    frontAlive: true,
    innerGoneMs: 0,
    crashAt: 0,
    cpuShare: 0,
    runnable: false,
    stopped: false,
    ...o,
  };
}

describe("judgeHealth: slow is not dead", () => {
  it("an answering Worker is ok", () => {
    expect(judgeHealth(obs(0, { failedProbes: 0 })).kind).toBe("ok");
    expect(judgeHealth(obs(900, { failedProbes: 0 })).kind).toBe("ok");
  });

  it("a probe still waiting counts: a dead front is acted on after 1 s, before any probe has timed out", () => {
    expect(judgeHealth(obs(1_000, { failedProbes: 0, frontAlive: false })).kind).toBe("restart");
    expect(judgeHealth(obs(3_500, { failedProbes: 0, stopped: true })).kind).toBe("slow");
  });

  it("a workerd paused (SIGSTOP) for 6 s is slow, not restarted — the old rule restarted it after 3 s", () => {
    for (const ms of [3_000, 6_000, 10_000, 29_000]) expect(judgeHealth(obs(ms, { stopped: true })).kind, `${ms} ms`).toBe("slow");
    expect(judgeHealth(obs(6_000, { stopped: true })).kind === "slow" && judgeHealth(obs(6_000, { stopped: true }))).toMatchObject({ reason: expect.stringMatching(/the room is busy, not restarting/) });
  });

  it("a workerd stopped for good is restarted after 30 s over 3+ failed probes", () => {
    const v = judgeHealth(obs(30_000, { stopped: true, failedProbes: 6 }));
    expect(v.kind).toBe("restart");
    expect(v.kind === "restart" && v.reason).toMatch(/hung: no answer to \/health for 30\.0 s over 6 probes .*stopped \(state T\)/);
  });

  it("one long probe is not several failed ones", () => {
    expect(judgeHealth(obs(35_000, { failedProbes: 2 })).kind).toBe("slow");
    expect(judgeHealth(obs(35_000, { failedProbes: 3 })).kind).toBe("restart");
  });

  it("a workerd using CPU, runnable or in disk wait is waited for, up to 2 min", () => {
    expect(judgeHealth(obs(60_000, { cpuShare: 0.4 })).kind).toBe("slow");
    expect(judgeHealth(obs(60_000, { cpuShare: 0.01, runnable: true })).kind).toBe("slow"); // starved by other work: wants CPU, gets little
    expect(judgeHealth(obs(119_000, { cpuShare: 1 })).kind).toBe("slow");
    const v = judgeHealth(obs(120_000, { cpuShare: 1 }));
    expect(v.kind === "restart" && v.reason).toMatch(/busy without answering .*a loop, not work/);
  });

  it("below 2% of a core is idle", () => {
    expect(judgeHealth(obs(30_000, { cpuShare: 0.01 })).kind).toBe("restart");
    expect(judgeHealth(obs(30_000, { cpuShare: 0.03 })).kind).toBe("slow");
  });

  it("dead is acted on fast, as before: front gone after 1 s, port refused or Worker's workerd gone after 3 s", () => {
    expect(judgeHealth(obs(900, { frontAlive: false })).kind).toBe("ok"); // under 1 s is not silence yet
    expect(judgeHealth(obs(1_000, { frontAlive: false })).kind).toBe("restart");
    expect(judgeHealth(obs(2_900, { refused: true })).kind).toBe("wait");
    expect(judgeHealth(obs(3_000, { refused: true, lastFailure: "ECONNREFUSED" }))).toMatchObject({ kind: "restart", reason: expect.stringMatching(/nothing accepts connections/) });
    expect(judgeHealth(obs(3_000, { innerGoneMs: 3_000, cpuShare: 1 }))).toMatchObject({ kind: "restart", reason: expect.stringMatching(/own workerd is gone/) });
    expect(judgeHealth(obs(8_000, { innerGoneMs: 2_000, cpuShare: 1 })).kind).toBe("slow"); // a reload replacing it
  });

  it("a crash wrangler announced gets 10 s to heal itself, even when its workerd is gone", () => {
    expect(judgeHealth(obs(5_000, { innerGoneMs: 5_000, crashAt: T - 4_000 })).kind).toBe("wait");
    expect(judgeHealth(obs(9_900, { innerGoneMs: 5_000, crashAt: T - 9_000 })).kind).toBe("wait");
    expect(judgeHealth(obs(10_000, { innerGoneMs: 5_000, crashAt: T - 9_500 }))).toMatchObject({ kind: "restart", reason: expect.stringMatching(/though wrangler restarted its crashed workerd/) });
  });

  it("AGENTROOM_WORKER_HUNG_MS shortens only the hung threshold", () => {
    expect(limitsFromEnv({})).toEqual(DEFAULT_LIMITS);
    expect(limitsFromEnv({ AGENTROOM_WORKER_HUNG_MS: "10000" })).toEqual({ ...DEFAULT_LIMITS, hungMs: 10_000 });
    expect(limitsFromEnv({ AGENTROOM_WORKER_HUNG_MS: "soon" })).toEqual(DEFAULT_LIMITS);
  });
});
