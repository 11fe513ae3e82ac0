/**
 * Revocation as the people on a revoked link see it, on the stack `npm start` runs (wrangler dev,
 * workerd; started here through the same launcher, scripts/wrangler-dev.ts), 20 tries:
 *
 *  - revoke → close frame: from sending `DELETE /api/sessions/:id/links/:linkId` until the last
 *    of `--sockets` raw sockets (`ws`) of that link has the room's close frame (4411; `ws` turns
 *    CLOSING as it reads it — the TCP connection itself stays open 15 s+ on local workerd);
 *  - revoke → "revoked" shown: until a Chromium tab of the same link shows "This link was revoked"
 *    (the page's own clock, test/harness/shown.ts).
 *
 * Each try mints a new viewer link on one session, opens both, revokes. Prints median and max.
 *
 *   node bench/revoke-browser.ts [--tries 20] [--sockets 1]
 */
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { startWorker } from "../test/harness/worker.ts";
import { launchBrowser } from "../test/harness/browser.ts";
import { armShown } from "../test/harness/shown.ts";
import { median } from "./lib/stats.ts";
import { setTimeout as sleep } from "node:timers/promises";

const { values: args } = parseArgs({ options: { tries: { type: "string", default: "20" }, sockets: { type: "string", default: "1" } } });
const tries = Number(args.tries);
const sockets = Number(args.sockets);

/** A raw socket of the link, caught up; resolves with the epoch ms its close frame arrives. */
async function rawSocket(url: string, token: string): Promise<{ ws: WebSocket; closeFrame: () => Promise<number> }> {
  const ws = new WebSocket(url, ["agentroom", `t.${token}`]);
  await new Promise<void>((resolve, reject) => {
    ws.on("message", (d: Buffer) => d.toString().startsWith('{"type":"caught-up"') && resolve());
    ws.once("error", reject);
  });
  const closeFrame = () =>
    new Promise<number>((resolve) => {
      const poll = setInterval(() => {
        if (ws.readyState >= WebSocket.CLOSING) {
          clearInterval(poll);
          resolve(Date.now());
        }
      }, 1);
    });
  return { ws, closeFrame };
}

const w = await startWorker();
const browser = await launchBrowser();
const frameMs: number[] = [];
const shownMs: number[] = [];
try {
  const s = await w.createSession({ title: "revoke bench" });
  const auth = { authorization: `Bearer ${s.ownerToken}` };
  for (let i = 0; i < tries; i++) {
    const res = await fetch(`${w.url}/api/sessions/${s.id}/share`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ role: "viewer", name: `v${i}` }),
    });
    const link = (await res.json()) as { token: string; linkId: string; url: string };
    const socks = await Promise.all(Array.from({ length: sockets }, () => rawSocket(w.roomUrl(s.id), link.token)));
    const context = await browser.newContext();
    const page = await context.newPage();
    // Another process rebuilding dist/client answers a page load with an error for a moment.
    for (let attempt = 1; ; attempt++) {
      try {
        await page.goto(`${w.url}${link.url}`);
        await page.waitForSelector('.room[data-role="viewer"]', { timeout: 30_000 });
        break;
      } catch (e) {
        if (attempt >= 5) throw e;
        await sleep(2_000);
      }
    }
    const shown = await armShown(page, { selector: "[data-revoked]" });
    if (socks.some((x) => x.ws.readyState !== WebSocket.OPEN)) throw new Error(`try ${i + 1}: a socket closed before the revoke`);
    const frames = Promise.all(socks.map((x) => x.closeFrame()));
    const t0 = Date.now();
    await fetch(`${w.url}/api/sessions/${s.id}/links/${link.linkId}`, { method: "DELETE", headers: auth });
    frameMs.push(Math.max(...(await frames)) - t0);
    shownMs.push((await shown()) - t0);
    for (const x of socks) x.ws.terminate();
    await context.close();
    console.log(`try ${i + 1}: close frame ${frameMs.at(-1)} ms, shown ${shownMs.at(-1)} ms`);
  }
} finally {
  await browser.close();
  await w.stop();
}
const line = (name: string, xs: number[]) => `${name}: median ${median(xs)} ms, max ${Math.max(...xs)} ms (n=${xs.length})`;
console.log(line(`revoke → close frame on the last of ${sockets} ws socket(s)`, frameMs));
console.log(line("revoke → 'This link was revoked' in Chromium", shownMs));
