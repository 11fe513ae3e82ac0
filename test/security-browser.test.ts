/**
 * What agent output can do in a browser, and what the build and the embed route give away, in
 * Debian's Chromium against the real app served by workerd:
 *
 *  - agent output with HTML, <script>, event-handler attributes, `javascript:`/`data:` links,
 *    mXSS shapes and attribute breakouts, in every part type and every other string the room
 *    shows (title, permission and question docks, todos, diffs), runs nothing: a global flag the
 *    payloads would set stays unset, no dialog opens, and the rendered DOM holds no script-capable
 *    element, no `on*` attribute and no script URL — after expanding, opening, hovering and
 *    clicking everything; in the session view (as the owner) and in the embed (as a viewer);
 *  - the embed route sends `frame-ancestors` from the session's allowed origins, and Chromium
 *    refuses to frame it on another origin while it frames it on an allowed one;
 *  - the token-signing secret is in neither the repository (files or history) nor the client
 *    bundle.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { startWorker, REPO_ROOT, type WorkerHandle } from "./harness/worker.ts";
import { launchBrowser, openPage, screenshot } from "./harness/browser.ts";
import { SyntheticAgent } from "./harness/synthetic-agent.ts";
import { recordSummary } from "./harness/faults-summary.ts";
import type { EventBody } from "../shared/protocol.ts";

/** Each payload, if it ran, would set window.__pwned (or a parent's) or open a dialog. */
const PAYLOADS = [
  `<script>window.__pwned="script"</script>`,
  `<img src=x onerror="window.__pwned='img-onerror'">`,
  `<svg onload="window.__pwned='svg-onload'"></svg>`,
  `<svg><script>window.__pwned='svg-script'</script></svg>`,
  `[md link](javascript:window.__pwned='md-js-link')`,
  `[md link2](  JaVaScRiPt:window.__pwned='md-js-case')`,
  `<a href="javascript:window.__pwned='a-js'">a-js</a>`,
  `<a href=" &#106;avascript:window.__pwned='a-entity'">a-entity</a>`,
  `<a href="data:text/html,<script>parent.__pwned='data'</script>">a-data</a>`,
  `<a href="vbscript:msgbox(1)">a-vb</a>`,
  `<iframe src="javascript:parent.__pwned='iframe'"></iframe>`,
  `<iframe srcdoc="<script>parent.__pwned='srcdoc'</script>"></iframe>`,
  `<details open ontoggle="window.__pwned='details'"><summary>d</summary>x</details>`,
  `<object data="javascript:window.__pwned='object'"></object>`,
  `<embed src="javascript:window.__pwned='embed'">`,
  `<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned='mxss'">`,
  `<form><button formaction="javascript:window.__pwned='formaction'">fa</button></form>`,
  `<input autofocus onfocus="window.__pwned='autofocus'">`,
  `<body onload="window.__pwned='body'">`,
  `<meta http-equiv="refresh" content="0;url=javascript:window.__pwned='meta'">`,
  `<base href="javascript:/">`,
  `<div style="background:url(javascript:window.__pwned='style')">styled</div>`,
  `<noscript><p title="</noscript><img src=x onerror=window.__pwned='noscript'>">`,
  `![img](x" onerror="window.__pwned='md-img')`,
  `<img src="x" onerror=alert('alert')>`,
  `"><script>alert('attr-break')</script>`,
  `'><img src=x onerror=confirm('single-quote')>`,
  `<a href="#" onclick="window.__pwned='onclick'">clickable</a>`,
  `<b onmouseover="window.__pwned='hover'">hover me</b>`,
  `<svg><a xlink:href="javascript:window.__pwned='xlink'"><text y="20">svg-link</text></a></svg>`,
  `<template><script>window.__pwned='template'</script></template>`,
  `<scr<script>ipt>window.__pwned='nested'</script>`,
  "```html\n<script>window.__pwned='fenced'</script>\n```",
  "`<img src=x onerror=window.__pwned='inline-code'>`",
];
const ALL = PAYLOADS.join("\n\n");
const ONE_LINE = PAYLOADS.join(" ");

let w: WorkerHandle;
let browser: Browser;
let sid: string;
let ownerUrl: string;
let viewerEmbedUrl: string;
let otherOrigin: Server;
let otherOriginUrl = "";
/** What the other-origin server answers: a page that frames whatever is set here. */
let framePage = "";
let checks = 0;

