/**
 * The relay tier in one workerd: viewers past the room's threshold go to relays (small thresholds
 * set on the room per test), and everything a viewer has works through a relay: live streaming,
 * catch-up by cursor, snapshots, history, resync, presence and typing, a relay killed mid-stream,
 * archive, delete and link revocation.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import type { Env } from "./env.ts";
import type { SessionRoom } from "./session-room.ts";
import type { SessionRelay } from "./relay.ts";
import { Transcript, normalizeTranscript } from "../shared/transcript.ts";
import type { RoomEvent, Snapshot } from "../shared/protocol.ts";
import { LINK_HEADER, relayName } from "../shared/relay.ts";
import { api, batch, connect, connectAgent, createSession, delta, msg, sleep, textPart, token, TestClient } from "./test-helpers.ts";

const ns = () => env as unknown as Env & { SessionRelay: DurableObjectNamespace<SessionRelay> };

/** Viewers past `after` on the room go to relays of `capacity` each. */
async function smallTier(id: string, after: number, capacity: number): Promise<void> {
  await runInDurableObject(ns().SessionRoom.getByName(id), (room: SessionRoom) => {
    room.limits.relayAfterViewers = after;
    room.limits.relayCapacity = capacity;
  });
}

/** Viewers connected to relay `index` of the session. */
async function relayViewers(id: string, index: number): Promise<number> {
  return runInDurableObject(ns().SessionRelay.getByName(relayName(id, index)), (r: SessionRelay) => [...r.getConnections()].length);
}

/**
 * A viewer that folds frames into the shared Transcript and reconnects with its cursor after any
 * close that is not final, like the app's room client. Counts what must never happen.
 */
