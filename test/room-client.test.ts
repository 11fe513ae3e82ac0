/**
 * The room client against the real Worker on workerd (wrangler dev on a free port): catch-up,
 * reconnect with the cursor, the browser going offline and back, prompts typed while away,
 * a workerd restart, and refused tokens reported as a closed state. No mocks of our code.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import { startChaosProxy } from "./harness/proxy.ts";
import { type RoomClientOptions } from "../shared/room-client.ts";
import { normalize } from "../shared/transcript.ts";
import { signToken } from "../shared/token.ts";
import type { EventBody } from "../shared/protocol.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { TestLobbyClient, TestRoomClient } from "./harness/clients.ts";

let w: WorkerHandle;
const clients: { close(): void }[] = [];

beforeAll(async () => {
  w = await startWorker();
});

afterAll(async () => {
  await w?.stop();
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  vi.unstubAllGlobals();
});

function connect(sessionId: string, token: string, over: Partial<RoomClientOptions> = {}): TestRoomClient {
  const c = new TestRoomClient({
    host: w.url,
    sessionId,
    token,
    validate: true,
    backoff: { baseMs: 100, maxMs: 1_000 },
    ...over,
  });
  clients.push(c);
  return c;
}

/** The runner's side, played by the same client class: lease, then acknowledged batches. */
class FakeAgent {
  readonly client: TestRoomClient;
  private batch = 0;
  private readonly acks = new Map<string, () => void>();
  private leased: Promise<void>;

  constructor(sessionId: string, token: string) {
    this.client = connect(sessionId, token, { newIdPerAttempt: true, validate: false });
    let granted!: () => void;
    this.leased = new Promise((r) => (granted = r));
    this.client.onFrame((f) => {
      if (f.type === "agent.lease" && f.granted === true) granted();
      if (f.type === "agent.ack") this.acks.get(f.batchId as string)?.();
    });
  }

  async ready(): Promise<void> {
    await this.leased;
  }

  /** Sends one batch and waits for the room's acknowledgement (its commit). */
  async send(bodies: EventBody[]): Promise<void> {
    const batchId = `b${++this.batch}-${Math.random().toString(36).slice(2)}`;
    const acked = new Promise<void>((r) => this.acks.set(batchId, r));
    expect(this.client.send({ type: "agent.batch", batchId, events: bodies.map((body) => ({ body })) })).toBe(true);
    await acked;
    this.acks.delete(batchId);
  }
}

const assistant = (id: string): EventBody => ({ type: "message.upsert", message: { id, role: "assistant", time: { created: Date.now() } } });
const textPart = (mid: string, pid: string): EventBody => ({ type: "part.upsert", part: { id: pid, messageID: mid, type: "text", text: "" } });
const delta = (mid: string, pid: string, d: string): EventBody => ({ type: "part.delta", messageID: mid, partID: pid, field: "text", delta: d });

const textOf = (c: TestRoomClient, mid: string, pid: string) => (c.transcript.part(mid, pid) as { text?: string } | undefined)?.text ?? "";

async function setup() {
  const s = await w.createSession({ title: "client test" });
  const agent = new FakeAgent(s.id, await w.agentToken());
  await agent.ready();
  const viewerToken = await w.mintToken({ sid: s.id, role: "viewer", name: "vera" });
  const driverToken = await w.mintToken({ sid: s.id, role: "driver", name: "dan" });
  return { s, agent, viewerToken, driverToken };
}