function events(): EventBody[] {
  const now = 1_700_000_000_000;
  const msg = (id: string, role: "user" | "assistant", extra: Record<string, unknown> = {}): EventBody => ({
    type: "message.upsert",
    message: { id, role, time: { created: now, completed: now + 1 }, ...extra },
  });
  const part = (p: Record<string, unknown> & { id: string; messageID: string; type: string }): EventBody => ({ type: "part.upsert", part: p });
  return [
    { type: "session.info", title: `Title ${PAYLOADS.slice(0, 8).join(" ")}`.slice(0, 500) },
    msg("msg_xss_01", "user"),
    part({ id: "prt_01_text", messageID: "msg_xss_01", type: "text", text: `MARK-USER\n\n${ALL}` }),
    msg("msg_xss_02", "assistant", { error: { name: `Err<script>window.__pwned='errname'</script>`, data: { message: ONE_LINE } } }),
    part({ id: "prt_02_text", messageID: "msg_xss_02", type: "text", text: `MARK-TEXT\n\n${ALL}` }),
    part({ id: "prt_02_reason", messageID: "msg_xss_02", type: "reasoning", text: `MARK-REASON ${ALL}` }),
    part({
      id: "prt_02_tool_ok",
      messageID: "msg_xss_02",
      type: "tool",
      callID: "c1",
      tool: `bash<img src=x onerror=window.__pwned='toolname'>`,
      state: {
        status: "completed",
        input: { command: `echo '<script>window.__pwned="cmd"</script>' ${ONE_LINE}`, filePath: `<img src=x onerror=window.__pwned='path'>.html` },
        output: `MARK-TOOL\n${ALL}\n${"line\n".repeat(300)}`,
        title: `T ${ONE_LINE}`,
        metadata: { diff: `<script>window.__pwned='meta'</script>` },
        time: { start: now, end: now + 5 },
      },
    }),
    part({
      id: "prt_02_tool_err",
      messageID: "msg_xss_02",
      type: "tool",
      callID: "c2",
      tool: "write",
      state: { status: "error", input: { filePath: "a.html", content: ALL }, error: `E ${ALL}`, time: { start: now, end: now + 1 } },
    }),
    part({ id: "prt_02_file", messageID: "msg_xss_02", type: "file", mime: "text/html", filename: `f<img src=x onerror=window.__pwned='fname'>.html`, url: "javascript:window.__pwned='file-url'" }),
    part({ id: "prt_02_file2", messageID: "msg_xss_02", type: "file", mime: "image/svg+xml", filename: "i.svg", url: "data:image/svg+xml,<svg onload=\"window.__pwned='svg-data'\"/>" }),
    part({ id: "prt_02_patch", messageID: "msg_xss_02", type: "patch", hash: "h", files: [`<img src=x onerror=window.__pwned='patch'>`, "javascript:alert(1)"] }),
    part({ id: "prt_02_agent", messageID: "msg_xss_02", type: "agent", name: `<script>window.__pwned='agent'</script>` }),
    part({ id: "prt_02_sub", messageID: "msg_xss_02", type: "subtask", prompt: ALL, description: ONE_LINE, agent: "<b onmouseover=window.__pwned='sub'>x</b>" }),
    part({ id: "prt_02_retry", messageID: "msg_xss_02", type: "retry", attempt: 2, error: { name: ONE_LINE, data: { message: ALL } }, time: { created: now } }),
    part({ id: "prt_02_step", messageID: "msg_xss_02", type: "step-finish", reason: ONE_LINE, cost: 0, tokens: { input: 1, output: 1, reasoning: 0, cache: { read: 0, write: 0 } } }),
    part({ id: "prt_02_compaction", messageID: "msg_xss_02", type: "compaction", auto: true }),
    part({ id: "prt_02_unknown", messageID: "msg_xss_02", type: `<img src=x onerror=window.__pwned='ptype'>`, payload: ALL, nested: { html: ONE_LINE } }),
    part({ id: "prt_02_unknown2", messageID: "msg_xss_02", type: "mystery", text: ALL }),
    { type: "todo.update", todos: [{ id: "t1", content: ONE_LINE, status: "pending" }, { content: ALL, status: "<script>x</script>" }] },
    { type: "diff.update", diff: [{ file: `<img src=x onerror=window.__pwned='diffname'>.ts`, before: ALL, after: `${ALL}\nchanged`, additions: 1, deletions: 1 }] },
    {
      type: "permission.asked",
      request: { id: "per_xss", permission: `bash<script>window.__pwned='perm'</script>`, title: `Run ${ONE_LINE}`, patterns: PAYLOADS.slice(0, 8), createdAt: now },
    },
    {
      type: "question.asked",
      request: {
        id: "que_xss",
        questions: [{ question: `Q ${ONE_LINE}`, header: "<script>window.__pwned='qh'</script>", options: PAYLOADS.slice(0, 6).map((label) => ({ label, description: ONE_LINE })) }],
        createdAt: now,
      },
    },
  ];
}

