/**
 * A session as a file (`GET /api/sessions/:id/export`), against the real stack (workerd through
 * wrangler dev, the real runner and opencode, the scripted model): a turn that writes a file and
 * runs bash once a driver approves is exported as Markdown (prompts, answers, tools with inputs and
 * outputs, diffs, who prompted and approved, times) and as OpenCode JSON, which is imported into a
 * real `opencode` with its own fresh data dirs; OpenCode's own export of the imported session holds
 * the room's messages, text and tool calls. Bad requests answer a code and change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startStack, joinRoom, turnDone, type Stack } from "./harness/stack.ts";
import { REPO_ROOT } from "./harness/worker.ts";
import { launchBrowser, openPage, screenshot } from "./harness/browser.ts";
import { buildOpencodeConfig, opencodeDirs, opencodeEnv, prepareOpencodeDirs } from "../runner/opencode-config.ts";
import { utc } from "../shared/export-markdown.ts";
import type { OpencodeExport } from "../shared/export-opencode.ts";
import type { MessageWithParts, Part } from "../shared/parts.ts";
import { writeContent } from "../runner/scripted-model.ts";

const run = promisify(execFile);
/** Characters the test's file is written with: just above the room's inline field size (64 KiB), as each costs streaming time. */
const BIG = 70_000;
let stack: Stack;
let scratch: string;

beforeAll(async () => {
  [stack, scratch] = await Promise.all([startStack(), mkdtemp(join(tmpdir(), "agentroom-export-"))]);
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const exportUrl = (id: string, format: string) => `${stack.worker.url}/api/sessions/${id}/export?format=${format}`;
const get = (url: string, token?: string) => fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});

/** What a round trip must keep of each message: id, role, text, and every tool call. */
function essence(messages: readonly MessageWithParts[]) {
  return messages.map((m) => ({
    id: m.info.id,
    role: m.info.role,
    text: m.parts.filter((p) => p.type === "text").map((p) => p.text),
    tools: m.parts
      .filter((p) => p.type === "tool")
      .map((p) => {
        const st = p.state as { status: string; input?: unknown; output?: unknown };
        return { callID: p.callID, tool: p.tool, status: st.status, input: st.input, output: st.output };
      }),
  }));
}

/** `opencode import` of the file into a fresh OpenCode (its own HOME and XDG dirs), then its `opencode export`. */
async function roundTrip(file: string, sessionID: string): Promise<OpencodeExport> {
  const dirs = opencodeDirs(join(scratch, "opencode"));
  prepareOpencodeDirs(dirs);
  const provider = { kind: "scripted" as const, baseURL: "http://127.0.0.1:9/v1" };
  const env = opencodeEnv(dirs, buildOpencodeConfig({ provider }), provider);
  const bin = join(REPO_ROOT, "node_modules", ".bin", "opencode");
  const imported = await run(bin, ["import", file], { env, cwd: dirs.home, timeout: 60_000 });
  expect(imported.stdout + imported.stderr).toContain(`Imported session: ${sessionID}`);
  // Into a file: opencode (Bun) exits before a pipe has taken a large export's last bytes.
  const out = join(scratch, "reexported.json");
  const fd = openSync(out, "w");
  try {
    const child = spawn(bin, ["export", sessionID], { env, cwd: dirs.home, stdio: ["ignore", fd, "ignore"] });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("exit", resolve);
      child.once("error", reject);
    });
    expect(code).toBe(0);
  } finally {
    closeSync(fd);
  }
  return JSON.parse(await readFile(out, "utf8")) as OpencodeExport;
}