describe("RoomClient against workerd", () => {
  it("catches up, follows live deltas, and two viewers end with the same transcript", async () => {
    const { s, agent, viewerToken } = await setup();
    await agent.send([assistant("m001"), textPart("m001", "p001"), delta("m001", "p001", "Hello")]);
    const a = connect(s.id, viewerToken);
    await a.waitFor((c) => c.live);
    expect(a.stats.snapshots).toBe(1);
    expect(textOf(a, "m001", "p001")).toBe("Hello");
    expect(a.you?.role).toBe("viewer");
    for (let i = 0; i < 50; i++) await agent.send([delta("m001", "p001", ` w${i}`)]);
    const expected = "Hello" + Array.from({ length: 50 }, (_, i) => ` w${i}`).join("");
    await a.waitFor((c) => textOf(c, "m001", "p001") === expected);
    const b = connect(s.id, viewerToken);
    await b.waitFor((c) => c.live && textOf(c, "m001", "p001") === expected);
    expect(normalize(b.transcript)).toEqual(normalize(a.transcript));
    expect(a.stats.gaps + b.stats.gaps).toBe(0);
  });

  it("reconnects with its cursor: the room replays only what was missed, no snapshot", async () => {
    const { s, agent, viewerToken } = await setup();
    await agent.send([assistant("m001"), textPart("m001", "p001"), delta("m001", "p001", "a")]);
    const v = connect(s.id, viewerToken);
    await v.waitFor((c) => c.live);
    const cursor = v.transcript.lastSeq;
    expect(cursor).toBeGreaterThan(0);
    v.close(); // gone for a while
    const again = connect(s.id, viewerToken, { transcript: v.transcript });
    for (let i = 0; i < 20; i++) await agent.send([delta("m001", "p001", String(i % 10))]);
    await again.waitFor((c) => c.live && textOf(c, "m001", "p001") === "a" + "01234567890123456789");
    expect(again.stats.snapshots).toBe(0); // replayed from the cursor
    expect(again.stats.events).toBeGreaterThan(0);
    const fresh = connect(s.id, viewerToken);
    await fresh.waitFor((c) => c.live);
    expect(normalize(again.transcript)).toEqual(normalize(fresh.transcript));
  });

  it("mid-stream drop and reconnect: nothing lost, nothing twice", async () => {
    const { s, agent, viewerToken } = await setup();
    await agent.send([assistant("m001"), textPart("m001", "p001")]);
    const v = connect(s.id, viewerToken);
    await v.waitFor((c) => c.live);
    let expected = "";
    const streaming = (async () => {
      for (let i = 0; i < 60; i++) {
        const d = `<${i}>`;
        expected += d;
        await agent.send([delta("m001", "p001", d)]);
        await sleep(5);
      }
    })();
    await sleep(100);
    v.reconnect();
    await streaming;
    await v.waitFor((c) => c.live && textOf(c, "m001", "p001") === expected);
    expect(v.stats.opens).toBe(2);
    expect(v.stats.snapshots).toBe(1);
  });

  it("goes offline with the browser, keeps a prompt typed meanwhile, and heals when back online", async () => {
    const { s, agent, driverToken } = await setup();
    const win = new EventTarget();
    const nav = { onLine: true };
    vi.stubGlobal("window", win);
    vi.stubGlobal("navigator", nav);
    await agent.send([assistant("m001"), textPart("m001", "p001"), delta("m001", "p001", "before ")]);
    const d = connect(s.id, driverToken);
    await d.waitFor((c) => c.live);
    const states: string[] = [];
    d.onStateChange((st) => states.push(st.status));

    nav.onLine = false;
    win.dispatchEvent(new Event("offline"));
    expect(d.state.status).toBe("offline");
    const typed = d.prompt("typed while offline");
    await agent.send([delta("m001", "p001", "during")]);
    await sleep(200);
    expect(textOf(d, "m001", "p001")).toBe("before "); // really disconnected

    nav.onLine = true;
    win.dispatchEvent(new Event("online"));
    const { id } = await typed;
    await d.waitFor((c) => c.live && textOf(c, "m001", "p001") === "before during" && c.transcript.queue.some((q) => q.id === id));
    expect(d.transcript.queue.filter((q) => q.text === "typed while offline")).toHaveLength(1);
    expect(states).toEqual(expect.arrayContaining(["offline", "connecting", "open"]));
    expect(states).not.toContain("reconnecting"); // back at once, no backoff wait
  });

  it("commands are answered by ack or by the room's error", async () => {
    const { s, agent, driverToken, viewerToken } = await setup();
    await agent.send([{ type: "status", status: "busy" }]); // so prompts wait in the queue
    const driver = connect(s.id, driverToken);
    const viewer = connect(s.id, viewerToken);
    await driver.waitFor((c) => c.live);
    await viewer.waitFor((c) => c.live);
    await driver.setMode("plan");
    await viewer.waitFor((c) => c.transcript.session?.mode === "plan");
    await expect(viewer.prompt("let me in")).rejects.toMatchObject({ code: "forbidden" });
    await expect(viewer.stop()).rejects.toMatchObject({ code: "forbidden" });
    const first = await driver.prompt("one", { id: "fixed-prompt-id" });
    const second = await driver.prompt("one", { id: "fixed-prompt-id" });
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    await viewer.waitFor((c) => c.transcript.queue.length === 1);
    await driver.cancelQueued("fixed-prompt-id");
    await viewer.waitFor((c) => c.transcript.queue.length === 0);
    await expect(driver.cancelQueued("fixed-prompt-id")).rejects.toMatchObject({ code: "not_found" });
  });

  it("loads older history page by page", async () => {
    const { s, agent, viewerToken } = await setup();
    const bodies: EventBody[] = [];
    for (let i = 1; i <= 120; i++) {
      const mid = `m${String(i).padStart(4, "0")}`;
      bodies.push(assistant(mid), { type: "part.upsert", part: { id: `p${mid}`, messageID: mid, type: "text", text: `#${i}` } });
    }
    await agent.send(bodies);
    const v = connect(s.id, viewerToken);
    await v.waitFor((c) => c.live);
    expect(v.transcript.hasMore).toBe(true);
    const initial = v.transcript.messages.length;
    expect(initial).toBeLessThan(120);
    while (v.transcript.hasMore) expect(await v.loadOlder(40)).toBeGreaterThan(0);
    expect(v.transcript.messages.map((m) => m.info.id)).toEqual(Array.from({ length: 120 }, (_, i) => `m${String(i + 1).padStart(4, "0")}`));
  });

  it("reports a refused token as closed: unauthorized, and an unknown session as not_found", async () => {
    const { s } = await setup();
    const forged = await signToken("not-the-secret", { sid: s.id, role: "viewer", name: "x", ttlSeconds: 60 });
    const bad = connect(s.id, forged);
    await bad.waitFor((c) => c.state.status === "closed", 10_000).catch(() => {});
    expect(bad.state).toMatchObject({ status: "closed", reason: "unauthorized", code: 401 });

    const expired = await w.mintToken({ sid: s.id, role: "viewer", ttlSeconds: -10 });
    const late = connect(s.id, expired);
    await late.waitFor((c) => c.state.status === "closed", 10_000).catch(() => {});
    expect(late.state).toMatchObject({ status: "closed", reason: "unauthorized", message: "token expired" });

    const other = await w.mintToken({ sid: "someone-else", role: "viewer" });
    const wrong = connect(s.id, other);
    await wrong.waitFor((c) => c.state.status === "closed", 10_000).catch(() => {});
    expect(wrong.state).toMatchObject({ status: "closed", reason: "unauthorized" });

    const ghostToken = await w.mintToken({ sid: "no-such-session", role: "viewer" });
    const ghost = connect("no-such-session", ghostToken);
    await ghost.waitFor((c) => c.state.status === "closed", 10_000).catch(() => {});
    expect(ghost.state).toMatchObject({ status: "closed", reason: "not_found" });
  });

  it("survives a workerd SIGKILL and restart: reconnects with backoff and converges", async () => {
    const { s, agent, viewerToken } = await setup();
    await agent.send([assistant("m001"), textPart("m001", "p001"), delta("m001", "p001", "pre-crash ")]);
    const v = connect(s.id, viewerToken);
    await v.waitFor((c) => c.live && textOf(c, "m001", "p001") === "pre-crash ");
    const states: string[] = [];
    v.onStateChange((st) => states.push(st.status));
    await w.restart(); // SIGKILL, then the same port and persisted state
    await v.waitFor((c) => c.live, 30_000);
    expect(states).toContain("reconnecting");
    // A new agent connection takes the lease again and streams on.
    agent.client.close();
    const agent2 = new FakeAgent(s.id, await w.agentToken());
    await agent2.ready();
    await agent2.send([delta("m001", "p001", "post-restart")]);
    await v.waitFor((c) => textOf(c, "m001", "p001") === "pre-crash post-restart");
    const fresh = connect(s.id, viewerToken);
    await fresh.waitFor((c) => c.live && textOf(c, "m001", "p001") === "pre-crash post-restart");
    expect(normalize(v.transcript)).toEqual(normalize(fresh.transcript));
  }, 120_000);
});