beforeAll(async () => {
  otherOrigin = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(framePage);
  });
  await new Promise<void>((r) => otherOrigin.listen(0, "127.0.0.1", r));
  const port = (otherOrigin.address() as { port: number }).port;
  otherOriginUrl = `http://127.0.0.1:${port}`;
  [w, browser] = await Promise.all([startWorker(), launchBrowser()]);
  const s = await w.createSession({ title: "xss", allowedOrigins: ["https://embed.example"] });
  sid = s.id;
  ownerUrl = `${w.url}${s.url}`;
  viewerEmbedUrl = `${w.url}/embed/${sid}#token=${await w.mintToken({ sid, role: "viewer", name: "<img src=x onerror=window.__pwned='name'>" })}`;
  const agent = await SyntheticAgent.join(w.roomUrl(sid), await w.agentToken("<script>window.__pwned='runner'</script>"), "xss");
  await agent.send(events());
  await agent.close();
});

afterAll(async () => {
  await browser?.close();
  await w?.stop();
  await new Promise<void>((r) => otherOrigin?.close(() => r()) ?? r());
});

/** Anything in the rendered page that could run script. */
function scanDom(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const bad: string[] = [];
    for (const el of Array.from(document.body.querySelectorAll("*"))) {
      const tag = el.tagName.toLowerCase();
      if (["script", "iframe", "object", "embed", "base", "meta", "frame", "frameset", "applet"].includes(tag)) bad.push(`<${tag}>`);
      for (const attr of Array.from(el.attributes)) {
        const name = attr.name.toLowerCase();
        if (name.startsWith("on")) bad.push(`${tag}[${name}]`);
        if (["href", "src", "action", "formaction", "xlink:href", "data", "srcdoc"].includes(name)) {
          const v = attr.value.replace(/[\u0000-\u0020]/g, "").toLowerCase();
          if (name === "srcdoc" || v.startsWith("javascript:") || v.startsWith("vbscript:") || (v.startsWith("data:") && !/^data:image\/(png|jpeg|gif|webp);base64,/.test(v))) {
            bad.push(`${tag}[${name}=${attr.value.slice(0, 40)}]`);
          }
        }
      }
    }
    return bad;
  });
}

/**
 * Opens the page, checks the docks (permission, question) as rendered, answers them when the
 * token may (so the transcript gets the screen), then expands, opens, hovers and clicks what it
 * can in the transcript and checks again.
 */
async function exercise(url: string, shot: string, answerDocks: boolean): Promise<{ page: Page; pwned: unknown; dialogs: string[]; dom: string[] }> {
  const { page, context } = await openPage(browser, url, { viewport: { width: 1280, height: 3000 } });
  const dialogs: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  // Popups a click might open (target=_blank) are closed; they must not run anything either.
  context.on("page", (p) => void p.close());
  await page.waitForSelector(".dock-permission", { timeout: 30_000 });
  await page.waitForTimeout(300);
  for (const h of (await page.locator(".dock *").all()).slice(0, 200)) await h.hover({ timeout: 500, force: true }).catch(() => {});
  const dom = await scanDom(page);
  await screenshot(page, shot + "-docks");
  if (answerDocks) {
    await page.locator(".dock-permission button", { hasText: "Reject" }).click();
    await page.locator(".dock button", { hasText: "Dismiss" }).click();
  }
  await page.waitForSelector("text=MARK-TEXT", { timeout: 30_000 }).catch(async (e) => {
    await screenshot(page, shot + "-timeout");
    throw e;
  });
  // Open every collapsed thing: tool blocks, "show all", details (ontoggle would fire now).
  for (let round = 0; round < 3; round++) {
    for (const b of await page.locator('.transcript button[aria-expanded="false"]').all()) await b.click({ timeout: 2000 }).catch(() => {});
    for (const b of await page.locator(".transcript button", { hasText: /show all/i }).all()) await b.click({ timeout: 2000 }).catch(() => {});
    await page.evaluate(() => document.querySelectorAll("details").forEach((d) => (d.open = true)));
    await page.waitForTimeout(200);
  }
  // Hover everything in the transcript; click every in-page link.
  const hoverables = await page.locator(".transcript b, .transcript a, .transcript img, .transcript span, .transcript li").all();
  for (const h of hoverables.slice(0, 400)) await h.hover({ timeout: 500, force: true }).catch(() => {});
  for (const a of await page.locator('.transcript a[href^="#"], .transcript a:not([href])').all()) await a.click({ timeout: 1000, force: true }).catch(() => {});
  await page.waitForTimeout(500);
  await screenshot(page, shot);
  dom.push(...(await scanDom(page)));
  const pwned = await page.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned);
  return { page, pwned, dialogs, dom };
}

