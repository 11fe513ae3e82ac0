/**
 * Replay in Chromium (client/src/views/ReplayScreen.tsx, shared/replay.ts, party/room/replay-lead.ts):
 * a run recorded through the agent protocol and people's commands, its runner gone, played again:
 * play, pause, seek, speed, step, the scrubber's marks and compressed idle gap, a link to a moment,
 * two browsers following a leader and one leaving, a viewer refused the lead, and the embed's
 * `replay` variant. Screenshots: docs/screenshots/replay-scrubber.png, test-results/browser/.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import WebSocket from "ws";
import { join } from "node:path";
import { startWorker, REPO_ROOT, type CreatedSession, type WorkerHandle } from "./harness/worker.ts";
import { RoomFeeder, launchBrowser, openPage, screenshot, type WatchedPage } from "./harness/browser.ts";
import type { ClientFrame, EventBody } from "../shared/protocol.ts";
import { setTimeout as sleep } from "node:timers/promises";

let worker: WorkerHandle;
let browser: Browser;
let s: CreatedSession;
/** The room's last seq once the run is recorded. */
let lastSeq = 0;
const pages: WatchedPage[] = [];
/** The owner's replay page (it leads later) and the page opened from a link to a moment. */
let owner: WatchedPage;
let moment: WatchedPage;

type Handle = {
  __agentroom: {
    replay: { loading: boolean; position: number; end: number; playing: boolean; speed: unknown; duration: number; pos: number; following: boolean; leader: { name: string } | null; notice: string | null };
    room: { order: string[]; messages: Record<string, { parts: { text?: string }[] }>; session: { agentOnline: boolean } | null };
    controls: { lead(): void; seekSeq(seq: number): void };
  };
};
const R = (page: Page) => page.evaluate(() => (window as unknown as Handle).__agentroom.replay);

/** A person's socket: sends client frames and resolves on the answer carrying their ref. */
async function person(token: string): Promise<{ send: (f: ClientFrame & { ref: string }) => Promise<Record<string, unknown>>; close: () => void }> {
  const ws = new WebSocket(`${worker.wsUrl}/parties/session-room/${s.id}`, ["agentroom", `t.${token}`]);
  const waiting = new Map<string, (f: Record<string, unknown>) => void>();
  ws.on("message", (d) => {
    const f = JSON.parse(d.toString()) as Record<string, unknown>;
    if (typeof f.ref === "string") waiting.get(f.ref)?.(f);
  });
  await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
  return {
    send: (f) => new Promise((resolve) => (waiting.set(f.ref, resolve), ws.send(JSON.stringify(f)))),
    close: () => ws.close(),
  };
}

async function open(url: string): Promise<WatchedPage> {
  const p = await openPage(browser, url, { waitFor: "[data-scrubber]" });
  pages.push(p);
  await p.page.waitForFunction(() => (window as unknown as Handle).__agentroom.replay.loading === false, null, { timeout: 30_000 });
  return p;
}

const replayUrl = (token: string, at?: number) => `${worker.url}/s/${s.id}/replay${at !== undefined ? `?at=${at}` : ""}#token=${token}`;

/** Sets the scrubber to a fraction of the timeline, as a person dragging it would. */
async function scrubTo(page: Page, fraction: number): Promise<void> {
  await page.evaluate((f) => {
    const input = document.querySelector<HTMLInputElement>(".scrub-input")!;
    input.value = String(Number(input.max) * f);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }, fraction);
}

/** The leader and its followers in one picture, for the README (docs/screenshots/). */
async function sideBySide(shown: Page[], name: string): Promise<void> {
  const shots = await Promise.all(shown.map(async (p) => (await p.screenshot()).toString("base64")));
  const context = await browser.newContext({ viewport: { width: 1920, height: 440 } });
  const page = await context.newPage();
  await page.setContent(
    `<body style="margin:0;display:flex;gap:8px;background:#888">${shots.map((b) => `<img style="width:${Math.floor(1904 / shots.length)}px" src="data:image/png;base64,${b}">`).join("")}</body>`,
  );
  await page.waitForFunction(() => [...document.images].every((i) => i.complete));
  await screenshot(page, name, join(REPO_ROOT, "docs", "screenshots"));
  await context.close();
}

