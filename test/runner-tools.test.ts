/**
 * A real OpenCode agent in a room (real workerd, real runner, real `opencode`, the scripted model;
 * no network but 127.0.0.1): it writes a file and asks permission for a bash command; viewers see
 * it all live; a driver approves or rejects; a viewer can make the agent do nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { startStack, joinRoom, turnDone, partSummary, opencodeMessages, type Stack } from "./harness/stack.ts";
import type { RoomClient } from "../shared/room-client.ts";
import type { RoomEvent } from "../shared/protocol.ts";
import { setTimeout as sleep } from "node:timers/promises";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

/** Every durable event a client received, in order. */
function recordEvents(c: RoomClient): RoomEvent[] {
  const seen: RoomEvent[] = [];
  c.onFrame((f) => {
    if (f.type === "events") seen.push(...(f.events as RoomEvent[]));
  });
  return seen;
}

function toolStatuses(events: RoomEvent[], tool: string): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.type !== "part.upsert" || e.part.type !== "tool" || e.part.tool !== tool) continue;
    const s = (e.part.state as { status: string }).status;
    if (out[out.length - 1] !== s) out.push(s);
  }
  return out;
}

async function newSession(title: string) {
  const s = await stack.worker.createSession({ title });
  await stack.runner.waitHolding(s.id);
  const driver = await joinRoom(stack, s.id, "driver", "dana");
  const viewers = [await joinRoom(stack, s.id, "viewer", "vic"), await joinRoom(stack, s.id, "viewer", "val")];
  return { s, driver, viewers };
}