describe("agent output in the browser", () => {
  it("runs nothing in the embed (viewer)", async () => {
    const { page, pwned, dialogs, dom } = await exercise(viewerEmbedUrl, "security-xss-embed", false);
    checks += PAYLOADS.length;
    expect(pwned).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(dom).toEqual([]);
    await page.context().close();
  });

  it("runs nothing in the session view (owner: every dock shown)", async () => {
    const { page, pwned, dialogs, dom } = await exercise(ownerUrl, "security-xss-session", true);
    checks += PAYLOADS.length;
    // The payloads are on the page as text, so the test looked at them.
    expect(await page.locator("text=MARK-TOOL").count()).toBeGreaterThan(0);
    expect(await page.getByText("hover me", { exact: false }).count()).toBeGreaterThan(0);
    expect(pwned).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(dom).toEqual([]);
    await page.context().close();
  });
});

describe("the embed route", () => {
  it("sends frame-ancestors from the session's allowed origins", async () => {
    const res = await fetch(`${w.url}/embed/${sid}`);
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/frame-ancestors\s+'self'\s+https:\/\/embed\.example(;|$)/);
    checks++;
  });

  it("is framed by an allowed origin and refused by any other, in Chromium", async () => {
    const allowed = await w.createSession({ title: "framable", allowedOrigins: [otherOriginUrl] });
    const viewer = async (id: string) => w.mintToken({ sid: id, role: "viewer" });
    const frameOf = async (id: string) => {
      framePage = `<!doctype html><title>host</title><iframe id="f" style="width:800px;height:600px" src="${w.url}/embed/${id}#token=${await viewer(id)}"></iframe>`;
      const context = await browser.newContext();
      const page = await context.newPage();
      const consoleLines: string[] = [];
      page.on("console", (m) => consoleLines.push(m.text()));
      await page.goto(otherOriginUrl);
      await page.waitForTimeout(2500);
      const frame = page.frames().find((f) => f !== page.mainFrame());
      const appLoaded = frame ? await frame.evaluate(() => !!document.querySelector("#app")?.childElementCount).catch(() => false) : false;
      await context.close();
      return { appLoaded, consoleLines };
    };
    const ok = await frameOf(allowed.id);
    expect(ok.appLoaded).toBe(true);
    const refused = await frameOf(sid); // allows only https://embed.example
    expect(refused.appLoaded).toBe(false);
    expect(refused.consoleLines.join("\n")).toMatch(/frame-ancestors/);
    checks += 2;
  });
});

describe("the signing secret", () => {
  /** Secrets that must not leak: the running Worker's, and the local .dev.vars one if present. */
  function secrets(): string[] {
    const out = [w.secret];
    const devVars = join(REPO_ROOT, ".dev.vars");
    if (existsSync(devVars)) {
      const m = readFileSync(devVars, "utf8").match(/^TOKEN_SECRET\s*=\s*"?([^"\n]+)"?/m);
      if (m?.[1]) out.push(m[1]);
    }
    return out;
  }

  function filesUnder(dir: string): string[] {
    const out: string[] = [];
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) out.push(...filesUnder(p));
      else out.push(p);
    }
    return out;
  }

  it("is not in the client bundle", () => {
    const files = filesUnder(join(REPO_ROOT, "dist", "client"));
    expect(files.some((f) => f.endsWith(".js"))).toBe(true); // the real build, not a placeholder
    for (const f of files) {
      const text = readFileSync(f, "latin1");
      for (const s of secrets()) expect(text.includes(s), f).toBe(false);
      expect(text.includes("TOKEN_SECRET"), f).toBe(false);
    }
    checks++;
  });

  it("is not in the repository, its files or its history, and .dev.vars is ignored", () => {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" });
    expect(git("ls-files").split("\n")).not.toContain(".dev.vars");
    expect(git("check-ignore", ".dev.vars").trim()).toBe(".dev.vars");
    for (const s of secrets()) {
      // git grep exits 1 when nothing matches.
      expect(() => git("grep", "-I", "-F", "-q", s)).toThrow();
      expect(git("log", "--all", "--oneline", "-S", s).trim()).toBe("");
    }
    // No literal secret assigned anywhere in tracked files (test fixtures name theirs TEST_SECRET).
    const assigned = (() => {
      try {
        return git("grep", "-I", "-n", "-E", "TOKEN_SECRET\\s*[=:]\\s*[\"'][A-Za-z0-9+/_=-]{16,}[\"']");
      } catch {
        return "";
      }
    })();
    expect(assigned).toBe("");
    checks++;
    recordSummary({
      id: "security-browser",
      scenario: "Browser: agent output XSS (every part type, docks, title), embed frame-ancestors, secret in repo/bundle",
      faults: 0,
      badInputs: checks,
      load: "Chromium: session view (owner) + embed (viewer), all blocks expanded, hovered, clicked",
      eventsLost: 0,
      crashes: 0,
      notes: `${PAYLOADS.length} payloads × 2 views: nothing ran, no dialog, no script-capable element or attribute; framing refused off-list`,
    });
  });
});
