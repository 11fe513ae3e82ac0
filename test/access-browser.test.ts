/**
 * Access in Chromium, against the real app on workerd (issue 10):
 *
 *  - `/` and `/s/:id` refuse to be framed by a page on another origin and by one on another port
 *    of the same host (same-site, so it would share the app's storage), while the app itself runs
 *    under its Content-Security-Policy with no violation;
 *  - an embed framed by an allowed same-site page, with no token, shows "no access" even after the
 *    owner used the app in that browser; a viewer embed leaves the owner's stored token as it was;
 *  - the app strips `#token=` from the address bar;
 *  - the Share dialog lists a link minted elsewhere as it happens, revokes it, and the viewer's
 *    open tab drops to "this link was revoked"; without Access sign-in it offers no sharing by
 *    email and the API refuses one (`access_not_configured`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import { launchBrowser, screenshot } from "./harness/browser.ts";

let w: WorkerHandle;
let browser: Browser;
let host: Server;
let hostPort = 0;
/** What the host page server answers. */
let hostPage = "";

beforeAll(async () => {
  host = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(hostPage);
  });
  await new Promise<void>((r) => host.listen(0, "127.0.0.1", r));
  hostPort = (host.address() as { port: number }).port;
  [w, browser] = await Promise.all([startWorker(), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await w?.stop();
  await new Promise<void>((r) => host?.close(() => r()) ?? r());
});

/** Another port of the app's host: same site, so it would share the app's storage. */
const sameSite = () => `http://127.0.0.1:${hostPort}`;
/** Another origin and site altogether. */
const otherSite = () => `http://localhost:${hostPort}`;