beforeAll(async () => {
  [worker, browser] = await Promise.all([startWorker(), launchBrowser()]);
  s = await worker.createSession({ title: "Replayed run" });
  const feeder = await RoomFeeder.connect(worker.wsUrl, s.id, await worker.agentToken());
  const owner = await person(s.ownerToken);
  const now = Date.now();
  const ev = (...e: unknown[]) => feeder.send(e as EventBody[]);
  await owner.send({ type: "prompt", ref: "p", id: "q1", text: "Make the tests pass" });
  await ev({ type: "message.upsert", message: { id: "msg_1", role: "user", time: { created: now } } }, { type: "part.upsert", part: { id: "prt_1", messageID: "msg_1", type: "text", text: "Make the tests pass" } });
  await ev({ type: "status", status: "busy" }, { type: "message.upsert", message: { id: "msg_2", role: "assistant", time: { created: now + 1 } } }, { type: "part.upsert", part: { id: "prt_2", messageID: "msg_2", type: "text", text: "" } });
  for (const word of "Let me look at the failing test first.".split(" ")) await ev({ type: "part.delta", messageID: "msg_2", partID: "prt_2", field: "text", delta: word + " " });
  const tool = (status: string, extra: Record<string, unknown> = {}) => ({ type: "part.upsert", part: { id: "prt_3", messageID: "msg_2", type: "tool", callID: "c1", tool: "bash", state: { status, input: { command: "npm test" }, ...extra } } });
  // Waits under the idle threshold play as they happened: the run lasts seconds on the replay's clock.
  await sleep(2_500);
  await ev(tool("pending"));
  await ev({ type: "permission.asked", request: { id: "per_1", permission: "bash", title: "npm test", patterns: ["npm test"], createdAt: now } });
  await owner.send({ type: "permission.reply", ref: "r", requestID: "per_1", reply: "once" });
  await ev(tool("running", { time: { start: now } }));
  await ev(tool("error", { error: "1 test failed", time: { start: now, end: now + 1 } }));
  await sleep(2_500);
  await owner.send({ type: "chat", ref: "c", id: "chat_1", text: "it is the date test again" });
  // A wait long enough to be compressed on the replay's clock.
  await sleep(3_600);
  await ev({ type: "session.error", error: "Provider rate limit: retrying" });
  await ev({ type: "part.upsert", part: { id: "prt_4", messageID: "msg_2", type: "text", text: "Fixed: the date test used the local time zone." } }, { type: "status", status: "idle" });
  owner.close();
  // The runner goes away: the replay is of a session nobody runs any more.
  feeder.close();
  const probe = await person(s.ownerToken);
  await sleep(500);
  lastSeq = ((await probe.send({ type: "replay.log", ref: "l", after: 0 })) as { seq: number }).seq;
  probe.close();
}, 120_000);

afterAll(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close();
  await worker?.stop();
});