describe("RoomClient through a chaos proxy", () => {
  it("viewers whose connections are cut, stalled and refused all converge to the same transcript", async () => {
    const { s, agent, viewerToken } = await setup();
    const heartbeat = setInterval(() => agent.client.send({ type: "agent.heartbeat", runnerId: "test" }), 5_000);
    const proxy = await startChaosProxy(
      { port: w.port },
      { seed: 7, latencyMs: [0, 30], stallProbability: 0.01, stallMs: [100, 1_500], refuseProbability: 0.15, cutAfterMs: [300, 3_000], cutMode: "mixed" },
    );
    try {
      const viewers = Array.from({ length: 6 }, () =>
        connect(s.id, viewerToken, { host: proxy.url("http"), backoff: { baseMs: 300, maxMs: 2_000 }, heartbeat: { intervalMs: 1_000, timeoutMs: 1_000 } }),
      );
      for (let m = 0; m < 6; m++) {
        const mid = `m${String(m).padStart(3, "0")}`;
        await agent.send([assistant(mid), textPart(mid, `p${mid}`)]);
        for (let i = 0; i < 50; i++) {
          await agent.send([delta(mid, `p${mid}`, `${i} `)]);
          await sleep(5);
        }
      }
      proxy.configure({ latencyMs: [0, 0], stallProbability: 0, refuseProbability: 0, cutAfterMs: null });
      const reference = connect(s.id, viewerToken);
      await reference.waitFor((c) => c.live);
      const want = normalize(reference.transcript);
      await Promise.all(
        viewers.map((v) =>
          v.waitFor((c) => c.live && c.transcript.lastSeq >= reference.transcript.lastSeq && c.transcript.messages.length === 6, 60_000),
        ),
      );
      for (const v of viewers) expect(normalize(v.transcript)).toEqual(want);
      const reconnects = viewers.reduce((n, v) => n + v.stats.opens - 1, 0);
      expect(reconnects).toBeGreaterThan(0); // the chaos really cut them
      expect(proxy.stats.cuts).toBeGreaterThan(0);
      expect(viewers.every((v) => v.stats.gaps === 0)).toBe(true);
      console.log(`chaos: ${reconnects} reconnects over ${viewers.length} viewers, ${viewers.reduce((n, v) => n + v.stats.snapshots, 0)} snapshots; proxy ${JSON.stringify(proxy.stats)}`);
    } finally {
      clearInterval(heartbeat);
      for (const c of clients.splice(0)) c.close();
      await proxy.close();
    }
  }, 120_000);
});