class Viewer {
  transcript = new Transcript();
  client: TestClient | undefined;
  gaps = 0;
  duplicates = 0;
  closes: number[] = [];
  lastPresence: { total: number; users: { name: string; typing?: boolean }[] } | undefined;
  live = false;
  #stopped = false;
  readonly #id: string;
  readonly #token: string;
  constructor(id: string, tok: string) {
    this.#id = id;
    this.#token = tok;
  }
  async open(): Promise<void> {
    const cursor = this.transcript.session ? this.transcript.lastSeq : undefined;
    const c = await connect(this.#id, this.#token, { cursor });
    this.client = c;
    this.live = false;
    c.ws.addEventListener("message", (e) => this.#frame(JSON.parse(String(e.data)) as Record<string, unknown>));
    c.ws.addEventListener("close", (e) => {
      this.closes.push(e.code);
      this.live = false;
      if (this.#stopped || [4403, 4404, 4410, 4411].includes(e.code)) return;
      setTimeout(() => void this.open().catch(() => setTimeout(() => void this.open(), 100)), 20);
    });
  }
  #frame(f: Record<string, unknown>): void {
    if (f.type === "snapshot") this.transcript.loadSnapshot(f.snapshot as Snapshot);
    else if (f.type === "events") {
      const r = this.transcript.applyBatch(f.from as number, f.to as number, f.events as RoomEvent[]);
      if (r.gap) this.gaps++;
      // A live frame never repeats what the viewer holds (a replay after a reconnect may not either).
      this.duplicates += r.skipped;
    } else if (f.type === "caught-up") this.live = true;
    else if (f.type === "presence") this.lastPresence = f as never;
  }
  async caughtUp(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!this.live) {
      if (Date.now() > deadline) throw new Error("viewer never caught up");
      await sleep(10);
    }
  }
  stop(): void {
    this.#stopped = true;
    this.client?.close();
  }
}

/** The room's transcript as a fresh owner (always on the room) sees it. */
async function truth(id: string, ownerToken: string): Promise<ReturnType<typeof normalizeTranscript>> {
  const c = await connect(id, ownerToken);
  await c.waitType("caught-up");
  const t = new Transcript();
  t.loadSnapshot(c.ofType<{ snapshot: Snapshot }>("snapshot")[0]!.snapshot);
  c.close();
  return normalizeTranscript(t);
}

async function viewers(id: string, n: number): Promise<Viewer[]> {
  const out: Viewer[] = [];
  for (let i = 0; i < n; i++) {
    const v = new Viewer(id, await token(id, "viewer", `v${i}`));
    await v.open();
    await v.caughtUp();
    out.push(v);
  }
  return out;
}

/** Streams `n` deltas to one text part in batches of `per`, each acknowledged. */
async function stream(agent: TestClient, from: number, n: number, per = 5): Promise<void> {
  for (let i = from; i < from + n; i += per) {
    const ds = [];
    for (let k = i; k < Math.min(from + n, i + per); k++) ds.push(delta("m1", "p1", `t${k} `));
    await batch(agent, ds);
  }
}

async function converged(vs: Viewer[], id: string, ownerToken: string): Promise<void> {
  const want = await truth(id, ownerToken);
  const deadline = Date.now() + 10_000;
  for (const v of vs) {
    while (JSON.stringify(normalizeTranscript(v.transcript)) !== JSON.stringify(want)) {
      if (Date.now() > deadline) expect(normalizeTranscript(v.transcript)).toEqual(want);
      await sleep(20);
    }
  }
}

describe("relay tier", () => {
  it("spreads viewers over several relays; each ends with the agent's transcript exactly, presence counts everyone", async () => {
    const { id, ownerToken } = await createSession();
    await smallTier(id, 2, 2);
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    const vs = await viewers(id, 8);
    // 2 on the room, then relays 0, 1 and 2 with 2 each.
    await sleep(300); // relay reports are debounced
    expect([await relayViewers(id, 0), await relayViewers(id, 1), await relayViewers(id, 2)]).toEqual([2, 2, 2]);
    await stream(agent, 0, 300);
    await converged(vs, id, ownerToken);
    expect(normalizeTranscript(vs[7]!.transcript).messages[0]!.parts[0]).toMatchObject({ text: expect.stringContaining("t299 ") });
    for (const v of vs) expect({ gaps: v.gaps, duplicates: v.duplicates }).toEqual({ gaps: 0, duplicates: 0 });
    // Everyone's total: 8 viewers + the agent, whether they sit on the room or on a relay.
    await batch(agent, [delta("m1", "p1", "!")]);
    const deadline = Date.now() + 5_000;
    while (vs.some((v) => v.lastPresence?.total !== 9) && Date.now() < deadline) await sleep(50);
    expect(vs.map((v) => v.lastPresence?.total)).toEqual(Array(8).fill(9));
    for (const v of vs) v.stop();
  });

  it("a relay killed mid-stream: its viewers reconnect through a relay and converge without loss or duplicates", async () => {
    const { id, ownerToken } = await createSession();
    await smallTier(id, 1, 3);
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    const vs = await viewers(id, 4); // 1 on the room, 3 on relay 0
    expect(await relayViewers(id, 0)).toBe(3);
    const streaming = stream(agent, 0, 400, 2);
    await sleep(100);
    // The relay's object is reset: its sockets drop, its memory (tail, snapshot) is gone.
    await runInDurableObject(ns().SessionRelay.getByName(relayName(id, 0)), (_r: SessionRelay, state) => {
      try {
        state.abort("killed by the test");
      } catch {
        // abort throws in the caller
      }
    }).catch(() => {});
    await streaming;
    await converged(vs, id, ownerToken);
    const relayed = vs.slice(1);
    expect(relayed.every((v) => v.closes.length >= 1)).toBe(true);
    for (const v of vs) expect({ gaps: v.gaps, duplicates: v.duplicates }).toEqual({ gaps: 0, duplicates: 0 });
    // They came back through a relay (the room's place is taken).
    expect(await relayViewers(id, 0)).toBe(3);
    for (const v of vs) v.stop();
  });

  it("a late joiner through a relay: replay from the relay's tail by cursor, or the relay's snapshot", async () => {
    const { id, ownerToken } = await createSession();
    await smallTier(id, 0, 10);
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    const [first] = await viewers(id, 1);
    const cursor = first!.transcript.lastSeq;
    await stream(agent, 0, 50);
    await converged([first!], id, ownerToken);
    // A viewer rejoining from an older cursor gets exactly what it missed, from the relay's tail.
    const late = await connect(id, await token(id, "viewer", "late"), { cursor });
    await late.waitType("caught-up");
    expect(late.frames[0]).toMatchObject({ type: "welcome", catchup: "replay" });
    const events = late.ofType<{ events: RoomEvent[] }>("events").flatMap((f) => f.events);
    expect(events.map((e) => ("delta" in e ? e.delta : "")).join("")).toBe(Array.from({ length: 50 }, (_, k) => `t${k} `).join(""));
    // A new viewer gets a snapshot with everything.
    const fresh = new Viewer(id, await token(id, "viewer", "fresh"));
    await fresh.open();
    await fresh.caughtUp();
    await converged([fresh], id, ownerToken);
    expect(await relayViewers(id, 0)).toBe(3);
    first!.stop();
    fresh.stop();
    late.close();
  });

  it("a malformed frame from the room is skipped: the relay keeps its viewers and serves what follows", async () => {
    const { id, ownerToken } = await createSession();
    await smallTier(id, 0, 10);
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    const vs = await viewers(id, 2);
    expect(await relayViewers(id, 0)).toBe(2);
    await stream(agent, 0, 10);
    // Frames the room never sends: bad JSON, events and a snapshot that fail the schema.
    const sent = await runInDurableObject(ns().SessionRoom.getByName(id), (room: SessionRoom) => {
      let n = 0;
      for (const c of room.getConnections<{ relay?: unknown }>()) {
        if (!c.state?.relay) continue;
        c.send('{"type":"events",');
        c.send(JSON.stringify({ type: "events", from: "x", to: 3, events: [{ nope: true }] }));
        c.send(JSON.stringify({ type: "snapshot", snapshot: { seq: -1 } }));
        c.send(JSON.stringify({ type: "presence", users: "everyone" }));
        n++;
      }
      return n;
    });
    expect(sent).toBe(1);
    await stream(agent, 10, 20);
    await converged(vs, id, ownerToken);
    for (const v of vs) expect({ gaps: v.gaps, duplicates: v.duplicates, closes: v.closes }).toEqual({ gaps: 0, duplicates: 0, closes: [] });
    expect(await relayViewers(id, 0)).toBe(2);
    for (const v of vs) v.stop();
  });

  it("history, resync and typing work through a relay; driving frames are refused", async () => {
    const { id } = await createSession();
    await smallTier(id, 0, 10);
    const agent = await connectAgent(id);
    for (let i = 0; i < 5; i++) await batch(agent, [msg(`m${i}`), textPart(`m${i}`, `p${i}`, `text ${i}`)]);
    const v = await connect(id, await token(id, "viewer", "reader"));
    await v.waitType("caught-up");
    expect(await relayViewers(id, 0)).toBe(1);
    const page = await v.request({ type: "history", ref: "h1", before: "m3", limit: 2 });
    expect(page).toMatchObject({ type: "history", ref: "h1", hasMore: true });
    expect((page.messages as { info: { id: string } }[]).map((m) => m.info.id)).toEqual(["m1", "m2"]);
    const from = v.frames.length;
    v.send({ type: "resync", ref: "r1" });
    const snap = await v.waitType<{ snapshot: Snapshot }>("snapshot", from);
    expect(snap.snapshot.messages).toHaveLength(5);
    await v.waitType("caught-up", from);
    const refused = await v.request({ type: "stop", ref: "s1" });
    expect(refused).toMatchObject({ type: "error", code: "forbidden", ref: "s1" });
    // Typing on a relay shows in the room's presence, which the agent's owner sees.
    const owner = await connect(id, await token(id, "owner", "boss"));
    await owner.waitType("caught-up");
    v.send({ type: "typing", ref: "t1", typing: true });
    await owner.waitFor((f) => f.type === "presence" && (f.users as { name: string; typing?: boolean }[]).some((u) => u.name === "reader" && u.typing === true));
    v.close();
    owner.close();
  });

  it("revocation, archive and delete close relay sockets", async () => {
    const { id, ownerToken } = await createSession();
    await smallTier(id, 0, 10);
    // A viewer socket opened with link L1 straight on the relay (the Worker sets the header from
    // the token's link), and one without a link.
    const headers = new Headers({ Upgrade: "websocket", "x-agentroom-role": "viewer", "x-agentroom-name": "linked", [LINK_HEADER]: "L1" });
    const res = await ns().SessionRelay.getByName(relayName(id, 0)).fetch(new Request(`https://x/parties/session-room/${id}?_pk=a`, { headers }));
    const linked = new TestClient(res.webSocket!);
    await linked.waitType("caught-up");
    const other = await connect(id, await token(id, "viewer", "other"));
    await other.waitType("caught-up");
    expect(await relayViewers(id, 0)).toBe(2);
    await runInDurableObject(ns().SessionRoom.getByName(id), (room: SessionRoom) => room.revokeOnRelays(["L1"]));
    await linked.waitFor(() => linked.closed !== undefined);
    expect(linked.closed!.code).toBe(4411);
    expect(other.closed).toBeUndefined();

    // Archive: the archive event reaches the relay's viewer, then its socket closes (retryable);
    // the reconnect goes to the room, which holds an archived session's audience.
    const archived = await api(`/api/sessions/${id}/archive`, { method: "POST", token: ownerToken, body: { archived: true } });
    expect(archived.status).toBe(200);
    await other.waitFor(() => other.closed !== undefined);
    expect(other.closed!.code).toBe(4412);
    expect(other.ofType<{ events: { type: string }[] }>("events").flatMap((f) => f.events).map((e) => e.type)).toContain("session.archived");
    const back = await connect(id, await token(id, "viewer", "back"));
    await back.waitType("caught-up");
    expect(await relayViewers(id, 0)).toBe(0);

    // Delete: relay sockets close with 4410, like the room's.
    await api(`/api/sessions/${id}/archive`, { method: "POST", token: ownerToken, body: { archived: false } });
    const onRelay = await connect(id, await token(id, "viewer", "late"));
    await onRelay.waitType("caught-up");
    expect(await relayViewers(id, 0)).toBe(1);
    expect((await api(`/api/sessions/${id}`, { method: "DELETE", token: ownerToken })).status).toBe(200);
    await onRelay.waitFor(() => onRelay.closed !== undefined);
    expect(onRelay.closed!.code).toBe(4410);
    back.close();
  });
});
