/**
 * A crowd of viewers in its own process, for the reconnect-storm test: N room clients reach the
 * Worker through a chaos proxy that also lives here, so the crowd's parsing and the proxy's
 * copying do not slow the test process that measures the room (the driver's Stop).
 *
 *   node test/harness/crowd.ts <workerPort> <sessionId> <viewerToken> <count>
 *
 * Talks over stdio, one JSON line each way:
 *   → {"ready":true,"joined":N}                          once every client is live
 *   ← cut          → {"dropped":N,"planned":[ms…],"opens":[ms…],"lives":[ms…],"accepts":[ms…],"maxLagMs":n}   (after all are live again)
 *   ← wait <seq>   → {"hashes":{"<sha1>":count}}          once every client holds seq ≥ <seq>
 *   ← exit
 */
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { normalizeMessages } from "../../shared/transcript.ts";
import { startChaosProxy } from "./proxy.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { TestRoomClient } from "./clients.ts";

const [portArg, sessionId, token, countArg] = process.argv.slice(2);
const count = Number(countArg);
const say = (v: unknown): void => void process.stdout.write(JSON.stringify(v) + "\n");

const proxy = await startChaosProxy({ port: Number(portArg) }, { seed: 1 });
const clients: TestRoomClient[] = [];
for (let i = 0; i < count; i += 50) {
  // Joined in waves so the setup is not itself a storm.
  const wave = Array.from({ length: Math.min(50, count - i) }, () =>
    new TestRoomClient({ host: proxy.url(), sessionId: sessionId!, token: token!, watchNetwork: false, heartbeat: false }),
  );
  clients.push(...wave);
  await Promise.all(wave.map((c) => c.waitFor((x) => x.live, 120_000)));
}
say({ ready: true, joined: clients.length });

/** Event-loop lag of this process, so a slow crowd is told apart from a slow room. */
let maxLagMs = 0;
setInterval(() => {
  const t = performance.now();
  setImmediate(() => (maxLagMs = Math.max(maxLagMs, performance.now() - t)));
}, 50).unref();

async function cut(): Promise<void> {
  const back = new Map<TestRoomClient, { planned?: number; open?: number; live?: number }>();
  const cutAt = performance.now();
  const cutAtEpoch = Date.now();
  const unsubs = clients.map((c) => {
    back.set(c, {});
    return c.onStateChange((st) => {
      const b = back.get(c)!;
      if (st.status === "reconnecting" && b.planned === undefined) b.planned = st.retryAt - cutAtEpoch;
      if (st.status === "open" && b.open === undefined) b.open = performance.now() - cutAt;
      if (st.status === "open" && st.live && b.live === undefined) b.live = performance.now() - cutAt;
    });
  });
  maxLagMs = 0;
  proxy.markTimeline();
  const dropped = proxy.cutAll("reset");
  const deadline = performance.now() + 120_000;
  while ([...back.values()].some((b) => b.live === undefined) && performance.now() < deadline) await sleep(50);
  for (const u of unsubs) u();
  // `planned`: when each client's backoff scheduled its first retry (the jitter, our client's
  // decision); `accepts`: when each new TCP connection reached the proxy, which lives in this
  // process and so is late when this process is starved; `opens`: when its WebSocket opened (the
  // server's answer). The gap between accepts and opens is the room's.
  const accepts = proxy.acceptTimes.map((t) => t - cutAt);
  say({ dropped, planned: [...back.values()].map((b) => b.planned ?? -1), opens: [...back.values()].map((b) => b.open ?? -1), lives: [...back.values()].map((b) => b.live ?? -1), accepts, maxLagMs });
}

async function waitSeq(seq: number): Promise<void> {
  const deadline = performance.now() + 60_000;
  while (clients.some((c) => c.transcript.lastSeq < seq) && performance.now() < deadline) await sleep(50);
  const hashes: Record<string, number> = {};
  for (const c of clients) {
    const h = createHash("sha1").update(JSON.stringify(normalizeMessages(c.transcript.messages))).digest("hex");
    hashes[h] = (hashes[h] ?? 0) + 1;
  }
  say({ hashes, behind: clients.filter((c) => c.transcript.lastSeq < seq).length });
}

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === "cut") await cut();
  else if (cmd === "wait") await waitSeq(Number(arg));
  else if (cmd === "exit") break;
}
for (const c of clients) c.close();
await proxy.close();
process.exit(0);
