/**
 * Chat in Chromium against real workerd: two desktop browsers (owner, driver) and a phone-width
 * viewer whose link allows chat, plus a viewer whose link does not. A comment on a tool part
 * appears on that part for everyone; the viewer without chat reads the conversation but has no
 * composer; "Ask the agent" queues the message as a prompt; XSS payloads in chat run nothing;
 * unread chat shows in the chat button and the tab title. The agent side is a feeder holding the
 * lease with the agent busy, so an asked prompt stays visible in the queue. Screenshots of the
 * chat panel, a commented part and the phone drawer go to test-results/browser/.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import { RoomFeeder, launchBrowser, openPage, screenshot, type WatchedPage } from "./harness/browser.ts";
import type { EventBody } from "../shared/protocol.ts";

let worker: WorkerHandle;
let browser: Browser;
const pages: WatchedPage[] = [];

beforeAll(async () => {
  [worker, browser] = await Promise.all([startWorker(), launchBrowser()]);
});

afterAll(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close();
  await worker?.stop();
});

async function open(url: string, viewport?: { width: number; height: number }): Promise<WatchedPage> {
  const p = await openPage(browser, url, { waitFor: ".room", ...(viewport ? { viewport } : {}) });
  pages.push(p);
  return p;
}

async function shareLink(id: string, ownerToken: string, body: Record<string, unknown>, which: "url" | "embedUrl" = "url"): Promise<string> {
  const res = await fetch(`${worker.url}/api/sessions/${id}/share`, {
    method: "POST",
    headers: { authorization: `Bearer ${ownerToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return `${worker.url}${((await res.json()) as Record<typeof which, string>)[which]}`;
}

/** A short run: a prompt, an answer with text and a completed bash tool; the agent stays busy. */
function run(now: number): EventBody[] {
  return [
    { type: "message.upsert", message: { id: "msg_u1", role: "user", time: { created: now - 5000 } } },
    { type: "part.upsert", part: { id: "prt_u1", messageID: "msg_u1", type: "text", text: "Remove the flaky test and run the suite" } },
    { type: "message.upsert", message: { id: "msg_a1", role: "assistant", time: { created: now - 4000 } } },
    { type: "part.upsert", part: { id: "prt_t1", messageID: "msg_a1", type: "text", text: "I'll delete `test/flaky.test.ts` and run the tests." } },
    {
      type: "part.upsert",
      part: {
        id: "prt_tool1",
        messageID: "msg_a1",
        type: "tool",
        callID: "c1",
        tool: "bash",
        state: { status: "completed", input: { command: "rm test/flaky.test.ts && npm test" }, output: "42 passed", title: "rm test/flaky.test.ts && npm test", metadata: {}, time: { start: now - 3000, end: now - 2000 } },
      },
    },
    { type: "status", status: "busy" },
  ] as EventBody[];
}

const sendChat = async (p: Page, text: string) => {
  const input = p.locator(".chat-input");
  await input.fill(text);
  await input.press("Enter");
};
const chatTexts = (p: Page) => p.locator(".chat-list .chat-msg").allTextContents();