describe("replay in the app", () => {
  it("plays, pauses, steps, seeks and changes speed over a run whose runner is gone, with marks and a compressed gap", async () => {
    owner = await open(replayUrl(s.ownerToken));
    const { page, errors } = owner;
    let r = await R(page);
    expect(r).toMatchObject({ position: 0, end: lastSeq, playing: false });
    expect(await page.locator(".msg").count()).toBe(0);
    // Marks for the prompt, the tool call, the permission wait, the errors (tool, session) and the chat; one idle gap.
    for (const [kind, n] of [["prompt", 1], ["tool", 1], ["permission", 1], ["error", 2], ["chat", 1]] as const) {
      expect(await page.locator(`.scrub-mark[data-mark="${kind}"]`).count(), kind).toBe(n);
    }
    expect(await page.locator(".scrub-gap").count()).toBe(1);
    await screenshot(page, "replay-start");

    // Step one event forward and back.
    for (let i = 0; i < 6; i++) await page.click('[data-step="1"]');
    expect((await R(page)).position).toBe(6);
    await page.click('[data-step="-1"]');
    expect((await R(page)).position).toBe(5);
    await page.waitForSelector('.msg-user:has-text("Make the tests pass")');

    // Speed 16× and play to the end: the whole run, the runner's last word and its leaving.
    await page.click('[data-speed="16"]');
    expect(await page.getAttribute('[data-speed="16"]', "aria-pressed")).toBe("true");
    await page.click("[data-play]");
    await page.waitForFunction((end) => (window as unknown as Handle).__agentroom.replay.position === end, lastSeq, { timeout: 30_000 });
    await page.waitForFunction(() => !(window as unknown as Handle).__agentroom.replay.playing);
    await page.waitForSelector("text=Fixed: the date test used the local time zone.");
    expect(await page.evaluate(() => (window as unknown as Handle).__agentroom.room.session?.agentOnline)).toBe(false);

    // Seek with the scrubber to the middle: the transcript goes back in time.
    await scrubTo(page, 0.3);
    r = await R(page);
    expect(r.position).toBeGreaterThan(0);
    expect(r.position).toBeLessThan(lastSeq);
    expect(await page.locator("text=Fixed: the date test used the local time zone.").count()).toBe(0);

    // Play at 1× and pause: the position holds while paused.
    await page.click('[data-speed="1"]');
    await page.click("[data-play]");
    await page.waitForFunction((p) => (window as unknown as Handle).__agentroom.replay.pos > p + 100, r.pos);
    await page.click("[data-play]");
    const paused = await R(page);
    expect(paused.playing).toBe(false);
    await page.waitForTimeout(400);
    expect((await R(page)).pos).toBe(paused.pos);

    // The scrubber for the README, at the permission wait.
    const permissionSeq = Number(await page.getAttribute('.scrub-mark[data-mark="permission"]', "data-seq"));
    await page.evaluate((seq) => (window as unknown as Handle).__agentroom.controls.seekSeq(seq), permissionSeq);
    await page.waitForSelector(".dock, [class*=perm]");
    await screenshot(page, "replay-scrubber", join(REPO_ROOT, "docs", "screenshots"));
    expect(errors).toEqual([]);
  });

  it("links to a moment: Share this moment makes a link that opens paused there", async () => {
    const { page } = owner;
    await page.evaluate(() => (window as unknown as Handle).__agentroom.controls.seekSeq(6));
    await page.click("[data-share-moment]");
    const link = await page.locator("[data-moment-link]").inputValue();
    expect(link).toMatch(new RegExp(`/s/${s.id}/replay\\?at=6#token=`));
    // The link works for someone else: a fresh viewer link, not the owner's token.
    moment = await open(link);
    expect(await R(moment.page)).toMatchObject({ position: 6, playing: false });
    expect(await moment.page.getAttribute("[data-replay]", "data-role")).toBe("viewer");
    expect(owner.errors.concat(moment.errors)).toEqual([]);
  });

  it("two browsers follow a leader; one leaves and scrubs alone, then rejoins; a viewer may not lead", async () => {
    const leader = owner;
    const a = moment;
    const b = await open(replayUrl(await worker.mintToken({ sid: s.id, role: "viewer", name: "Bo" })));
    // Viewers are not offered the lead, and the room refuses one who tries anyway.
    expect(await a.page.locator("[data-lead]").count()).toBe(0);
    await a.page.waitForFunction(() => (window as unknown as { __agentroom: { room: { connection: { kind: string } } } }).__agentroom.room.connection.kind === "open");
    await a.page.evaluate(() => (window as unknown as Handle).__agentroom.controls.lead());
    await a.page.waitForFunction(() => /may follow a replay but not lead/.test((window as unknown as Handle).__agentroom.replay.notice ?? ""));

    await leader.page.click("[data-lead]");
    for (const f of [a, b]) await f.page.click("[data-follow]", { timeout: 10_000 });
    // Presence shows who follows.
    await leader.page.waitForSelector('[data-watcher="Bo"][data-state="following"]');
    expect(await leader.page.locator('[data-state="following"]').count()).toBe(2);
    await screenshot(leader.page, "replay-leader-presence");

    // The leader seeks and plays at 2×: both follow.
    await leader.page.click('[data-speed="2"]');
    await scrubTo(leader.page, 0.1);
    await leader.page.click("[data-play]");
    for (const f of [a, b]) await f.page.waitForFunction(() => (window as unknown as Handle).__agentroom.replay.playing && (window as unknown as Handle).__agentroom.replay.speed === 2);
    await leader.page.click("[data-play]"); // pause: followers stop where the leader stopped
    const at = (await R(leader.page)).position;
    for (const f of [a, b]) await f.page.waitForFunction((p) => !(window as unknown as Handle).__agentroom.replay.playing && (window as unknown as Handle).__agentroom.replay.position === p, at);
    await screenshot(a.page, "replay-follower-a");
    await screenshot(b.page, "replay-follower-b");
    // No link (with its token) in a picture for the README.
    await leader.page.evaluate(() => document.querySelector(".moment-link")?.remove());
    await sideBySide([leader.page, a.page, b.page], "replay-together");

    // Bo leaves follow mode and scrubs alone; the leader's next move reaches the other follower only.
    await b.page.click("[data-unfollow]");
    await scrubTo(b.page, 0.9);
    const bAt = (await R(b.page)).position;
    await leader.page.waitForSelector('[data-watcher="Bo"][data-state="watching"]');
    await leader.page.evaluate(() => (window as unknown as Handle).__agentroom.controls.seekSeq(2));
    await a.page.waitForFunction(() => (window as unknown as Handle).__agentroom.replay.position === 2);
    await b.page.waitForTimeout(300);
    expect((await R(b.page)).position).toBe(bAt);
    // Bo rejoins and is put where the leader is.
    await b.page.click("[data-follow]");
    await b.page.waitForFunction(() => (window as unknown as Handle).__agentroom.replay.position === 2);
    for (const p of [leader, a, b]) expect(p.errors).toEqual([]);
  });

  it("plays in an embed with the replay attribute's fragment", async () => {
    const viewer = await worker.mintToken({ sid: s.id, role: "viewer", name: "Embed" });
    const { page, errors } = await openPage(browser, `${worker.url}/embed/${s.id}#token=${viewer}&replay=1`, { waitFor: "[data-scrubber]" });
    pages.push({ page, errors, context: page.context() });
    await page.waitForFunction(() => (window as unknown as Handle).__agentroom.replay.position > 0, null, { timeout: 30_000 });
    expect(await page.locator(".back").count()).toBe(0);
    expect(errors).toEqual([]);
  });
});
