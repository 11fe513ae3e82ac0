/**
 * The app in Debian's Chromium against the real stack (workerd, runner, real OpenCode, scripted
 * model): two viewers and a driver on one room; streaming, tool blocks, a permission approved by
 * the driver; a viewer with no composer whose forged prompt frame is refused; a viewer that goes
 * offline and heals without a reload; a page on another origin embedding the room with
 * <agent-room>. Screenshots go to test-results/browser/.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { startStack, type Stack } from "./harness/stack.ts";
import { freePort, REPO_ROOT } from "./harness/worker.ts";
import { launchBrowser, openPage, screenshot, type WatchedPage } from "./harness/browser.ts";

let stack: Stack;
let browser: Browser;
const pages: WatchedPage[] = [];

/** The room store the page exposes for tests (window.__agentroom). */
type RoomHandle = { room: { order: string[]; messages: Record<string, { info: { role: string; time: { completed?: number } }; parts: { type: string; text?: string }[] }>; session: { agentStatus: string } | null; queue: unknown[]; connection: { kind: string } } };

const agentStatus = (p: Page) => p.evaluate(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.session?.agentStatus);

/** The concatenated text of every text part, in order: what a reader sees. */
const transcriptText = (p: Page) =>
  p.evaluate(() => {
    const r = (window as unknown as { __agentroom: RoomHandle }).__agentroom.room;
    return r.order.map((id) => r.messages[id]!.parts.filter((x) => x.type === "text").map((x) => x.text).join("")).join("\n");
  });

async function open(url: string, opts: Parameters<typeof openPage>[2] = {}): Promise<WatchedPage> {
  const p = await openPage(browser, url, { waitFor: ".room", ...opts });
  pages.push(p);
  return p;
}

async function newSession(title: string, allowedOrigins?: string[]) {
  const s = await stack.worker.createSession({ title, ...(allowedOrigins ? { allowedOrigins } : {}) });
  await stack.runner.waitHolding(s.id);
  const token = (role: "viewer" | "driver", name: string) => stack.worker.mintToken({ sid: s.id, role, name });
  return { ...s, token };
}

