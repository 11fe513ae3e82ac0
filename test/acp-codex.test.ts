/**
 * Codex in a room (real workerd, real runner, the real codex-acp binary from
 * @zed-industries/codex-acp against the scripted model's OpenAI Responses stream; no network but
 * 127.0.0.1):
 *
 *   - a prompt answered with streamed text (no warning chunk first: the scripted provider names a
 *     model Codex knows);
 *   - a write (apply_patch, shown with its diff) and a shell call asking for escalation, each
 *     waiting for approval, answered by a driver (a viewer cannot). Codex's sandbox needs
 *     bubblewrap; without it the sandboxed apply_patch fails and Codex asks to retry it unsandboxed,
 *     so the write may or may not ask, depending on the machine: the shell call always asks;
 *   - Stop mid-answer ends the turn, and a follow-up queued meanwhile runs after it;
 *   - the agent process ends with the runner; a restarted runner loads the session and answers;
 *   - with an OPENAI_API_KEY (a fake one) the runner authenticates codex-acp and its session starts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, joinRoom, turnDone, userTexts, answerChars, until, type Stack } from "./harness/stack.ts";
import { agentPids as runnerAgentPids, alive, expectWriteAndBash, stopThenFollowUp, toolParts, withRunnerLog } from "./harness/acp.ts";
import { codexTurns, expectAgentRecord, toolNames } from "./harness/agent-records.ts";
import { join } from "node:path";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ runnerEnv: { AGENTROOM_AGENTS: "codex" } });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const logged = <T>(what: string, p: Promise<T>): Promise<T> => withRunnerLog(stack.runner, what, p);


describe("ACP: Codex (codex-acp) in a room", () => {
  it("streams an answer; a patch with its diff and a shell call wait for a driver's approval; Stop ends an answer and a queued follow-up runs; the agent ends with the runner, which resumes it; with a key the runner authenticates it", async () => {
    const s = await stack.worker.createSession({ title: "codex", agent: "codex" });
    await stack.runner.waitHolding(s.id, 120_000);
    const driver = await joinRoom(stack, s.id, "driver", "dana");
    const viewer = await joinRoom(stack, s.id, "viewer", "vic");
    expect(driver.transcript.session?.agent).toBe("codex");

    // A plain prompt: the answer arrives in pieces (seen part-way at least once), then whole.
    const seen = new Set<number>();
    const watch = viewer.onChange(() => seen.add(answerChars(viewer.transcript.messages)));
    await driver.prompt("hello there");
    await logged("first answer", viewer.waitFor((x) => turnDone(x, 2), 60_000));
    watch();
    const final = answerChars(viewer.transcript.messages);
    const firstTexts = viewer.transcript.messages.at(-1)!.parts.flatMap((p) => (p.type === "text" ? [String(p.text)] : []));
    expect(firstTexts.join("")).toMatch(/^Here is a \*\*scripted\*\* answer/);
    expect([...seen].some((n) => n > 0 && n < final)).toBe(true);

    // A patch and a shell call. Every request is answered by the driver, after a viewer's answer
    // is refused; the shell call's request names its command.
    await driver.prompt("please write notes.md and then run bash");
    const answered = new Set<string>();
    const requests: { permission: string; title: string; patterns: string[] }[] = [];
    const approve = viewer.onChange(() => {
      for (const r of viewer.transcript.permissions) {
        if (answered.has(r.id)) continue;
        answered.add(r.id);
        requests.push({ permission: r.permission, title: r.title ?? "", patterns: r.patterns });
        void viewer
          .replyPermission(r.id, "once")
          .catch(() => {})
          .then(() => driver.replyPermission(r.id, "once"));
      }
    });
    await logged("tools turn", viewer.waitFor((x) => turnDone(x, 4) && x.transcript.permissions.length === 0 && requests.some((r) => r.permission === "bash"), 60_000)).catch((e: unknown) => {
      // Which requests came and which tools ran say more than the timeout.
      const tools = toolParts(viewer).map((t) => `${t.tool}:${t.state.status}`);
      throw new Error(`${e instanceof Error ? e.message : String(e)}\nrequests: ${JSON.stringify(requests)}\nopen: ${viewer.transcript.permissions.length}; tools: ${tools.join(", ")}`);
    });
    approve();
    const bash = requests.find((r) => r.permission === "bash")!;
    expect(`${bash.title} ${bash.patterns.join(" ")}`).toContain("cat notes.md");
    console.log(`codex permission requests: ${requests.map((r) => `${r.permission} (${r.title})`).join("; ")}`);

    await expectWriteAndBash(driver, viewer, logged);
    viewer.close();

    const stopMs = await stopThenFollowUp(driver, 8, logged);
    console.log(`codex stop: aborted turn shown ${stopMs} ms after Stop`);

    // The runner ends: codex-acp ends with it. A new runner loads the session and answers.
    const pids = runnerAgentPids(stack.runner);
    expect(pids.some(alive)).toBe(true);
    await stack.runner.stop();
    await until(() => !pids.some(alive) || null, 10_000, "codex-acp gone after the runner stopped");
    await stack.runner.restart();
    await stack.runner.waitHolding(s.id, 120_000);
    await driver.prompt("one more after the restart");
    await logged("after restart", driver.waitFor((x) => turnDone(x, 10), 60_000));
    expect(stack.runner.logs()).toMatch(/session \S+ loaded/);
    expect(userTexts(driver.transcript.messages).at(-1)).toBe("one more after the restart");

    // The room says what Codex recorded in its own rollout file, across the restart (session/load
    // goes on in the same file).
    const codexHome = join(stack.runner.stateDir, "agents", "codex", "codex");
    const sessionId = driver.transcript.session!.opencodeSessionId!;
    const compared = await logged("codex record", expectAgentRecord(driver.transcript.messages, () => codexTurns(codexHome, sessionId), toolNames({ apply_patch: ["edit", "write"], exec_command: ["bash"] })));
    expect(compared).toMatchObject({ turns: 5, tools: 2 });
    console.log(`codex record: ${compared.turns} turns, ${compared.chars} chars of text, ${compared.tools} tool calls equal to Codex's own rollout (read after ${compared.waitedMs} ms)`);
    driver.close();

    // With a real key (here a fake one, no provider in Codex's config), codex-acp asks to be told
    // which auth method to use before it opens a session; the runner picks the one its variables
    // name. Only the session's start is checked: a prompt would need the network.
    await stack.runner.stop();
    const keyed = await stack.startRunner({ name: "keyed", env: { OPENAI_API_KEY: "sk-agentroom-test-not-a-key" } });
    await keyed.ready();
    const k = await stack.worker.createSession({ title: "codex keyed", agent: "codex" });
    await keyed.waitHolding(k.id, 60_000);
    await until(() => /codex session \S+ \(modes/.test(keyed.logs().split(`room ${k.id}:`).slice(1).join("")) || null, 30_000, "keyed codex session started");
    // The runner's sessions share its CODEX_HOME: the first agent to start authenticates (this
    // runner also takes over the earlier session), the others find the key stored.
    expect(keyed.logs()).toMatch(/codex authenticated \(openai-api-key\)/);
    await keyed.stop();
  }, 300_000);
});
