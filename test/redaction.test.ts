/**
 * Secrets never reach viewers (real workerd, real runner, real `opencode`, the scripted model):
 * the agent reads a `.env` holding an AWS key, a GitHub token, a private key and a value of the
 * runner's own environment, prints `env`, writes a script with the token, thinks about the key
 * and quotes the file back. Every frame a driver, a viewer, a relay viewer and a late joiner
 * received, a history page, the embed's page and the room's stored state on disk hold none of
 * them; the agent saw the real values and the files on disk keep them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { startStack, joinRoom, turnDone, opencodeMessages, until, type Stack } from "./harness/stack.ts";
import { chromiumAvailable, launchBrowser, openPage, screenshot } from "./harness/browser.ts";
import { REPO_ROOT } from "./harness/worker.ts";
import type { RoomClient } from "../shared/room-client.ts";
import { SAMPLE_AWS_ACCESS_KEY, SAMPLE_AWS_SECRET, SAMPLE_GITHUB_TOKEN, SAMPLE_PRIVATE_KEY } from "../runner/redact-samples.ts";

const ENV_TOKEN = "rnr-9f8e7d6c5b4a3210-deploy";
const KEY_LINE = SAMPLE_PRIVATE_KEY.split("\n")[5]!;
const DOTENV = [
  "# deploy settings",
  `AWS_ACCESS_KEY_ID=${SAMPLE_AWS_ACCESS_KEY}`,
  `AWS_SECRET_ACCESS_KEY=${SAMPLE_AWS_SECRET}`,
  `GITHUB_TOKEN=${SAMPLE_GITHUB_TOKEN}`,
  `DEPLOY_API_TOKEN=${ENV_TOKEN}`,
  `DEPLOY_KEY="${SAMPLE_PRIVATE_KEY}"`,
  "REGION=eu-west-1",
  "",
].join("\n");
/** What must appear nowhere outside the runner's machine. */
const SECRETS: Record<string, string> = {
  "AWS access key": SAMPLE_AWS_ACCESS_KEY,
  "AWS secret": SAMPLE_AWS_SECRET,
  "GitHub token": SAMPLE_GITHUB_TOKEN,
  "runner env value": ENV_TOKEN,
  "private key line": KEY_LINE,
};

function leaks(text: string): string[] {
  return Object.entries(SECRETS).flatMap(([name, s]) => (text.includes(s) ? [name] : []));
}

function recordFrames(c: RoomClient): string[] {
  const frames: string[] = [];
  c.onFrame((f) => void frames.push(JSON.stringify(f)));
  return frames;
}

/** Waits until the page shows `text` to a person (rendered text: not in a collapsed block). */
async function shows(page: Page, text: string): Promise<void> {
  await page.waitForFunction((t) => document.body.innerText.includes(t), text, { timeout: 30_000 });
}

function* filesUnder(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* filesUnder(p);
    else yield p;
  }
}

let stack: Stack;
let browser: Browser | undefined;

beforeAll(async () => {
  stack = await startStack({
    worker: { env: { LIMIT_RELAY_AFTER_VIEWERS: "1" } },
    runnerEnv: { AGENTROOM_PERMISSION: '{"bash":"allow"}', DEPLOY_API_TOKEN: ENV_TOKEN },
  });
  if (chromiumAvailable()) browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("secrets never reach viewers", () => {
  it("the .env run: no frame, snapshot, history, relay, embed or stored byte holds a secret; the agent and the disk keep them", async () => {
    const s = await stack.worker.createSession({ title: "deploy" });
    await stack.runner.waitHolding(s.id);
    const driver = await joinRoom(stack, s.id, "driver", "dana");
    await driver.waitFor((c) => Boolean(c.transcript.session?.workspace), 30_000);
    const workspace = driver.transcript.session!.workspace!;
    writeFileSync(join(workspace, ".env"), DOTENV);

    // The first viewer stays on the room; the next goes through a relay (LIMIT_RELAY_AFTER_VIEWERS=1).
    const viewer = await joinRoom(stack, s.id, "viewer", "vic");
    const relayed = await joinRoom(stack, s.id, "viewer", "val");
    const clients = [driver, viewer, relayed];
    const frames = clients.map(recordFrames);

    await driver.prompt("check the secrets and deploy");
    await Promise.all(clients.map((c) => c.waitFor((x) => turnDone(x, 2) && x.transcript.session?.agentStatus === "idle", 120_000)));
    await until(() => (driver.transcript.session?.redacted?.count ?? 0) >= 5, 30_000, "the redaction count");

    // The agent saw the real values; the workspace keeps them.
    const oc = JSON.stringify(await opencodeMessages(stack.runner, driver.transcript.session!.opencodeSessionId!, workspace));
    expect(oc).toContain(SAMPLE_GITHUB_TOKEN);
    expect(oc).toContain(KEY_LINE);
    expect(readFileSync(join(workspace, ".env"), "utf8")).toBe(DOTENV);
    expect(readFileSync(join(workspace, "deploy.sh"), "utf8")).toContain(`GITHUB_TOKEN=${SAMPLE_GITHUB_TOKEN}`);

    // What people got: markers in place of the values, everywhere.
    const shown = JSON.stringify(driver.transcript.messages);
    for (const m of ["AWS access key", "AWS secret access key", "GitHub token", "private key", "environment secret"]) expect(shown).toContain(`[redacted: ${m}]`);
    expect(shown).toContain("REGION=eu-west-1");
    for (const [i, f] of frames.entries()) expect(leaks(f.join("\n")), `client ${i}`).toEqual([]);
    expect(driver.transcript.session!.redacted!.rules["GitHub token"]).toBeGreaterThanOrEqual(1);

    // A late joiner's snapshot and a history page.
    const late = await joinRoom(stack, s.id, "viewer", "late");
    const lateFrames = recordFrames(late);
    late.resync();
    await late.waitFor((c) => c.live && c.transcript.messages.length >= 2, 30_000);
    await late.loadOlder(50).catch(() => 0);
    expect(leaks(lateFrames.join("\n") + JSON.stringify(late.transcript.messages))).toEqual([]);

    // The embed and the session page, as a viewer sees them.
    if (browser) {
      const token = await stack.worker.mintToken({ sid: s.id, role: "viewer", name: "Vera Viewer" });
      const page = await openPage(browser, `${stack.worker.url}/s/${s.id}#token=${token}`, { waitFor: ".room" });
      await page.page.waitForSelector(".badge.redacted", { timeout: 30_000 });
      await shows(page.page, "[redacted: GitHub token]");
      await page.page.getByText("cat .env").first().click();
      await shows(page.page, "DEPLOY_API_TOKEN=[redacted: environment secret]");
      expect(leaks(await page.page.content())).toEqual([]);
      await screenshot(page.page, "redaction-viewer");
      await screenshot(page.page, "redaction-viewer", join(REPO_ROOT, "docs", "screenshots"));
      await page.context.close();
      const embed = await openPage(browser, `${stack.worker.url}/embed/${s.id}#token=${token}`, { waitFor: ".room" });
      await shows(embed.page, "[redacted: GitHub token]");
      expect(leaks(await embed.page.content())).toEqual([]);
      await embed.context.close();
    }
    for (const c of [...clients, late]) c.close();

    // The room's stored state (SQLite, its WAL) on disk.
    let bytes = 0;
    for (const file of filesUnder(stack.worker.persistDir)) {
      const data = readFileSync(file);
      bytes += data.length;
      expect(leaks(data.toString("latin1")), file).toEqual([]);
    }
    expect(bytes).toBeGreaterThan(0);
  }, 240_000);
});