beforeAll(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
  await stack.runner.ready();
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("a room in the browser", () => {
  it("two viewers watch a driver's run: streamed text, tool blocks, a permission approved", async () => {
    const s = await newSession("Add a notes file");
    const driver = await open(`${stack.worker.url}/s/${s.id}#token=${await s.token("driver", "Dana Driver")}`, {
      viewport: { width: 1280, height: 1000 },
    });
    const viewerA = await open(`${stack.worker.url}/s/${s.id}#token=${await s.token("viewer", "Vic Viewer")}`);
    const viewerB = await open(`${stack.worker.url}/s/${s.id}#token=${await s.token("viewer", "Val Viewer")}`, {
      viewport: { width: 390, height: 844 },
    });

    // Presence: everyone sees the three people (the agent is not listed as a person).
    await driver.page.waitForFunction(() => document.querySelectorAll(".avatars .avatar").length >= 3);

    // A viewer has no composer and no driving buttons.
    for (const v of [viewerA, viewerB]) {
      expect(await v.page.locator(".composer-input").count()).toBe(0);
      expect(await v.page.locator(".viewer-note").textContent()).toContain("read-only");
    }

    // Streaming: sample the viewers' text while a long answer arrives; it must grow in steps.
    const sample = (p: Page) =>
      p.evaluate(async () => {
        const seen: number[] = [];
        const t0 = performance.now();
        while (performance.now() - t0 < 20_000) {
          const el = [...document.querySelectorAll(".msg-assistant .part-text")].pop();
          const n = el?.textContent?.length ?? 0;
          if (n && n !== seen[seen.length - 1]) seen.push(n);
          if (seen.length >= 8) break;
          await new Promise((r) => setTimeout(r, 40));
        }
        return seen;
      });
    const samplingA = sample(viewerA.page);
    const samplingB = sample(viewerB.page);
    await driver.page.fill(".composer-input", "slow chunks=60 delay=50");
    await driver.page.keyboard.press("Enter");
    const [seenA, seenB] = await Promise.all([samplingA, samplingB]);
    for (const seen of [seenA, seenB]) {
      expect(seen.length).toBeGreaterThanOrEqual(5);
      expect([...seen].sort((a, b) => a - b)).toEqual(seen); // only ever grows
    }
    await screenshot(viewerA.page, "viewer-streaming");
    await driver.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.session?.agentStatus === "idle", null, { timeout: 30_000 });

    // Tools and a permission: the write runs, the bash call asks.
    await driver.page.fill(".composer-input", "think, then write notes.md and run bash `ls -la`");
    await driver.page.keyboard.press("Enter");
    for (const p of [driver, viewerA, viewerB]) await p.page.waitForSelector(".dock-permission", { timeout: 60_000 });
    for (const v of [viewerA, viewerB]) {
      expect(await v.page.locator(".dock-permission").textContent()).toContain("Waiting for approval");
      expect(await v.page.locator(".dock-permission button").count()).toBe(0);
      await v.page.waitForSelector('[data-tool="write"][data-status="completed"]');
      expect(await v.page.locator('[data-tool="bash"]').count()).toBeGreaterThan(0);
    }
    expect(await agentStatus(viewerA.page)).toBe("waiting");
    // A driver in another tab sees it in the tab's title.
    await driver.page.waitForFunction(() => document.title === "Needs approval · Add a notes file — agentroom", null, { timeout: 10_000 });
    // Tool blocks start collapsed; open them to show the diff and the command.
    for (const head of await driver.page.locator(".tool-head").all()) await head.click();
    await driver.page.waitForSelector(".diff-line.add");
    // The command is coloured once the highlighter (loaded on demand) is in.
    await driver.page.waitForSelector('[data-tool="bash"] code .hljs-built_in', { timeout: 10_000 });
    await screenshot(driver.page, "driver-permission");
    await screenshot(viewerB.page, "viewer-phone-permission");

    await driver.page.click("text=Allow once");
    for (const p of [driver, viewerA, viewerB]) {
      await p.page.waitForSelector('[data-tool="bash"][data-status="completed"]', { timeout: 60_000 });
      await p.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.session?.agentStatus === "idle", null, { timeout: 60_000 });
    }
    expect(await viewerA.page.locator(".dock-permission").count()).toBe(0);
    expect(await driver.page.title()).toBe("Add a notes file — agentroom");
    // The status bar shows the turn's token usage to everyone (usage.update, the `usage` slice).
    for (const p of [driver, viewerA, viewerB]) await p.page.waitForSelector(".badge.usage", { timeout: 30_000 });
    expect(Number(await viewerA.page.getAttribute(".badge.usage", "data-usage-tokens"))).toBeGreaterThan(0);
    mkdirSync(join(REPO_ROOT, "docs", "screenshots"), { recursive: true });
    await driver.page.locator(".room-head").screenshot({ path: join(REPO_ROOT, "docs", "screenshots", "usage.png") });
    // Everyone ends with the same transcript.
    const texts = await Promise.all([driver, viewerA, viewerB].map((p) => transcriptText(p.page)));
    expect(texts[0]).toContain("Done.");
    expect(texts[1]).toBe(texts[0]);
    expect(texts[2]).toBe(texts[0]);
    for (const p of [driver, viewerA, viewerB]) expect(p.errors).toEqual([]);
  });

  it("queues follow-ups for everyone to see, cancels one, stops the run at once, answers a question", async () => {
    const s = await newSession("Queue, stop and a question");
    const driver = await open(`${stack.worker.url}/s/${s.id}#token=${await s.token("driver", "Dana")}`);
    const viewer = await open(`${stack.worker.url}/s/${s.id}#token=${await s.token("viewer", "Vic")}`);
    await driver.page.fill(".composer-input", "slow chunks=400 delay=40");
    await driver.page.keyboard.press("Enter");
    await driver.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.session?.agentStatus === "busy");
    // Two follow-ups while it works: both queued, visible to the viewer; the driver cancels one.
    for (const text of ["first follow-up: say hello", "second follow-up: never mind"]) {
      await driver.page.fill(".composer-input", text);
      await driver.page.keyboard.press("Enter");
    }
    await viewer.page.waitForFunction(() => document.querySelectorAll(".queue-item").length === 2);
    expect(await viewer.page.locator(".queue-item button").count()).toBe(0);
    await driver.page.getByRole("button", { name: /cancel queued prompt: second follow-up/i }).click();
    await viewer.page.waitForFunction(() => document.querySelectorAll(".queue-item").length === 1);
    await screenshot(driver.page, "driver-queue");

    // Stop: instant feedback, then the turn ends as interrupted and the queue goes on.
    const t0 = Date.now();
    await driver.page.keyboard.press("Escape");
    await driver.page.waitForSelector("text=Stopping…", { timeout: 5_000 });
    // Stop is a product promise: the turn ends within the wait's bound (headroom for a loaded machine).
    await viewer.page.waitForSelector(".msg-error.aborted", { timeout: 10_000 });
    console.log(`[browser-room] Stop → the viewer saw the turn interrupted in ${Date.now() - t0} ms`);
    await driver.page.waitForFunction(
      () => [...document.querySelectorAll(".msg-user")].some((m) => m.textContent?.includes("first follow-up")),
      null,
      { timeout: 30_000 },
    );
    expect(await driver.page.locator(".msg-user", { hasText: "second follow-up" }).count()).toBe(0);
    await driver.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.session?.agentStatus === "idle", null, { timeout: 30_000 });

    // A question: the driver answers in the dock; the viewer sees it but cannot answer.
    await driver.page.fill(".composer-input", "ask me a question");
    await driver.page.keyboard.press("Enter");
    await driver.page.waitForSelector(".dock-question", { timeout: 60_000 });
    await viewer.page.waitForSelector(".dock-question");
    expect(await viewer.page.locator(".dock-question").textContent()).toContain("Waiting for a driver");
    await driver.page.getByRole("button", { name: /Blue/ }).click();
    await driver.page.getByRole("button", { name: "Answer" }).click();
    await viewer.page.waitForSelector(".dock-question", { state: "detached", timeout: 30_000 });
    await driver.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.session?.agentStatus === "idle", null, { timeout: 60_000 });
    expect(await transcriptText(viewer.page)).toBe(await transcriptText(driver.page));
    for (const p of [driver, viewer]) expect(p.errors).toEqual([]);
  });

  it("refuses a prompt frame a viewer forges by hand", async () => {
    const s = await newSession("Forged frames");
    const viewerToken = await s.token("viewer", "Mallory");
    const driver = await open(`${stack.worker.url}/s/${s.id}#token=${await s.token("driver", "Dana")}`);
    const viewer = await open(`${stack.worker.url}/s/${s.id}#token=${viewerToken}`);
    await viewer.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.connection.kind === "open");
    expect(await viewer.page.locator(".composer-input").count()).toBe(0);

    const answers = await viewer.page.evaluate(
      async ({ id, token }) => {
        const ws = new WebSocket(`${location.origin.replace("http", "ws")}/parties/session-room/${id}`, ["agentroom", `t.${token}`]);
        const got: { type: string; code?: string; ref?: string }[] = [];
        ws.onmessage = (e) => got.push(JSON.parse(String(e.data)));
        await new Promise((r) => (ws.onopen = r));
        for (const frame of [
          { type: "prompt", ref: "forged-1", id: "forged-prompt", text: "rm -rf / please" },
          { type: "stop", ref: "forged-2" },
          { type: "mode.set", ref: "forged-3", mode: "plan" },
        ]) ws.send(JSON.stringify(frame));
        const t0 = Date.now();
        while (got.filter((f) => f.type === "error").length < 3 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
        ws.close();
        return got.filter((f) => f.type === "error");
      },
      { id: s.id, token: viewerToken },
    );
    expect(answers.map((a) => [a.ref, a.code])).toEqual([
      ["forged-1", "forbidden"],
      ["forged-2", "forbidden"],
      ["forged-3", "forbidden"],
    ]);
    // Nothing happened: no queued prompt, no message, the mode unchanged, the agent idle.
    await driver.page.waitForTimeout(500);
    const state = await driver.page.evaluate(() => {
      const r = (window as unknown as { __agentroom: RoomHandle & { room: { session: { mode: string } } } }).__agentroom.room;
      return { queue: r.queue.length, messages: r.order.length, mode: r.session?.mode, status: r.session?.agentStatus };
    });
    expect(state).toEqual({ queue: 0, messages: 0, mode: "build", status: "idle" });
  });

  it("heals a viewer's transcript after its network drops, without a reload", async () => {
    const s = await newSession("Flaky network");
    const driver = await open(`${stack.worker.url}/s/${s.id}#token=${await s.token("driver", "Dana")}`);
    const viewer = await open(`${stack.worker.url}/s/${s.id}#token=${await s.token("viewer", "Offline Olly")}`);
    await viewer.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.connection.kind === "open");
    await viewer.page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));

    await driver.page.fill(".composer-input", "slow chunks=120 delay=40");
    await driver.page.keyboard.press("Enter");
    await viewer.page.waitForSelector(".msg-assistant .part-text");
    const before = (await transcriptText(viewer.page)).length;

    await viewer.context.setOffline(true);
    await viewer.page.waitForSelector('[data-connection="offline"], [data-connection="reconnecting"]', { timeout: 10_000 });
    const badge = await viewer.page.locator(".conn").textContent();
    expect(badge).toMatch(/Offline|Reconnecting/);
    // The transcript stays on screen while offline.
    expect((await transcriptText(viewer.page)).length).toBeGreaterThanOrEqual(before);
    expect(await viewer.page.locator(".msg").count()).toBeGreaterThan(0);
    await screenshot(viewer.page, "viewer-offline");
    await viewer.page.waitForTimeout(3_000);
    await viewer.context.setOffline(false);

    await driver.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.session?.agentStatus === "idle", null, { timeout: 60_000 });
    await viewer.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.connection.kind === "open", null, { timeout: 30_000 });
    await viewer.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.session?.agentStatus === "idle", null, { timeout: 30_000 });
    expect(await transcriptText(viewer.page)).toBe(await transcriptText(driver.page));
    expect(await viewer.page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
  });

  it("keeps a prompt typed offline on screen and through a closed tab, and runs it once", async () => {
    const s = await newSession("Offline prompt");
    const url = `${stack.worker.url}/s/${s.id}#token=${await s.token("driver", "Dana")}`;
    const first = await open(url);
    await first.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.connection.kind === "open");
    await first.context.setOffline(true);
    await first.page.waitForSelector('[data-connection="offline"], [data-connection="reconnecting"]', { timeout: 10_000 });

    const text = "typed while offline: say hello";
    await first.page.fill(".composer-input", text);
    await first.page.keyboard.press("Enter");
    // Not lost from view: listed as not sent yet.
    const unsent = first.page.locator(".queue-item.unsent");
    await unsent.waitFor();
    expect(await unsent.textContent()).toContain(text);
    expect(await unsent.textContent()).toContain("not sent yet");
    await screenshot(first.page, "driver-offline-prompt");
    const stored = await first.page.evaluate((id) => localStorage.getItem(`agentroom:unsent:${id}`), s.id);
    expect(JSON.parse(stored ?? "[]")).toMatchObject([{ text }]);

    // The tab closes before the network comes back; the same browser opens the room again.
    await first.page.close();
    await first.context.setOffline(false);
    const page = await first.context.newPage();
    await page.goto(url);
    await page.waitForFunction(
      (t) => [...document.querySelectorAll(".msg-user")].some((m) => m.textContent?.includes(t)),
      text,
      { timeout: 30_000 },
    );
    await page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.session?.agentStatus === "idle", null, { timeout: 60_000 });
    expect(await page.locator(".msg-user", { hasText: text }).count()).toBe(1);
    expect(await page.locator(".queue-item.unsent").count()).toBe(0);
    expect(await page.evaluate((id) => localStorage.getItem(`agentroom:unsent:${id}`), s.id)).toBeNull();
  });

  it("is embedded by a page on another origin with <agent-room>", async () => {
    const hostPort = await freePort();
    const hostOrigin = `http://127.0.0.1:${hostPort}`;
    const s = await newSession("Embedded run", [hostOrigin]);
    const viewerToken = await s.token("viewer", "Embed viewer");
    const driver = await open(`${stack.worker.url}/s/${s.id}#token=${await s.token("driver", "Dana")}`);
    await driver.page.fill(".composer-input", "hello there");
    await driver.page.keyboard.press("Enter");
    await driver.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.session?.agentStatus === "idle" && document.querySelectorAll(".msg-assistant").length > 0, null, { timeout: 60_000 });

    const html = `<!doctype html><meta charset="utf-8"><title>Host page</title>
      <body style="font-family: system-ui; margin: 24px; background: #fafafa">
      <h1 style="font-size: 18px">A blog post about our agent</h1>
      <p>Below is the live run, embedded from agentroom.</p>
      <agent-room session="${s.id}" token="${viewerToken}" theme="light" src-origin="${stack.worker.url}" style="border:1px solid #ddd;border-radius:10px;overflow:hidden"></agent-room>
      <script src="${stack.worker.url}/embed.js"></script></body>`;
    const host: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(html);
    });
    await new Promise<void>((r) => host.listen(hostPort, "127.0.0.1", r));
    try {
      const page = await openPage(browser, `${hostOrigin}/`, { waitFor: "agent-room iframe" });
      pages.push(page);
      const frame = page.page.frameLocator("agent-room iframe");
      await frame.locator(".msg-assistant .part-text").first().waitFor({ timeout: 30_000 });
      expect(await frame.locator(".msg-user").first().textContent()).toContain("hello there");
      // Read-only: no composer for a viewer token, and no app chrome.
      expect(await frame.locator(".composer-input").count()).toBe(0);
      expect(await frame.locator(".back").count()).toBe(0);
      // Sized to its content through postMessage: not the 320 px it starts with.
      await page.page.waitForFunction(() => {
        const f = document.querySelector("agent-room iframe") as HTMLIFrameElement;
        return f.style.height !== "320px" && parseInt(f.style.height) > 150;
      });
      await screenshot(page.page, "embed-host-page");
      expect(page.errors).toEqual([]);
    } finally {
      await new Promise((r) => host.close(r));
    }
  });

  it("lets the owner mint a viewer link and an embed snippet that work", async () => {
    const s = await newSession("Shared run");
    const owner = await open(`${stack.worker.url}${s.url}`);
    await owner.page.getByRole("button", { name: "Share", exact: true }).click();
    await owner.page.getByRole("button", { name: "Create viewer link" }).click();
    const link = await owner.page.locator('.dialog input[readonly]').inputValue();
    expect(link).toContain(`/s/${s.id}#token=`);
    const snippet = await owner.page.locator(".dialog textarea[readonly]").inputValue();
    expect(snippet).toContain(`<agent-room session="${s.id}"`);
    expect(snippet).toContain("/embed.js");
    // The owner lets a docs site embed it: the embed route's frame-ancestors follows at once.
    await owner.page.locator(".dialog textarea:not([readonly])").fill("https://docs.example.com/guide\nhttp://localhost:5173");
    await owner.page.locator("[data-save-origins]").click();
    await owner.page.waitForSelector("text=Saved ✓");
    expect(await owner.page.locator(".dialog textarea:not([readonly])").inputValue()).toBe("https://docs.example.com\nhttp://localhost:5173");
    const csp = (await fetch(`${stack.worker.url}/embed/${s.id}`)).headers.get("content-security-policy");
    expect(csp?.split(";").map((d) => d.trim()).find((d) => d.startsWith("frame-ancestors"))).toBe("frame-ancestors 'self' https://docs.example.com http://localhost:5173");
    await screenshot(owner.page, "owner-share");
    await owner.page.keyboard.press("Escape");
    const viewer = await open(link);
    await viewer.page.waitForFunction(() => document.querySelector(".room")?.getAttribute("data-role") === "viewer");
    expect(await viewer.page.locator(".composer-input").count()).toBe(0);
    expect(await viewer.page.getByRole("button", { name: "Share", exact: true }).count()).toBe(0);
  });

  it("tells the operator a refused token is refused instead of reconnecting forever", async () => {
    const operator = await stack.worker.operatorToken();
    const sig = operator.slice(operator.lastIndexOf(".") + 1);
    const forged = `${operator.slice(0, operator.lastIndexOf(".") + 1)}${sig[0] === "A" ? "B" : "A"}${sig.slice(1)}`;
    const list = await openPage(browser, `${stack.worker.url}/#token=${forged}`, { waitFor: "[data-lobby-closed]" });
    pages.push(list);
    expect(await list.page.locator("[data-lobby-closed]").textContent()).toContain("refused");
    expect(await list.page.locator(".session-row").count()).toBe(0);
  });

  it("shows the live session list and the dark theme", async () => {
    const operator = await stack.worker.operatorToken();
    await stack.worker.createSession({ title: "Made before the list opened" });
    const list = await openPage(browser, `${stack.worker.url}/#token=${operator}`, { waitFor: ".session-row" });
    pages.push(list);
    // The token moved from the URL into storage.
    expect(new URL(list.page.url()).hash).toBe("");
    const rows = await list.page.locator(".session-row").count();
    expect(rows).toBeGreaterThanOrEqual(1);
    // Live: a session created now appears without a reload.
    await stack.worker.createSession({ title: "Created while watching" });
    await list.page.waitForSelector("text=Created while watching", { timeout: 10_000 });
    // Live statuses: one session starts working, another waits for approval.
    const busy = await newSession("A long answer in progress");
    const waiting = await newSession("Needs a bash approval");
    for (const [sess, prompt] of [
      [busy, "slow chunks=600 delay=40"],
      [waiting, "run bash `ls`"],
    ] as const) {
      const p = await open(`${stack.worker.url}/s/${sess.id}#token=${await sess.token("driver", "Dana")}`);
      await p.page.fill(".composer-input", prompt);
      await p.page.keyboard.press("Enter");
    }
    await list.page.waitForSelector(`[data-session-id="${busy.id}"][data-status="busy"]`, { timeout: 30_000 });
    await list.page.waitForSelector(`[data-session-id="${waiting.id}"][data-status="waiting"]`, { timeout: 60_000 });
    // The tab counts what waits on a person (earlier tests' sessions may be waiting too).
    await list.page.waitForFunction(() => {
      const n = document.querySelectorAll('li[data-status="waiting"]').length;
      return n >= 1 && document.title === `(${n}) need approval — agentroom`;
    }, null, { timeout: 10_000 });
    await screenshot(list.page, "session-list");
    // A row opens the session with the operator's stored token (the owner of every session).
    await list.page.click("text=Created while watching");
    await list.page.waitForFunction(() => document.querySelector(".room")?.getAttribute("data-role") === "owner");
    expect(await list.page.locator(".composer-input").count()).toBe(1);

    const s = await newSession("Dark theme");
    const dark = await openPage(browser, `${stack.worker.url}/s/${s.id}#token=${await s.token("driver", "Night Owl")}`, { colorScheme: "dark", waitFor: ".room" });
    pages.push(dark);
    await dark.page.fill(".composer-input", "todo: think, then write plan.md");
    await dark.page.keyboard.press("Enter");
    await dark.page.waitForFunction(() => (window as unknown as { __agentroom: RoomHandle }).__agentroom.room.session?.agentStatus === "idle" && document.querySelectorAll('[data-tool="write"][data-status="completed"]').length > 0, null, { timeout: 60_000 });
    const bg = await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg).toBe("rgb(15, 17, 21)");
    await dark.page.locator('[data-tool="write"] .tool-head').first().click();
    await dark.page.locator("details.reasoning summary").first().click();
    await dark.page.waitForSelector(".diff-line.add");
    await screenshot(dark.page, "session-dark");
    expect(dark.errors).toEqual([]);
  });

  it("creates a session from a git URL in the form: the runner clones it and the header shows where from", async () => {
    const git = (cwd: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd });
    const src = mkdtempSync(join(tmpdir(), "form-origin-"));
    git(src, "init", "-q");
    writeFileSync(join(src, "README.md"), "from the form\n");
    git(src, "add", "README.md");
    git(src, "commit", "-q", "-m", "first");
    mkdirSync(join(stack.workspacesDir, "origins"), { recursive: true });
    const bare = join(stack.workspacesDir, "origins", "form.git");
    git(src, "clone", "-q", "--bare", src, bare);
    const url = pathToFileURL(bare).href;

    const list = await openPage(browser, `${stack.worker.url}/#token=${await stack.worker.operatorToken()}`, { waitFor: ".create-form" });
    pages.push(list);
    await list.page.getByLabel("Title (optional)").fill("Cloned from the form");
    await list.page.getByLabel(/Directory or git URL/).fill(url);
    await list.page.getByRole("button", { name: "New session" }).click();
    await list.page.waitForSelector(".room", { timeout: 30_000 });
    // The header shows the repository at once and, once the runner has cloned it, where to.
    const where = list.page.locator(".room-sub .mono").first();
    expect(await where.textContent()).toBe(url);
    const id = new URL(list.page.url()).pathname.split("/").pop()!;
    await list.page.waitForFunction((dir) => document.querySelector(".room-sub .mono")?.getAttribute("title") === `cloned into ${dir}`, join(stack.workspacesDir, id), { timeout: 60_000 });
    expect(readFileSync(join(stack.workspacesDir, id, "README.md"), "utf8")).toBe("from the form\n");
    expect(list.errors).toEqual([]);
  });
});
