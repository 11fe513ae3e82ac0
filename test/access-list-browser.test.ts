/**
 * The session list behind Cloudflare Access alone, in Chromium against the real Worker: an operator
 * signed in with Access (the edge adds `Cf-Access-Jwt-Assertion` to every request; here the
 * browser context does, upgrades included) sees and follows the list with no token anywhere; a
 * signed-in person who is not an operator, and a visitor with nothing, get the "open the link"
 * page and no list. The Worker checks the assertions against a key set made for this test.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import { launchBrowser, screenshot } from "./harness/browser.ts";
import { testAccess, type TestAccess } from "./harness/access-keys.ts";

let w: WorkerHandle;
let browser: Browser;
let access: TestAccess;

beforeAll(async () => {
  access = await testAccess("https://agentroom-test.cloudflareaccess.com", "agentroom-list-test", "list-test");
  [w, browser] = await Promise.all([startWorker({ env: { ...access.env, ACCESS_OPERATORS: "op@example.com" } }), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await w?.stop();
});

const assertion = (email: string) => access.assertion(email);

async function openList(email: string | undefined) {
  const context = await browser.newContext(email ? { extraHTTPHeaders: { "Cf-Access-Jwt-Assertion": await assertion(email) } } : {});
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${w.url}/`);
  return { context, page, errors };
}

describe("the session list behind Cloudflare Access alone", () => {
  it("lists and follows sessions for an operator signed in with Access, with no token; others get no list", async () => {
    const first = await w.createSession({ title: "seen through Access" });
    const op = await openList("op@example.com");
    await op.page.waitForSelector(`[data-session-id="${first.id}"]`, { timeout: 30_000 });
    await op.page.waitForSelector("[data-signed-in]");
    // Live: a session created elsewhere appears through the list's socket, opened on the assertion.
    const second = await w.createSession({ title: "arrives live" });
    await op.page.waitForSelector(`[data-session-id="${second.id}"]`, { timeout: 15_000 });
    await op.page.waitForSelector('[data-connection="open"]');
    // Nothing was stored: no operator token at rest in the browser.
    expect(await op.page.evaluate(() => Object.keys(localStorage).filter((k) => (localStorage.getItem(k) ?? "").length > 20))).toEqual([]);
    await screenshot(op.page, "access-session-list");
    expect(op.errors).toEqual([]);

    for (const who of ["dev@example.com", undefined]) {
      const other = await openList(who);
      await other.page.waitForSelector("[data-no-list] >> text=Open the link", { timeout: 30_000 });
      expect(await other.page.locator("[data-session-id]").count()).toBe(0);
      expect(await other.page.locator("[data-signed-in]").count()).toBe(0);
      await other.context.close();
    }
    await op.context.close();
  });
});
