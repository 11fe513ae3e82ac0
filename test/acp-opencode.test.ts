/**
 * An ACP agent in a room (real workerd, real runner, the real `opencode acp` binary against the
 * scripted model; no network but 127.0.0.1), and a fake agent that sends bad JSON-RPC.
 *
 *   - a prompt, a write, a bash call waiting for approval answered by a driver (a viewer cannot);
 *   - Stop mid-answer ends the turn, and a follow-up queued meanwhile runs after it;
 *   - the agent process ends with the runner (SIGTERM, SIGINT); a restarted runner resumes the
 *     session (session/load) and answers the next prompt;
 *   - a malformed ACP stream is logged and skipped: the room shows the valid text, the runner lives,
 *     and an agent that dies mid-turn is restarted for the next prompt.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startStack, joinRoom, turnDone, partSummary, userTexts, until, type Stack, type RunnerHandle } from "./harness/stack.ts";
import { agentPids as runnerAgentPids, alive, streamingSlowAnswer, withRunnerLog } from "./harness/acp.ts";
import { claudeCodeTurns, expectAgentRecord, opencodeTurns, toolNames } from "./harness/agent-records.ts";

const REPO = resolve(import.meta.dirname, "..");
const NODE = join(REPO, "node_modules", ".bin", "node");
const AGENTS = `opencode-acp,claude-code,bad=${NODE} ${join(REPO, "test", "fixtures", "bad-acp-agent.ts")}`;

let stack: Stack;
const CLAUDE_TOOLS = toolNames({ mcp__acp__Write: ["write", "edit"], mcp__acp__Edit: ["edit"], mcp__acp__Bash: ["bash"], mcp__acp__Read: ["read"] });

beforeAll(async () => {
  stack = await startStack({ runnerEnv: { AGENTROOM_AGENTS: AGENTS } });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const agentPids = (r: RunnerHandle): number[] => runnerAgentPids(r);
const logged = <T>(what: string, p: Promise<T>): Promise<T> => withRunnerLog(stack.runner, what, p, /^\s|^[{}]|Error handling|Invalid params/);

async function session(agent: string, title: string) {
  const s = await stack.worker.createSession({ title, agent });
  await stack.runner.waitHolding(s.id, 120_000);
  const driver = await joinRoom(stack, s.id, "driver", "dana");
  return { id: s.id, driver };
}

describe("ACP: opencode acp in a room", () => {
  it("writes a file, waits for approval of a bash call; Stop ends an answer and a queued follow-up runs next; the agent ends with the runner, which resumes it", async () => {
    const { driver, id } = await session("opencode-acp", "acp tools");
    const viewer = await joinRoom(stack, id, "viewer", "vic");
    expect(driver.transcript.session?.agent).toBe("opencode-acp");
    await driver.prompt("please write notes.md and then run bash");
    await logged("permission asked", viewer.waitFor((x) => x.transcript.permissions.length === 1, 120_000));
    const req = viewer.transcript.permissions[0]!;
    expect(req.permission).toBe("bash");
    expect(req.patterns.join(" ")).toContain("cat notes.md");
    // A viewer's answer is refused by the room; the driver's goes through.
    await viewer.replyPermission(req.id, "once").catch(() => {});
    await driver.replyPermission(req.id, "once");
    await logged("turn done", Promise.all([driver, viewer].map((c) => c.waitFor((x) => turnDone(x, 2) && x.transcript.permissions.length === 0, 120_000))));

    const workspace = driver.transcript.session!.workspace!;
    expect(readFileSync(join(workspace, "notes.md"), "utf8")).toContain("Hello from the scripted model");
    const parts = driver.transcript.messages.flatMap((m) => m.parts);
    const tools = parts.filter((p) => p.type === "tool") as unknown as { tool: string; state: { status: string; input: Record<string, unknown>; output?: string } }[];
    const write = tools.find((t) => t.tool === "write");
    expect(write?.state.status).toBe("completed");
    expect(String(write?.state.input.content)).toContain("Hello from the scripted model");
    const bash = tools.find((t) => t.tool === "bash");
    expect(bash?.state.status).toBe("completed");
    expect(bash?.state.output).toContain("notes.md");
    expect(parts.some((p) => p.type === "text" && String(p.text).startsWith("Done."))).toBe(true);
    expect(partSummary(driver.transcript.messages).running).toEqual([]);
    expect(JSON.stringify(viewer.transcript.messages)).toBe(JSON.stringify(driver.transcript.messages));
    viewer.close();

    // Stop ends a streaming answer; a follow-up queued meanwhile runs next.
    await driver.prompt("a slow answer chunks=600 delay=40");
    await driver.prompt("and a short follow-up");
    await logged("streaming", driver.waitFor(streamingSlowAnswer, 120_000));
    const t0 = Date.now();
    await driver.stop();
    // The stopped turn ends as aborted; the follow-up then runs to its end.
    await logged("aborted", driver.waitFor((x) => x.transcript.messages.some((m) => (m.info.error as { name?: string } | undefined)?.name === "MessageAbortedError"), 30_000));
    const stopMs = Date.now() - t0;
    await logged("follow-up", driver.waitFor((x) => turnDone(x, 6) && x.transcript.queue.length === 0, 120_000));
    expect(userTexts(driver.transcript.messages).slice(-2)).toEqual(["a slow answer chunks=600 delay=40", "and a short follow-up"]);
    console.log(`acp stop: aborted turn shown ${stopMs} ms after Stop`);

    // The runner ends: its agent processes end with it.
    const pids = agentPids(stack.runner);
    expect(pids.some(alive)).toBe(true);
    await stack.runner.stop();
    await until(() => !pids.some(alive) || null, 10_000, "agent processes gone after the runner stopped");
    await logged("offline after stop", driver.waitFor((x) => x.transcript.session?.agentOnline === false, 30_000));

    // A new runner takes the session, loads the agent's session, and answers.
    await stack.runner.restart();
    await stack.runner.waitHolding(id, 120_000);
    await logged("online after restart", driver.waitFor((x) => x.transcript.session?.agentOnline === true, 120_000));
    await driver.prompt("one more after the restart");
    await logged("after restart", driver.waitFor((x) => turnDone(x, 8), 120_000));
    expect(stack.runner.logs()).toMatch(/session \S+ loaded/);
    expect(userTexts(driver.transcript.messages).at(-1)).toBe("one more after the restart");

    // The room says what OpenCode stored of the session (its tool names are the room's own).
    const sessionId = driver.transcript.session!.opencodeSessionId!;
    const agentRoot = join(stack.runner.stateDir, "agents", "opencode-acp");
    const compared = await logged("opencode record", expectAgentRecord(driver.transcript.messages, () => opencodeTurns(agentRoot, sessionId), toolNames({}), { timeoutMs: 60_000 }));
    expect(compared).toMatchObject({ turns: 4, tools: 2 });
    console.log(`opencode acp record: ${compared.turns} turns, ${compared.chars} chars of text, ${compared.tools} tool calls equal to opencode export (read after ${compared.waitedMs} ms)`);
    driver.close();
  }, 600_000);
});

describe("ACP: Claude Code (claude-code-acp) in a room", () => {
  it("writes a file with a diff and runs bash, each approved by a driver; Stop ends an answer; a queued follow-up runs next", async () => {
    const { driver } = await session("claude-code", "claude");
    await driver.prompt("please write notes.md and then run bash");
    // Claude Code asks before the write and before the command: the driver approves each.
    const approved = new Set<string>();
    const approve = driver.onChange(() => {
      for (const r of driver.transcript.permissions) {
        if (approved.has(r.id)) continue;
        approved.add(r.id);
        void driver.replyPermission(r.id, "once");
      }
    });
    await logged("claude turn", driver.waitFor((x) => turnDone(x, 2) && approved.size >= 2, 120_000));
    approve();
    const workspace = driver.transcript.session!.workspace!;
    expect(readFileSync(join(workspace, "notes.md"), "utf8")).toContain("Hello from the scripted model");
    const tools = driver.transcript.messages.flatMap((m) => m.parts).filter((p) => p.type === "tool") as unknown as { tool: string; state: { status: string; metadata?: { filediff?: { file: string; after: string } }; output?: string } }[];
    const edit = tools.find((t) => t.tool === "edit");
    expect(edit?.state.status).toBe("completed");
    expect(edit?.state.metadata?.filediff?.after).toContain("Hello from the scripted model");
    const bash = tools.find((t) => t.tool === "bash");
    expect(bash?.state.status).toBe("completed");
    expect(partSummary(driver.transcript.messages).running).toEqual([]);

    await driver.prompt("a slow answer chunks=600 delay=40");
    await driver.prompt("and a short follow-up");
    await logged("claude streaming", driver.waitFor(streamingSlowAnswer, 120_000));
    await driver.stop();
    await logged("claude aborted", driver.waitFor((x) => x.transcript.messages.some((m) => (m.info.error as { name?: string } | undefined)?.name === "MessageAbortedError"), 30_000));
    await logged("claude follow-up", driver.waitFor((x) => turnDone(x, 6) && x.transcript.queue.length === 0, 120_000));
    expect(userTexts(driver.transcript.messages).slice(-2)).toEqual(["a slow answer chunks=600 delay=40", "and a short follow-up"]);

    // The room says what Claude Code recorded in its own session file (its tools are ACP's MCP tools).
    const claudeDir = join(stack.runner.stateDir, "agents", "claude-code", "claude");
    const sessionId = driver.transcript.session!.opencodeSessionId!;
    const compared = await logged("claude record", expectAgentRecord(driver.transcript.messages, () => claudeCodeTurns(claudeDir, sessionId), CLAUDE_TOOLS));
    expect(compared.tools).toBeGreaterThanOrEqual(2);
    console.log(`claude record: ${compared.turns} turns, ${compared.chars} chars of text, ${compared.tools} tool calls equal to Claude Code's own JSONL (read after ${compared.waitedMs} ms)`);
    driver.close();
  }, 300_000);
});

describe("ACP: a malformed agent stream", () => {
  it("junk is logged and skipped; an agent that dies mid-turn is shown and restarted", async () => {
    const { driver } = await session("bad", "junk");
    await driver.prompt("hello");
    await logged("junk turn", driver.waitFor((x) => turnDone(x, 2), 120_000));
    const texts = driver.transcript.messages.flatMap((m) => m.parts).filter((p) => p.type === "text").map((p) => String(p.text));
    expect(texts).toContain("Still here after the junk.");
    // The ACP SDK logs each bad message it drops (our own log names unknown update kinds it passes).
    expect(stack.runner.logs()).toContain("Invalid params");

    await driver.prompt("now crash");
    await logged("crash turn", driver.waitFor((x) => turnDone(x, 4) && (x.transcript.session?.lastError ?? "").includes("exited"), 120_000));
    await driver.prompt("and again");
    await logged("after crash", driver.waitFor((x) => turnDone(x, 6), 120_000));
    expect(driver.transcript.messages.at(-1)!.parts.some((p) => p.type === "text" && p.text === "Still here after the junk.")).toBe(true);
    // The runner never died.
    expect(existsSync(`/proc/${stack.runner.pid()}`)).toBe(true);
    driver.close();
  }, 400_000);
});