async function share(id: string, ownerToken: string, role: "viewer" | "driver", name: string): Promise<{ token: string; linkId: string; url: string }> {
  const res = await fetch(`${w.url}/api/sessions/${id}/share`, {
    method: "POST",
    headers: { authorization: `Bearer ${ownerToken}`, "content-type": "application/json" },
    body: JSON.stringify({ role, name }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { token: string; linkId: string; url: string };
}

/** Loads a host page that frames `src`; what the frame shows, and the console lines. */
async function framed(context: BrowserContext, hostOrigin: string, src: string): Promise<{ page: Page; frameText: string | null; console: string[] }> {
  hostPage = `<!doctype html><title>host</title><iframe id="f" style="width:900px;height:700px" src="${src}"></iframe>`;
  const page = await context.newPage();
  const lines: string[] = [];
  page.on("console", (m) => lines.push(m.text()));
  await page.goto(hostOrigin);
  await page.waitForTimeout(2500);
  const frame = page.frames().find((f) => f !== page.mainFrame());
  const frameText = frame ? await frame.evaluate(() => (document.querySelector("#app")?.childElementCount ? document.body.innerText : null)).catch(() => null) : null;
  return { page, frameText, console: lines };
}

describe("framing", () => {
  it("/ and /s/:id refuse every frame (another origin, another port of the same host); the app runs under its policy", async () => {
    const s = await w.createSession({ title: "framed" });
    const context = await browser.newContext();
    for (const hostOrigin of [otherSite(), sameSite()]) {
      for (const path of ["/", `/s/${s.id}`]) {
        const r = await framed(context, hostOrigin, `${w.url}${path}#token=${s.ownerToken}`);
        expect(r.frameText, `${hostOrigin} framing ${path}`).toBeNull();
        expect(r.console.join("\n"), `${hostOrigin} framing ${path}`).toMatch(/frame-ancestors|X-Frame-Options/);
        await r.page.close();
      }
    }
    // Opened directly, the app runs with no policy violation, and the fragment is stripped.
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || /Content Security Policy/i.test(m.text())) errors.push(m.text());
    });
    const res = await page.goto(`${w.url}/s/${s.id}#token=${s.ownerToken}`);
    expect(res?.headers()["x-frame-options"]).toBe("DENY");
    expect(res?.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
    await page.waitForSelector(".room-head", { timeout: 30_000 });
    await page.waitForSelector('.room[data-role="owner"]', { timeout: 30_000 });
    expect(page.url()).not.toContain("token=");
    expect(errors.filter((e) => /Content Security Policy/i.test(e))).toEqual([]);
    await context.close();
  });
});

describe("the embed uses only what it is given", () => {
  it("no token: 'no access', even after the owner used the app in this browser; a viewer embed leaves the owner's token as it was", async () => {
    const s = await w.createSession({ title: "embedded", allowedOrigins: [sameSite()] });
    const context = await browser.newContext();
    // The owner uses the app: their token is kept for the session.
    const app = await context.newPage();
    await app.goto(`${w.url}/s/${s.id}#token=${s.ownerToken}`);
    await app.waitForSelector('.room[data-role="owner"]', { timeout: 30_000 });
    const kept = () => app.evaluate((id) => localStorage.getItem(`agentroom.session.${id}`), s.id);
    expect(await kept()).toBe(s.ownerToken);

    // A same-site page the session allows frames the embed with no token.
    const bare = await framed(context, sameSite(), `${w.url}/embed/${s.id}`);
    expect(bare.frameText).toMatch(/No access/);
    const frame = bare.page.frames().find((f) => f !== bare.page.mainFrame())!;
    expect(await frame.locator("[data-no-access]").count()).toBe(1);
    expect(await frame.locator(".composer, .room").count()).toBe(0);
    await screenshot(bare.page, "access-embed-no-token");
    await bare.page.close();

    // A viewer embed on that page shows the room read-only and leaves the owner's token alone.
    const v = await share(s.id, s.ownerToken, "viewer", "embedded viewer");
    const viewer = await framed(context, sameSite(), `${w.url}/embed/${s.id}#token=${v.token}`);
    const vf = viewer.page.frames().find((f) => f !== viewer.page.mainFrame())!;
    await vf.waitForSelector('.room[data-role="viewer"]', { timeout: 30_000 });
    await viewer.page.close();
    expect(await kept()).toBe(s.ownerToken);
    // The owner's next visit opens as the owner.
    await app.goto(`${w.url}/s/${s.id}`);
    await app.waitForSelector('.room[data-role="owner"]', { timeout: 30_000 });
    // And opening a weaker link in the app uses it for that tab without replacing the owner's.
    await app.goto("about:blank"); // (a hash change alone would not load the page again)
    await app.goto(`${w.url}/s/${s.id}#token=${v.token}`);
    await app.waitForSelector('.room[data-role="viewer"]', { timeout: 30_000 });
    expect(await kept()).toBe(s.ownerToken);
    await context.close();
  });
});

describe("revoking from the Share dialog", () => {
  it("lists a link minted elsewhere live, revokes it, and the viewer's tab drops to 'this link was revoked'", async () => {
    const s = await w.createSession({ title: "revoke me" });
    const ownerCtx = await browser.newContext();
    const owner = await ownerCtx.newPage();
    await owner.goto(`${w.url}/s/${s.id}#token=${s.ownerToken}`);
    await owner.waitForSelector('.room[data-role="owner"]', { timeout: 30_000 });
    await owner.getByRole("button", { name: "Share" }).click();
    await owner.waitForSelector("[data-links] tr[data-link]", { timeout: 10_000 }); // the owner link
    // No Access sign-in on this deployment: no "share with a person" form, and the API refuses the
    // grant (nobody could ever use it) with nothing stored.
    expect(await owner.locator(".share-person").count()).toBe(0);
    const people = await fetch(`${w.url}/api/sessions/${s.id}/people`, {
      method: "POST",
      headers: { authorization: `Bearer ${s.ownerToken}`, "content-type": "application/json" },
      body: JSON.stringify({ email: "dev@example.com", role: "viewer" }),
    });
    expect(people.status).toBe(409);
    expect(((await people.json()) as { error: { code: string } }).error.code).toBe("access_not_configured");
    const listed = (await (await fetch(`${w.url}/api/sessions/${s.id}/links`, { headers: { authorization: `Bearer ${s.ownerToken}` } })).json()) as { links: { email?: string | null }[]; accessSignIn: boolean };
    expect(listed.accessSignIn).toBe(false);
    expect(listed.links.filter((l) => l.email)).toEqual([]);

    // Minted elsewhere (another owner's tab, the API): the open dialog lists it as it happens.
    const v = await share(s.id, s.ownerToken, "viewer", "Vera");
    const row = owner.locator(`[data-links] tr[data-link="${v.linkId}"]`);
    await row.waitFor({ timeout: 10_000 });
    expect(await row.innerText()).toMatch(/viewer\s+Vera/);

    const viewerCtx = await browser.newContext();
    const viewer = await viewerCtx.newPage();
    await viewer.goto(`${w.url}${v.url}`);
    await viewer.waitForSelector('.room[data-role="viewer"]', { timeout: 30_000 });

    await row.getByRole("button", { name: /Revoke/ }).click();
    await viewer.waitForSelector("[data-revoked]", { timeout: 10_000 });
    expect(await viewer.locator("[data-revoked]").innerText()).toMatch(/This link was revoked/);
    await owner.locator(`[data-links] tr[data-link="${v.linkId}"][data-revoked]`).waitFor({ timeout: 10_000 });
    await screenshot(owner, "access-share-dialog-revoked");
    await screenshot(viewer, "access-viewer-revoked");
    // A reload does not bring it back: the link is refused and the stored copy forgotten.
    await viewer.reload();
    await viewer.waitForSelector("[data-revoked], .list-page", { timeout: 30_000 });
    expect(await viewer.evaluate((id) => localStorage.getItem(`agentroom.session.${id}`), s.id)).toBeNull();
    await ownerCtx.close();
    await viewerCtx.close();
  });
});