describe("LobbyClient against workerd", () => {
  it("lists sessions live: a new session appears without polling", async () => {
    const lobby = new TestLobbyClient({ host: w.url, token: await w.operatorToken() });
    clients.push(lobby);
    await lobby.waitFor((l) => l.loaded);
    expect(lobby.state).toEqual({ status: "open", live: true });
    const s = await w.createSession({ title: "fresh in the list" });
    await lobby.waitFor((l) => l.sessions.get(s.id)?.title === "fresh in the list");
    expect(lobby.list()[0]?.id).toBe(s.id);
  });

  it("a session link cannot open the list, and says so", async () => {
    const s = await w.createSession({});
    const lobby = new TestLobbyClient({ host: w.url, token: await w.mintToken({ sid: s.id, role: "viewer" }) });
    clients.push(lobby);
    await vi.waitFor(() => expect(lobby.state.status).toBe("closed"), { timeout: 10_000, interval: 20 });
    expect(lobby.state).toMatchObject({ reason: "forbidden" });
    const forged = new TestLobbyClient({ host: w.url, token: await signToken("wrong", { sid: "*", role: "owner", name: "x", ttlSeconds: 60 }) });
    clients.push(forged);
    await vi.waitFor(() => expect(forged.state.status).toBe("closed"), { timeout: 10_000, interval: 20 });
    expect(forged.state).toMatchObject({ reason: "unauthorized" });
  });
});