describe("export", () => {
  it("a turn with a tool and an approval, as Markdown and as OpenCode JSON that `opencode import` takes back whole", async () => {
    const s = await stack.worker.createSession({ title: "export me" });
    await stack.runner.waitHolding(s.id);
    const driver = await joinRoom(stack, s.id, "driver", "dana");
    const viewer = await stack.worker.mintToken({ sid: s.id, role: "viewer", name: "bot" });
    // A file large enough that the room keeps the write's input shortened: the export reads it back whole.
    await driver.prompt(`please write notes.md size=${BIG} and then run bash`);
    await driver.waitFor((x) => x.transcript.permissions.length === 1, 90_000);
    await driver.replyPermission(driver.transcript.permissions[0]!.id, "once");
    await driver.waitFor((x) => turnDone(x, 4) && x.transcript.permissions.length === 0, 90_000);
    const room = driver.transcript;
    const shortened = room.messages.flatMap((m) => m.parts).filter((p) => p.truncated?.length);
    expect(shortened.length).toBeGreaterThan(0);
    const content = writeContent("notes.md", BIG);

    // Markdown, with a viewer's token.
    const md = await get(exportUrl(s.id, "md"), viewer);
    expect(md.status).toBe(200);
    expect(md.headers.get("content-type")).toContain("text/markdown");
    expect(md.headers.get("content-disposition")).toMatch(new RegExp(`attachment; filename="export-me-${s.id}\\.md"`));
    const text = await md.text();
    const user = room.messages.find((m) => m.info.role === "user")!;
    expect(text).toContain("# export me");
    expect(text).toContain(`## Prompt by dana · ${utc(user.info.time.created)}`);
    expect(text).toContain(`please write notes.md size=${BIG} and then run bash`);
    expect(text).toContain("I'll create `notes.md`.");
    expect(text).toMatch(/### Tool `write`.*\(completed\)/);
    expect(text).toContain(JSON.stringify(content).slice(-300, -1)); // the write's input, to its end
    expect(text).toContain("Wrote file successfully."); // its output
    expect(text).toMatch(/### Tool `bash`.*\(completed\)/);
    expect(text).toMatch(/Permission `bash` for `[^`]*cat notes\.md[^`]*`, asked [^:]+:\d\d:\d\d UTC: \*\*approved once\*\* by dana at /);
    expect(text).toMatch(/Diff:\n\n```diff\n--- \/dev\/null\n\+\+\+ b\/\S*notes\.md[^\n]*\n@@ -0,0 \+1,\d+ @@\n\+Hello from the scripted model\.\n/);
    if (room.diff.length) expect(text).toContain("## Changes");
    for (const d of room.diff) expect(text).toContain(`### \`${d.file}\``);
    console.log(`export: Markdown ${text.length} chars\n${text.slice(0, 1200)}`);

    // OpenCode JSON, imported into a fresh OpenCode and exported again by it.
    const res = await get(exportUrl(s.id, "json"), viewer);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toContain(`${s.id}.json"`);
    const file = (await res.json()) as OpencodeExport;
    const sessionID = room.session!.opencodeSessionId!;
    expect(file.info.id).toBe(sessionID);
    const path = join(scratch, "session.json");
    await writeFile(path, JSON.stringify(file));
    const back = await roundTrip(path, sessionID);
    expect(back.info.title).toBe("export me");
    // The room's record in full: its shortened parts as GET /parts/:id gives them.
    const full = async (p: Part): Promise<Part> => (p.truncated?.length ? ((await (await get(`${stack.worker.url}/api/sessions/${s.id}/parts/${p.id}`, viewer)).json()) as { part: Part }).part : p);
    const record = await Promise.all(room.messages.map(async (m) => ({ info: m.info, parts: await Promise.all(m.parts.map(full)) })));
    const roomEssence = essence(record);
    expect(JSON.stringify(roomEssence)).toContain(JSON.stringify(content));
    expect(essence(back.messages as unknown as MessageWithParts[])).toEqual(roomEssence);
    expect(roomEssence.flatMap((m) => m.tools.map((t) => t.tool))).toEqual(["write", "bash"]);
    console.log(`export: opencode import round trip — ${back.messages.length} messages, ${roomEssence.flatMap((m) => m.tools).length} tool calls, ${roomEssence.flatMap((m) => m.text).join("").length} chars of text, equal to the room's`);

    // The app's Export menu downloads both with the viewer's token (fetch + Bearer, no token in a URL).
    const browser = await launchBrowser();
    try {
      const { page, errors } = await openPage(browser, `${stack.worker.url}/s/${s.id}#token=${viewer}`, { waitFor: ".msg" });
      await page.getByRole("button", { name: "Export" }).click();
      await page.getByRole("menu", { name: "Export this session" }).waitFor();
      await screenshot(page, "export", join(REPO_ROOT, "docs", "screenshots"));
      for (const [format, needle] of [
        ["md", "## Prompt by dana"],
        ["json", `"id": "${sessionID}"`],
      ] as const) {
        if (!(await page.getByRole("menu").isVisible())) await page.getByRole("button", { name: "Export" }).click();
        const [download] = await Promise.all([page.waitForEvent("download"), page.locator(`[data-export="${format}"]`).click()]);
        expect(download.suggestedFilename()).toBe(`export-me-${s.id}.${format}`);
        expect(await readFile((await download.path())!, "utf8")).toContain(needle);
      }
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
    driver.close();
  }, 240_000);

  it("refuses a bad format, a missing token, a token in the URL and an unknown session, with a code", async () => {
    const s = await stack.worker.createSession({ title: "export refusals" });
    const viewer = await stack.worker.mintToken({ sid: s.id, role: "viewer", name: "bot" });
    const code = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;
    const bad = await get(exportUrl(s.id, "pdf"), viewer);
    expect([bad.status, await code(bad)]).toEqual([400, "bad_format"]);
    const none = await get(exportUrl(s.id, "md"));
    expect(none.status).toBe(401);
    // A token in the URL is refused (and its link spent, party/url-tokens.ts): another viewer's.
    const spent = await stack.worker.mintToken({ sid: s.id, role: "viewer", name: "careless" });
    const inUrl = await get(`${exportUrl(s.id, "md")}&token=${spent}`);
    expect(inUrl.status).toBe(401);
    const unknown = await get(exportUrl("nosuchsession", "md"), viewer);
    expect(unknown.status).toBeGreaterThanOrEqual(401);
    expect(unknown.status).toBeLessThan(500);
    expect((await get(exportUrl(s.id, "json"), viewer)).status).toBe(200);
  }, 60_000);
});
