/**
 * `npx agentroom watch` in a real terminal (tmux), against the real stack (workerd through
 * wrangler dev, the runner, opencode and the scripted model). One session, two terminals: a
 * viewer reading the HTTP stream and a driver on the room's WebSocket. The driver types a prompt
 * and answers the bash permission with the `y` key; both terminals show the streamed answer, the
 * tools with their status, the write's diff and the wait for the permission; Ctrl-C ends each
 * watcher and leaves no process behind. The viewer's screen is saved for the README
 * (docs/screenshots/watch.txt).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startStack, until, type Stack } from "./harness/stack.ts";
import { REPO_ROOT } from "./harness/worker.ts";
import { Tmux, processesWith, terminalHtml } from "./harness/tmux.ts";
import { launchBrowser } from "./harness/browser.ts";
import { startChaosProxy, type ChaosProxy } from "./harness/proxy.ts";

let stack: Stack;
/** The viewer's network: a TCP proxy the test cuts while events keep coming. */
let net: ChaosProxy;
const tmux = new Tmux();

beforeAll(async () => {
  stack = await startStack();
  net = await startChaosProxy({ port: stack.worker.port }, { seed: 1 });
}, 180_000);

afterAll(async () => {
  tmux.stop();
  await net?.close();
  await stack?.stop();
});

describe("agentroom watch in a terminal", () => {
  it("a viewer follows the run; a driver prompts and answers a permission from the keyboard; Ctrl-C leaves nothing running", async () => {
    const t0 = Date.now();
    const mark = (what: string) => console.log(`[cli-watch] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const s = await stack.worker.createSession({ title: "terminal watch" });
    const url = `${stack.worker.url}/s/${s.id}`;
    // Tokens travel in the environment, so no screen (and no saved capture) ever shows one.
    const viewer = await stack.worker.mintToken({ sid: s.id, role: "viewer", name: "vic" });
    const driver = await stack.worker.mintToken({ sid: s.id, role: "driver", name: "dana" });
    const env = { NO_COLOR: "", TERM: "xterm-256color", PATH: process.env.PATH ?? "/usr/bin:/bin" };
    tmux.open("view", { cwd: REPO_ROOT, env: { ...env, AGENTROOM_TOKEN: viewer } });
    tmux.open("drive", { cwd: REPO_ROOT, env: { ...env, AGENTROOM_TOKEN: driver } });
    tmux.type("view", `npx agentroom watch ${net.url("http")}/s/${s.id}; echo "[exit $?]"`);
    tmux.keys("view", "Enter");
    tmux.type("drive", `npx agentroom watch --driver ${url}; echo "[exit $?]"`);
    tmux.keys("drive", "Enter");
    await stack.runner.waitHolding(s.id);
    await tmux.waitFor("view", "● live", 60_000);
    await tmux.waitFor("drive", /● live.*driver/, 60_000);
    mark("both watchers live");

    // A prompt typed in the driver's terminal runs: a write (a diff) and a bash call that asks.
    tmux.type("drive", "please write notes.md then run bash");
    tmux.keys("drive", "Enter");
    const asked = await tmux.waitFor("drive", "⚠ permission", 120_000);
    expect(asked).toContain("allow once");
    const shown = (text: string) => text.replaceAll(net.url("http"), "https://agentroom.example.com").replaceAll(stack.worker.url, "https://agentroom.example.com").trimEnd() + "\n";
    writeFileSync(join(REPO_ROOT, "docs", "screenshots", "watch-driver.txt"), shown(tmux.capture("drive")));
    const driverScreen = shown(tmux.capture("drive", { ansi: true }));
    mark("permission asked");
    const viewerWaits = await tmux.waitFor("view", "waiting for a driver to answer", 30_000);
    expect(viewerWaits).toContain("› please write notes.md then run bash");
    expect(viewerWaits).toContain("I'll create `notes.md`.");
    // The write's diff, line by line, and its one-line summary.
    expect(viewerWaits).toMatch(/✓ write .*notes\.md/);
    expect(viewerWaits).toMatch(/\+2 −0/);
    expect(viewerWaits).toMatch(/1 \+ Hello from the scripted model\./);

    // The viewer's network drops (open connections cut, new ones refused) and the rest of the turn
    // happens meanwhile; it resumes from its offset once the network is back.
    net.configure({ refuseProbability: 1 });
    expect(net.cutAll("reset")).toBeGreaterThan(0);
    await tmux.waitFor("view", "○ reconnecting", 30_000);

    // Answered from the keyboard: the bash call runs and the turn ends.
    tmux.keys("drive", "y");
    const done = await tmux.waitFor("drive", "Done. The last tool reported", 120_000);
    expect(done).toMatch(/✓ bash cat notes\.md && ls -la/);
    expect(done).toMatch(/\d+ lines of output: Hello from the scripted model\./);
    expect(tmux.capture("view")).not.toContain("Done. The last tool reported");
    net.configure({ refuseProbability: 0 });
    const seen = await tmux.waitFor("view", /Done\. The last tool reported[\s\S]*● live.*idle/, 60_000);
    expect(seen).not.toContain("⚠ permission");
    expect(seen).toMatch(/✓ bash/);
    mark("turn over in both terminals");
    expect(seen).not.toContain(viewer);
    expect(tmux.capture("drive", { history: true })).not.toContain(driver);
    writeFileSync(join(REPO_ROOT, "docs", "screenshots", "watch.txt"), shown(tmux.capture("view")));

    // Ctrl-C: each watcher exits and no process of it is left.
    for (const pane of ["view", "drive"]) {
      tmux.keys(pane, "C-c");
      await tmux.waitFor(pane, /\[exit 130\]/, 30_000);
    }
    mark("both exited");
    await until(() => processesWith(s.id).length === 0, 10_000, `no process left for ${s.id}: ${JSON.stringify(processesWith(s.id))}`);

    // `agentroom export` writes the same run as Markdown and as OpenCode JSON (viewer token, Bearer).
    const dir = mkdtempSync(join(tmpdir(), "agentroom-export-"));
    try {
      // The bin itself (npx's start-up was shown above; under load it costs seconds per call).
      const run = (...args: string[]) => promisify(execFile)(process.execPath, [join(REPO_ROOT, "cli", "bin.js"), "export", url, ...args], { cwd: REPO_ROOT, env: { ...process.env, AGENTROOM_TOKEN: viewer } });
      const md = await run("-o", join(dir, "run.md"));
      expect(md.stderr).toContain(`wrote ${join(dir, "run.md")}`);
      expect(md.stderr + md.stdout).not.toContain(viewer);
      const doc = readFileSync(join(dir, "run.md"), "utf8");
      expect(doc).toContain("please write notes.md then run bash");
      expect(doc).toContain("Done. The last tool reported");
      await run("--format", "json", "-o", join(dir, "run.json"));
      const json = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { messages: unknown[] };
      expect(json.messages.length).toBeGreaterThanOrEqual(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    mark("exported");

    // The driver's terminal at the permission wait, as a picture for the README.
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
      await page.setContent(terminalHtml(driverScreen, { columns: 120, title: "agentroom watch --driver" }));
      await page.locator("pre").screenshot({ path: join(REPO_ROOT, "docs", "screenshots", "watch-driver.png") });
    } finally {
      await browser.close();
    }
  }, 420_000);
});
