/**
 * Chromium for the browser tests, screenshots and the client bench, driven by playwright-core:
 * the system's /usr/bin/chromium, or the one an npm package ships (test/harness/chromium.ts). Every page's console errors and uncaught
 * exceptions are collected so a test can assert the app ran clean.
 *
 * Also a small "room feeder": it joins a room as the agent and commits transcript events through
 * the ordinary agent protocol, for what the scripted model cannot produce on demand (a session of
 * 5,000 messages, 100 deltas per second for the client bench).
 */
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";
import type { EventBody } from "../../shared/protocol.ts";
import type { Message, Part } from "../../shared/parts.ts";
import { REPO_ROOT } from "./worker.ts";
import { chromiumBinary } from "./chromium.ts";

export { chromiumAvailable } from "./chromium.ts";
export const ARTIFACTS = join(REPO_ROOT, "test-results", "browser");

export async function launchBrowser(): Promise<Browser> {
  const bin = chromiumBinary();
  return chromium.launch({
    executablePath: bin.executablePath,
    ...(bin.env ? { env: { ...process.env, ...bin.env } } : {}),
    headless: true,
    // WebUIOmniboxPopup: Chromium 156 builds the omnibox popup as a WebUI page in every new
    // window, a renderer that used more CPU than the page under test while a page loaded (1.8 s
    // against 1.3 s, traced); a headless window never shows it.
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--disable-features=WebUIOmniboxPopup"],
  });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and page errors so far. */
  errors: string[];
}

export async function openPage(
  browser: Browser,
  url: string,
  opts: { viewport?: { width: number; height: number }; colorScheme?: "light" | "dark"; waitFor?: string } = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 860 }, colorScheme: opts.colorScheme ?? "light" });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(url);
  if (opts.waitFor) await page.waitForSelector(opts.waitFor, { timeout: 30_000 });
  return { page, context, errors };
}

export async function screenshot(page: Page, name: string, dir: string = ARTIFACTS): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

// ───────────────────────────── room feeder ─────────────────────────────

/** Joins a room as the agent and commits events in batches, waiting for each batch's ack. */
export class RoomFeeder {
  private readonly ws: WebSocket;
  private batch = 0;
  private readonly acks = new Map<string, () => void>();
  private readonly heartbeat: ReturnType<typeof setInterval>;
  /** Set when the room closed the connection (e.g. lease lost): later sends throw. */
  closedWith: { code: number; reason: string } | null = null;
  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (d) => {
      const f = JSON.parse(d.toString()) as { type: string; batchId?: string };
      if (f.type === "agent.ack" && f.batchId) this.acks.get(f.batchId)?.();
    });
    ws.on("close", (code, reason) => {
      this.closedWith = { code, reason: reason.toString() };
      clearInterval(this.heartbeat);
    });
    // The lease lapses without renewal (agentLeaseMs, 30 s) and the room then closes the socket.
    this.heartbeat = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "agent.heartbeat", runnerId: "room-feeder" }));
    }, 5_000);
    this.heartbeat.unref();
  }

  private check(): void {
    if (this.closedWith) throw new Error(`room feeder: the room closed the connection (${this.closedWith.code} ${this.closedWith.reason})`);
  }

  static async connect(wsBase: string, sessionId: string, agentToken: string): Promise<RoomFeeder> {
    const ws = new WebSocket(`${wsBase}/parties/session-room/${sessionId}`, ["agentroom", `t.${agentToken}`]);
    const leased = new Promise<void>((resolve, reject) => {
      ws.on("message", (d) => {
        const f = JSON.parse(d.toString()) as { type: string; granted?: boolean };
        if (f.type === "agent.lease") (f.granted ? resolve : () => reject(new Error("lease refused")))();
      });
      ws.once("error", reject);
    });
    await leased;
    return new RoomFeeder(ws);
  }

  /** Commits events (each with a unique eid) and resolves when the room acknowledged them. */
  send(events: EventBody[]): Promise<void> {
    this.check();
    const batchId = `feed-${Date.now().toString(36)}-${++this.batch}`;
    const done = new Promise<void>((resolve) => this.acks.set(batchId, resolve));
    this.ws.send(JSON.stringify({ type: "agent.batch", batchId, events: events.map((body, i) => ({ eid: `${batchId}-${i}`, body })) }));
    return done.finally(() => this.acks.delete(batchId));
  }

  /** Sends without waiting for the ack (streaming at a fixed rate). */
  sendNoWait(events: EventBody[]): void {
    this.check();
    const batchId = `feed-${Date.now().toString(36)}-${++this.batch}`;
    this.ws.send(JSON.stringify({ type: "agent.batch", batchId, events: events.map((body, i) => ({ eid: `${batchId}-${i}`, body })) }));
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.ws.close();
  }
}

const pad = (n: number) => String(n).padStart(6, "0");

/** A plausible conversation of `count` messages (user/assistant alternating, text and tools). */
export function syntheticMessages(count: number, start = Date.now() - count * 1000): EventBody[] {
  const out: EventBody[] = [];
  for (let i = 0; i < count; i++) {
    const id = `msg_${pad(i)}`;
    const user = i % 2 === 0;
    const created = start + i * 1000;
    const message: Message = user
      ? ({ id, role: "user", time: { created } } as Message)
      : ({ id, role: "assistant", time: { created, completed: created + 900 }, agent: "build", modelID: "scripted" } as Message);
    out.push({ type: "message.upsert", message });
    const parts: Part[] = user
      ? [{ id: `prt_${pad(i)}_0`, messageID: id, type: "text", text: `Question number ${i}: can you look at \`src/file${i % 40}.ts\`?` } as Part]
      : [
          { id: `prt_${pad(i)}_0`, messageID: id, type: "text", text: `Answer ${i}. Here is what I found:\n\n- the function **adds** numbers\n- it is called from two places\n\n\`\`\`ts\nexport const add${i} = (a: number, b: number) => a + b;\n\`\`\`` } as Part,
          ...(i % 4 === 1
            ? [{ id: `prt_${pad(i)}_1`, messageID: id, type: "tool", callID: `c${i}`, tool: "bash", state: { status: "completed", input: { command: `grep -rn add${i} src` }, output: `src/a.ts:${i}: add${i}(1, 2)\n`, title: `grep add${i}`, metadata: {}, time: { start: created, end: created + 120 } } } as Part]
            : []),
        ];
    for (const part of parts) out.push({ type: "part.upsert", part });
  }
  return out;
}