describe("chat in the room", () => {
  it("two browsers and a phone talk, comment on a tool part, ask the agent; a viewer without chat only reads; XSS runs nothing", async () => {
    const s = await worker.createSession({ title: "Clean up the tests", name: "Owen" });
    const feeder = await RoomFeeder.connect(worker.wsUrl, s.id, await worker.agentToken());
    await feeder.send(run(Date.now()));

    const owner = await open(`${worker.url}${s.url}`);
    const driverToken = await worker.mintToken({ sid: s.id, role: "driver", name: "Dana" });
    const driver = await open(`${worker.url}/s/${s.id}#token=${driverToken}`);
    const phone = await open(await shareLink(s.id, s.ownerToken, { role: "viewer", name: "Pia", canChat: true }), { width: 390, height: 844 });
    const quiet = await open(await shareLink(s.id, s.ownerToken, { role: "viewer", name: "Quinn" }));
    for (const p of [owner, driver, phone, quiet]) await p.page.waitForSelector('[data-part-id="prt_tool1"]');

    // Wide screens show the chat from the start; the phone keeps it in a drawer.
    await owner.page.waitForSelector("[data-chat-panel]");
    await driver.page.waitForSelector("[data-chat-panel]");
    expect(await phone.page.locator("[data-chat-panel]").count()).toBe(0);

    // Chat typing is shown apart from prompt typing.
    await driver.page.locator(".chat-input").fill("Owen, why");
    await owner.page.waitForSelector(".chat-typing:has-text('Dana is writing in chat')");
    expect(await owner.page.locator(".presence .typing-note").count()).toBe(0);

    // A message with a mention: highlighted for the one mentioned.
    await sendChat(driver.page, "@Owen why did it delete **that** test?");
    await owner.page.waitForSelector(".chat-msg.mentioned .mention-you");
    expect(await owner.page.locator(".chat-msg.mentioned strong").textContent()).toBe("that");
    expect(await driver.page.locator(".chat-msg.mentioned").count()).toBe(0);
    expect(await driver.page.locator(".chat-msg .mention").count()).toBe(1);

    // Unread chat: the phone's chat button and tab title count it.
    await phone.page.waitForSelector('.chat-toggle[data-unread="1"]');
    expect(await phone.page.title()).toContain("1 new in chat");

    // A comment on the tool part, from the driver: it appears on that part for everyone.
    await driver.page.locator('[data-part-id="prt_tool1"] > .comment-add').click({ force: true });
    await driver.page.waitForSelector(".chat-thread-chip");
    expect(await driver.page.locator(".chat-thread-chip").textContent()).toContain("bash");
    await sendChat(driver.page, "This `rm` removed the only test for the parser.");
    for (const p of [owner, driver, phone, quiet]) {
      await p.page.waitForSelector('[data-part-id="prt_tool1"] > .comment-count[data-comment-count="1"]');
    }
    await phone.page.locator('[data-part-id="prt_tool1"] > .comment-count').click();
    await phone.page.waitForSelector("[data-chat-panel] .chat-thread-chip");
    expect(await chatTexts(phone.page)).toEqual([expect.stringContaining("removed the only test for the parser")]);
    await screenshot(owner.page, "chat-panel-before-thread");
    await owner.page.locator('[data-part-id="prt_tool1"] > .comment-count').click();
    await owner.page.waitForSelector("[data-chat-panel] .chat-thread-chip");
    await screenshot(owner.page, "chat-commented-part");
    await owner.page.locator(".chat-thread-chip .icon-button").click();
    await driver.page.locator(".chat-thread-chip .icon-button").click();

    // The phone (canChat viewer) answers in the drawer; everyone sees it.
    await phone.page.locator(".chat-thread-chip .icon-button").click();
    await sendChat(phone.page, "Looks wrong to me. Restore test/flaky.test.ts and fix the flake instead");
    await driver.page.waitForSelector(".chat-msg:has-text('Restore test/flaky.test.ts')");
    await screenshot(phone.page, "chat-phone-drawer");

    // The viewer without chat sees the conversation, and no composer anywhere.
    // (Wide screen: the chat is open already; `c` opens it either way: the keyboard shortcut.)
    await quiet.page.locator(".chat-toggle").click();
    await quiet.page.keyboard.press("c");
    await quiet.page.waitForSelector(".chat-msg:has-text('Restore test/flaky.test.ts')");
    expect(await quiet.page.locator(".chat-composer, .chat-input").count()).toBe(0);
    expect(await quiet.page.locator(".chat-readonly").textContent()).toContain("cannot post");
    expect(await quiet.page.locator(".comment-add").count()).toBe(0);
    expect(await quiet.page.locator(".chat-ask, .chat-actions").count()).toBe(0);

    // "Ask the agent" on Pia's message, by the driver: it waits in the queue, named for both.
    const piaMsg = driver.page.locator(".chat-msg", { hasText: "Restore test/flaky.test.ts" });
    await piaMsg.locator(".chat-ask").click();
    for (const p of [owner, driver, phone, quiet]) {
      await p.page.waitForSelector(".queue-item:has-text('Restore test/flaky.test.ts'):has-text('Dana, from Pia')");
      await p.page.waitForSelector(".chat-asked:has-text('Sent to the agent by Dana')");
    }
    // The viewers may not ask.
    expect(await phone.page.locator(".chat-ask").count()).toBe(0);
    await screenshot(owner.page, "chat-panel");

    // XSS payloads run nothing.
    const payloads = [
      `<img src=x onerror="window.__xss=1">`,
      `<script>window.__xss=2</script>`,
      `[click](javascript:window.__xss=3)`,
      `<svg onload="window.__xss=4"></svg>`,
      `<a href="javascript:window.__xss=5">x</a> <iframe src="javascript:window.__xss=6"></iframe>`,
      `@Owen <b onmouseover="window.__xss=7">hover</b> <details open ontoggle="window.__xss=8">`,
    ];
    let dialogs = 0;
    for (const p of [owner, driver]) p.page.on("dialog", (d) => void d.dismiss().then(() => dialogs++));
    for (const x of payloads) await sendChat(driver.page, x);
    await owner.page.waitForFunction((n) => document.querySelectorAll(".chat-list .chat-msg").length >= n, 3 + payloads.length);
    await owner.page.locator(".chat-list .chat-msg").last().hover();
    await owner.page.waitForTimeout(300);
    for (const p of [owner, driver]) {
      const found = await p.page.evaluate(() => {
        const list = document.querySelector(".chat-list")!;
        const bad = list.querySelectorAll("script, iframe, object, embed, svg[onload], [onerror], [onload], [onmouseover], [ontoggle]");
        const jsLinks = [...list.querySelectorAll("a")].filter((a) => /^\s*javascript:/i.test(a.getAttribute("href") ?? ""));
        return { bad: bad.length, jsLinks: jsLinks.length, xss: (window as unknown as { __xss?: number }).__xss ?? null };
      });
      expect(found).toEqual({ bad: 0, jsLinks: 0, xss: null });
    }
    expect(dialogs).toBe(0);

    // Embeds: a link with chat shows it read-only; a link without chat shows none.
    const embedChat = await open(await shareLink(s.id, s.ownerToken, { role: "viewer", name: "Em", canChat: true }, "embedUrl"));
    await embedChat.page.locator(".chat-toggle").click();
    await embedChat.page.waitForSelector(".chat-msg:has-text('Restore test/flaky.test.ts')");
    expect(await embedChat.page.locator(".chat-input, .chat-actions, .comment-add").count()).toBe(0);
    const embedQuiet = await open(await shareLink(s.id, s.ownerToken, { role: "viewer", name: "En" }, "embedUrl"));
    await embedQuiet.page.waitForSelector('[data-part-id="prt_tool1"], [data-tool="bash"]');
    expect(await embedQuiet.page.locator(".chat-toggle, [data-chat-panel], .comment-count").count()).toBe(0);

    // The session list (a browser that never opened the chat) counts every message as unread.
    const list = await openPage(browser, `${worker.url}/#token=${await worker.operatorToken()}`, { waitFor: `[data-session-id="${s.id}"]` });
    pages.push(list);
    const posted = 3 + payloads.length;
    await list.page.waitForSelector(`[data-session-id="${s.id}"] [data-unread-chat="${posted}"]`);
    expect(await list.page.title()).toContain(`${posted} new in chat`);
    for (const p of [owner, driver, phone, quiet, embedChat, embedQuiet, list]) expect(p.errors).toEqual([]);
    feeder.close();
  });
});
