/**
 * The transcript at scale in Chromium: a session of 5,000 messages opens with only a page of them
 * and only the visible rows in the DOM; scrolling up loads older pages; a reader who scrolled up
 * is not dragged down by new messages and gets "jump to latest (N new)"; a streaming answer
 * follows the bottom for a reader who is there. Rooms are filled through the agent protocol (no
 * runner here: the scripted model cannot make 5,000 messages on demand).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import { RoomFeeder, launchBrowser, openPage, screenshot, syntheticMessages } from "./harness/browser.ts";
import type { EventBody } from "../shared/protocol.ts";
import { setTimeout as sleep } from "node:timers/promises";

let worker: WorkerHandle;
let browser: Browser;

type Handle = { __agentroom: { room: { order: string[]; hasMore: boolean; loadingHistory: boolean } } };

beforeAll(async () => {
  [worker, browser] = await Promise.all([startWorker(), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
});

describe("a large tool output", () => {
  it("arrives shortened by the room and loads in full on demand", async () => {
    const s = await worker.createSession({ title: "Big output" });
    const feeder = await RoomFeeder.connect(worker.wsUrl, s.id, await worker.agentToken());
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${String(i).padStart(5, "0")} of a very long build log`);
    const output = lines.join("\n");
    const now = Date.now();
    await feeder.send([
      { type: "message.upsert", message: { id: "msg_000001", role: "assistant", time: { created: now, completed: now } } },
      {
        type: "part.upsert",
        part: {
          id: "prt_000001_0",
          messageID: "msg_000001",
          type: "tool",
          callID: "c1",
          tool: "bash",
          state: { status: "completed", input: { command: "make" }, output, title: "make", metadata: {}, time: { start: now, end: now + 9000 } },
        },
      },
    ] as EventBody[]);
    const { page, errors } = await openPage(browser, `${worker.url}${s.url}`, { waitFor: '[data-tool="bash"]' });
    await page.click(".tool-head");
    await page.waitForSelector("text=Shortened by the room");
    await page.getByRole("button", { name: "Load full output" }).click();
    await page.waitForFunction((n) => (document.querySelector(".output-text")?.textContent?.length ?? 0) === n, output.length, { timeout: 15_000 });
    expect(await page.locator(".output-text").textContent()).toBe(output);
    expect(errors).toEqual([]);
    feeder.close();
  });
});

describe("a long transcript", () => {
  it("renders 5,000 messages a page and a screen at a time, loads history upward, and never drags a reader down", async () => {
    const s = await worker.createSession({ title: "Five thousand messages" });
    const feeder = await RoomFeeder.connect(worker.wsUrl, s.id, await worker.agentToken());
    const events = syntheticMessages(5_000);
    for (let i = 0; i < events.length; i += 2_000) await feeder.send(events.slice(i, i + 2_000));

    const { page, errors } = await openPage(browser, `${worker.url}${s.url}`, { waitFor: '[data-message-id="msg_004999"]' });
    const loaded = () => page.evaluate(() => (window as unknown as Handle).__agentroom.room.order.length);
    expect(await loaded()).toBe(50); // one snapshot page, not 5,000
    // Its socket was opened by the boot module, before the app ran, and adopted (lib/early-socket.ts).
    expect(await page.evaluate(() => performance.getEntriesByName("agentroom:early-socket-adopted").length)).toBe(1);
    expect(await page.locator(".msg").count()).toBeLessThan(30); // only what is near the viewport

    // Scroll to the top twice: two older pages arrive, and the reader stays where they were.
    for (const expected of [100, 150]) {
      await page.evaluate(() => (document.querySelector(".transcript")!.scrollTop = 0));
      await page.waitForFunction((n) => (window as unknown as Handle).__agentroom.room.order.length >= n, expected);
      await page.waitForFunction(() => !(window as unknown as Handle).__agentroom.room.loadingHistory);
      await page.waitForTimeout(200);
      const top = await page.evaluate(() => document.querySelector(".transcript")!.scrollTop);
      expect(top).toBeGreaterThan(1_000); // anchored: not snapped to the new top, not to the bottom
    }
    expect(await page.locator(".msg").count()).toBeLessThan(30);

    // New messages while scrolled up: no jump, and a counter on the way back.
    const topBefore = await page.evaluate(() => document.querySelector(".transcript")!.scrollTop);
    const now = Date.now();
    const more: EventBody[] = [];
    for (const i of [5_000, 5_001]) {
      const id = `msg_00${i}`;
      more.push({ type: "message.upsert", message: { id, role: i % 2 ? "assistant" : "user", time: { created: now, completed: now } } });
      more.push({ type: "part.upsert", part: { id: `prt_00${i}_0`, messageID: id, type: "text", text: `late message ${i}` } });
    }
    await feeder.send(more);
    await page.waitForSelector("text=Jump to latest (2 new)");
    expect(await page.evaluate(() => document.querySelector(".transcript")!.scrollTop)).toBe(topBefore);
    await page.click("text=Jump to latest (2 new)");
    await page.waitForSelector('[data-message-id="msg_005001"]');
    await page.waitForFunction(() => {
      const t = document.querySelector(".transcript")!;
      return t.scrollHeight - t.scrollTop - t.clientHeight < 60;
    });

    // At the bottom, a streaming answer keeps the bottom in view as it grows.
    await feeder.send([
      { type: "message.upsert", message: { id: "msg_005002", role: "assistant", time: { created: now } } },
      { type: "part.upsert", part: { id: "prt_005002_0", messageID: "msg_005002", type: "text", text: "" } },
    ]);
    for (let i = 0; i < 60; i++) {
      feeder.sendNoWait([{ type: "part.delta", messageID: "msg_005002", partID: "prt_005002_0", field: "text", delta: `word${i} ${i % 8 === 7 ? "\n\n" : ""}` }]);
      await sleep(10);
    }
    await page.waitForFunction(() => document.querySelector('[data-message-id="msg_005002"]')?.textContent?.includes("word59"));
    await page.waitForTimeout(300);
    const gap = await page.evaluate(() => {
      const t = document.querySelector(".transcript")!;
      return t.scrollHeight - t.scrollTop - t.clientHeight;
    });
    expect(gap).toBeLessThan(60);
    expect(await page.locator(".jump-latest").count()).toBe(0);
    await screenshot(page, "long-transcript");
    expect(errors).toEqual([]);
    feeder.close();
  });
});
