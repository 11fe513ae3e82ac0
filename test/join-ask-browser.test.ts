/**
 * Asking to join in the browser (real workerd, real Chromium): a viewer presses "Ask to drive",
 * the owner sees the request with the viewer's name and accepts it in one click, and the viewer's
 * page gets the composer and prompts; a second viewer's request is declined and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { startWorker, REPO_ROOT, type WorkerHandle } from "./harness/worker.ts";
import { chromiumAvailable, launchBrowser, openPage, screenshot } from "./harness/browser.ts";

let w: WorkerHandle;
let browser: Browser;

beforeAll(async () => {
  [w, browser] = await Promise.all([startWorker(), launchBrowser()]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await w?.stop();
});

describe.skipIf(!chromiumAvailable())("asking to join", () => {
  it("a viewer asks to drive, the owner accepts in one click, the viewer prompts; another is declined", async () => {
    const s = await w.createSession({ title: "pairing" });
    const owner = await openPage(browser, `${w.url}/s/${s.id}#token=${s.ownerToken}`, { waitFor: ".room" });
    const vic = await openPage(browser, `${w.url}/s/${s.id}#token=${await w.mintToken({ sid: s.id, role: "viewer", name: "Vic Viewer" })}`, { waitFor: ".viewer-note" });
    const val = await openPage(browser, `${w.url}/s/${s.id}#token=${await w.mintToken({ sid: s.id, role: "viewer", name: "Val Viewer" })}`, { waitFor: ".viewer-note" });
    expect(await vic.page.locator(".composer-input").count()).toBe(0);

    await vic.page.getByRole("button", { name: "Ask to drive" }).click();
    await vic.page.waitForSelector('[data-join-ask="pending"]');
    await owner.page.getByText("Vic Viewer asks to drive.").waitFor({ timeout: 15_000 });
    await val.page.getByRole("button", { name: "Ask to approve" }).click();
    await owner.page.getByText("Val Viewer asks to approve.").waitFor({ timeout: 15_000 });
    await screenshot(owner.page, "join-ask-owner");
    await screenshot(owner.page, "join-ask-owner", join(REPO_ROOT, "docs", "screenshots"));

    await owner.page.locator(".join-request", { hasText: "Vic Viewer" }).getByRole("button", { name: "Accept" }).click();
    await owner.page.locator(".join-request", { hasText: "Val Viewer" }).getByRole("button", { name: "Decline" }).click();
    await owner.page.waitForFunction(() => document.querySelectorAll(".join-request").length === 0, null, { timeout: 15_000 });

    // Vic drives now: the composer is there and a prompt goes into the queue.
    await vic.page.waitForSelector(".composer-input", { timeout: 15_000 });
    await vic.page.fill(".composer-input", "hello from Vic, now driving");
    await vic.page.keyboard.press("Enter");
    await owner.page.getByText("hello from Vic, now driving").first().waitFor({ timeout: 15_000 });

    // Val was declined: still read-only, told so.
    await val.page.waitForSelector('[data-join-ask="declined"]', { timeout: 15_000 });
    expect(await val.page.locator(".composer-input").count()).toBe(0);

    for (const p of [owner, vic, val]) {
      expect(p.errors).toEqual([]);
      await p.context.close();
    }
  }, 120_000);
});