describe("runner: tools and permissions", () => {
  it("writes a file, asks to run bash, and runs it once a driver approves", async () => {
    const { s, driver, viewers } = await newSession("approve");
    const seen = viewers.map(recordEvents);
    await driver.prompt("please write notes.md and then run bash");

    // Every viewer sees the permission request (who may answer it is the room's business).
    await Promise.all(viewers.map((v) => v.waitFor((x) => x.transcript.permissions.length === 1, 90_000)));
    const req = viewers[0]!.transcript.permissions[0]!;
    expect(req.permission).toBe("bash");
    expect(req.patterns.join(" ")).toContain("cat notes.md");

    await driver.replyPermission(req.id, "once");
    await Promise.all([driver, ...viewers].map((c) => c.waitFor((x) => turnDone(x, 4) && x.transcript.permissions.length === 0, 90_000)));

    // The file is really there, in the session's own workspace.
    const workspace = driver.transcript.session!.workspace!;
    expect(workspace.startsWith(stack.workspacesDir)).toBe(true);
    expect(readFileSync(join(workspace, "notes.md"), "utf8")).toContain("Hello from the scripted model");
    expect(driver.transcript.session!.demo).toBe(true);
    expect(driver.transcript.session!.model).toBe("scripted/demo");

    for (const events of seen) {
      // Text arrived as deltas, not only as the final snapshot.
      expect(events.some((e) => e.type === "part.delta" && e.delta.length > 0)).toBe(true);
      expect(toolStatuses(events, "write")).toEqual(["pending", "running", "completed"]);
      const bash = toolStatuses(events, "bash");
      expect(bash[0]).toBe("pending");
      expect(bash.at(-1)).toBe("completed");
      expect(events.some((e) => e.type === "permission.asked")).toBe(true);
    }
    // Both viewers hold the same transcript as the driver, and nothing twice or left running.
    const summary = partSummary(driver.transcript.messages);
    expect(new Set(summary.ids).size).toBe(summary.ids.length);
    expect(summary.running).toEqual([]);
    for (const v of viewers) expect(JSON.stringify(v.transcript.messages)).toBe(JSON.stringify(driver.transcript.messages));

    // And the room equals OpenCode's own transcript, part for part.
    const oc = await opencodeMessages(stack.runner, driver.transcript.session!.opencodeSessionId!, workspace);
    expect(driver.transcript.messages.map((m) => m.info.id)).toEqual(oc.map((m) => m.info.id));
    expect(driver.transcript.messages.map((m) => m.parts.map((p) => p.id))).toEqual(oc.map((m) => m.parts.map((p) => p.id)));
    for (const c of [driver, ...viewers]) c.close();
    expect(s.id).toBeTruthy();
  }, 240_000);

  it("a rejection with a message stops the command and the agent hears why", async () => {
    const { driver, viewers } = await newSession("reject");
    await driver.prompt("please write other.md and then run bash");
    await driver.waitFor((x) => x.transcript.permissions.length === 1, 90_000);
    const req = driver.transcript.permissions[0]!;
    await driver.replyPermission(req.id, "reject", "no, use ls instead");
    await Promise.all([driver, ...viewers].map((c) => c.waitFor((x) => turnDone(x, 4), 90_000)));

    const parts = driver.transcript.messages.flatMap((m) => m.parts);
    const bash = parts.find((p) => p.type === "tool" && p.tool === "bash") as { state: { status: string; error?: string } } | undefined;
    expect(bash?.state.status).toBe("error");
    expect(bash?.state.error).toContain("no, use ls instead");
    // The model was told (its closing text quotes the last tool result).
    const last = driver.transcript.messages[driver.transcript.messages.length - 1]!;
    expect(last.parts.some((p) => p.type === "text" && String(p.text).includes("no, use ls instead"))).toBe(true);
    // The write before it still happened.
    expect(existsSync(join(driver.transcript.session!.workspace!, "other.md"))).toBe(true);
    expect(partSummary(driver.transcript.messages).running).toEqual([]);
    for (const c of [driver, ...viewers]) c.close();
  }, 240_000);

  it("a viewer's connection cannot make the agent do anything", async () => {
    const { driver, viewers } = await newSession("viewer");
    const viewer = viewers[0]!;
    const before = stack.model.requests().length;

    await expect(viewer.prompt("please write hacked.md and then run bash")).rejects.toMatchObject({ code: "forbidden" });
    await expect(viewer.stop()).rejects.toMatchObject({ code: "forbidden" });
    await expect(viewer.setMode("plan")).rejects.toMatchObject({ code: "forbidden" });
    await expect(viewer.replyPermission("per_anything", "always")).rejects.toMatchObject({ code: "forbidden" });
    // Agent frames forged on a viewer's socket are refused too.
    const errors: string[] = [];
    viewer.onError((e) => errors.push(e.code));
    viewer.send({ type: "agent.batch", batchId: "forged", events: [{ body: { type: "status", status: "busy" } }] });
    viewer.send({ type: "agent.prompt.started", queueId: "x" });
    await sleep(1_500);

    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(stack.model.requests().length).toBe(before);
    expect(viewer.transcript.queue).toEqual([]);
    expect(viewer.transcript.messages).toEqual([]);
    expect(viewer.transcript.session!.agentStatus).toBe("idle");
    expect(viewer.transcript.session!.mode).toBe("build");
    expect(existsSync(join(driver.transcript.session!.workspace!, "hacked.md"))).toBe(false);
    for (const c of [driver, ...viewers]) c.close();
  }, 120_000);

  it("todos and a question reach the room; a driver's answer reaches the agent", async () => {
    const { driver, viewers } = await newSession("question");
    await driver.prompt("make a todo list and ask me a question");
    await viewers[0]!.waitFor((x) => x.transcript.questions.length === 1 && x.transcript.todos.length === 3, 90_000);
    const q = viewers[0]!.transcript.questions[0]!;
    expect(q.questions[0]?.question).toContain("colour");
    expect(viewers[0]!.transcript.todos.map((t) => t.status)).toEqual(["completed", "in_progress", "pending"]);
    await driver.replyQuestion(q.id, [["Blue"]]);
    await driver.waitFor((x) => turnDone(x, 4) && x.transcript.questions.length === 0, 90_000);
    // The model's usage reports add up in the room's `usage` slice (usage.update per assistant message).
    expect(driver.transcript.usage.turn).not.toBeNull();
    expect(driver.transcript.usage.total.tokens.output).toBeGreaterThan(0);
    const last = driver.transcript.messages.at(-1)!;
    expect(last.parts.some((p) => p.type === "text" && String(p.text).includes("Blue"))).toBe(true);
    for (const c of [driver, ...viewers]) c.close();
  }, 240_000);

  it("a provider error is shown as the session's error, and the next prompt works", async () => {
    const { driver, viewers } = await newSession("error");
    await driver.prompt("please error now");
    await viewers[0]!.waitFor((x) => (x.transcript.session?.lastError ?? "").includes("Scripted provider error"), 90_000).catch((e) => {
      throw new Error(`${String(e)}\nsession: ${JSON.stringify(viewers[0]!.transcript.session)}\nmodel: ${JSON.stringify(stack.model.requests().slice(-5))}\n${stack.runner.logs().slice(-3000)}`);
    });
    await driver.waitFor((x) => x.transcript.session?.agentStatus === "idle", 30_000);
    await driver.prompt("hello");
    await driver.waitFor((x) => turnDone(x, 4) && x.transcript.messages.at(-1)!.info.error === undefined, 90_000).catch((e) => {
      const t = driver.transcript;
      throw new Error(`${String(e)}\nsession: ${JSON.stringify(t.session)}\nqueue: ${JSON.stringify(t.queue)}\nmessages: ${JSON.stringify(t.messages.map((m) => [m.info.role, m.info.time, m.info.error?.name, m.parts.length]))}\nmodel: ${JSON.stringify(stack.model.requests().slice(-5))}\n${stack.runner.logs().slice(-3000)}`);
    });
    for (const c of [driver, ...viewers]) c.close();
  }, 240_000);

  it("clones a session's workspace from a git URL and works in the clone; a local repository outside the roots is refused", async () => {
    // An origin the runner may read (inside its workspaces dir), holding one committed file.
    const git = (cwd: string, ...args: string[]): string =>
      execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd, encoding: "utf8" }).trim();
    const makeOrigin = (bare: string): string => {
      const src = mkdtempSync(join(tmpdir(), "origin-src-"));
      git(src, "init", "-q");
      writeFileSync(join(src, "README.md"), "the cloned project\n");
      git(src, "add", "README.md");
      git(src, "commit", "-q", "-m", "first");
      git(src, "clone", "-q", "--bare", src, bare);
      return pathToFileURL(bare).href;
    };
    mkdirSync(join(stack.workspacesDir, "origins"), { recursive: true });
    const url = makeOrigin(join(stack.workspacesDir, "origins", "project.git"));

    const s = await stack.worker.createSession({ title: "cloned", repository: url });
    await stack.runner.waitHolding(s.id);
    const driver = await joinRoom(stack, s.id, "driver", "dana");
    expect(driver.transcript.session?.repository).toBe(url);
    await driver.waitFor((x) => x.transcript.session?.workspace !== undefined, 60_000);
    const ws = driver.transcript.session!.workspace!;
    expect(ws).toBe(join(stack.workspacesDir, s.id));
    expect(readFileSync(join(ws, "README.md"), "utf8")).toBe("the cloned project\n");
    expect(git(ws, "remote", "get-url", "origin")).toBe(url);

    // The agent works in the clone: its new file shows up as untracked there.
    await driver.prompt("please write notes.md");
    await driver.waitFor((x) => turnDone(x, 2), 90_000);
    expect(git(ws, "status", "--porcelain")).toBe("?? notes.md");

    // A repository elsewhere on the runner's disk is not the session creator's to read.
    const elsewhere = makeOrigin(join(mkdtempSync(join(tmpdir(), "not-a-root-")), "secret.git"));
    const refused = await stack.worker.createSession({ title: "refused", repository: elsewhere });
    const watcher = await joinRoom(stack, refused.id, "viewer", "vic");
    await watcher.waitFor((x) => (x.transcript.session?.lastError ?? "").includes("outside the directories this runner may use"), 60_000);
    expect(watcher.transcript.session?.workspace).toBeUndefined();
    expect(existsSync(join(stack.workspacesDir, refused.id))).toBe(false);
    driver.close();
    watcher.close();
  }, 240_000);
});
