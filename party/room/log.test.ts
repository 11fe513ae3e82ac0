/** The event log and live framing: append/read, merged replay, compaction boundary, frame splitting. */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import type { Env } from "../env.ts";
import type { SessionRoom } from "../session-room.ts";
import type { RoomEvent, RoomEventBody } from "../../shared/protocol.ts";
import { migrate } from "./migrations.ts";
import { EventLog } from "./log.ts";
import { Audience, LiveBuffer, SendBucket, TurnPacer } from "./fanout.ts";
import { eventFrames, mergeDeltas } from "../../shared/delta.ts";

const ns = () => (env as unknown as Env).SessionRoom;
const d = (partID: string, delta: string, field = "text"): RoomEventBody => ({ type: "part.delta", messageID: "m", partID, field, delta });

describe("event log", () => {
  it("reads back what it appended, and readMerged equals mergeDeltas(read)", async () => {
    await runInDurableObject(ns().getByName("log-unit-1"), (_r: SessionRoom, state) => {
      const sql = state.storage.sql;
      migrate(sql);
      const log = new EventLog(sql);
      const bodies: RoomEventBody[] = [
        { type: "status", status: "busy" },
        d("a", "x"),
        d("a", "y"),
        d("b", "1"),
        d("a", "z"),
        d("a", "w", "other"),
        { type: "message.remove", messageID: "m0" },
        d("a", "q"),
        d("a", "r"),
        d("a", "s"),
      ];
      bodies.forEach((b, i) => log.append(i + 1, 1000 + i, b));
      // A delta written as JSON by migration-1 storage still reads and merges.
      sql.exec(`INSERT INTO events (seq, ts, body) VALUES (11, 2000, ?)`, JSON.stringify(d("a", "t")));
      const all = log.read(0, 11);
      expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(all[1]).toEqual({ type: "part.delta", messageID: "m", partID: "a", field: "text", delta: "x", seq: 2, ts: 1001 });
      const merged = log.readMerged(0, 11);
      expect(merged).toEqual(mergeDeltas(all));
      expect(merged.map((e) => (e.type === "part.delta" ? `${e.partID}:${e.delta}:${e.fromSeq ?? "-"}-${e.seq}` : e.type))).toEqual([
        "status",
        "a:xy:2-3",
        "b:1:--4",
        "a:z:--5",
        "a:w:--6",
        "message.remove",
        "a:qrst:8-11",
      ]);
      expect(log.readMerged(8, 11)).toEqual(mergeDeltas(log.read(8, 11)));
    });
  });

  it("readMerged equals mergeDeltas(read) over random logs and random windows", async () => {
    await runInDurableObject(ns().getByName("log-unit-random"), (_r: SessionRoom, state) => {
      const sql = state.storage.sql;
      migrate(sql);
      const log = new EventLog(sql);
      // A seeded generator, so a failure reproduces.
      let x = 0x9e3779b9;
      const rnd = (n: number) => {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        return (x >>> 0) % n;
      };
      const n = 3_000;
      for (let seq = 1; seq <= n; seq++) {
        const k = rnd(20);
        const body: RoomEventBody =
          k === 0
            ? { type: "status", status: "busy" }
            : k === 1
              ? { type: "part.delta", messageID: "m2", partID: "a", field: "text", delta: `<${seq}>` }
              : d(["a", "a", "a", "b", "c"][rnd(5)]!, rnd(10) === 0 ? "" : `t${seq};`, rnd(8) === 0 ? "other" : "text");
        log.append(seq, 10_000 + seq, body);
      }
      const all = log.read(0, n);
      expect(log.readMerged(0, n)).toEqual(mergeDeltas(all));
      for (let i = 0; i < 25; i++) {
        const a = rnd(n);
        const b = a + rnd(n - a + 1);
        expect(log.readMerged(a, b)).toEqual(mergeDeltas(all.filter((e) => e.seq > a && e.seq <= b)));
      }
      expect(log.readMerged(n, n)).toEqual([]);
    });
  });

  it("compacts to the retained tail; replay is possible exactly inside it", async () => {
    await runInDurableObject(ns().getByName("log-unit-2"), (_r: SessionRoom, state) => {
      const sql = state.storage.sql;
      migrate(sql);
      const log = new EventLog(sql);
      for (let i = 1; i <= 149; i++) log.append(i, i, d("a", String(i)));
      expect(log.compact(149, 100, 50)).toBe(0);
      log.append(150, 150, d("a", "150"));
      log.append(151, 151, d("a", "151"));
      expect(log.compact(151, 100, 50)).toBe(51);
      expect(log.count()).toBe(100);
      expect(log.start(151)).toBe(52);
      expect(log.canReplayFrom(51, 151)).toBe(true); // needs 52..151: all there
      expect(log.canReplayFrom(50, 151)).toBe(false); // needs 51: gone
      expect(log.canReplayFrom(151, 151)).toBe(true);
      expect(log.canReplayFrom(152, 151)).toBe(false);
    });
  });
});

describe("framing", () => {
  it("splits events into contiguous frames under the size cap", () => {
    const events: RoomEvent[] = Array.from({ length: 50 }, (_, i) => ({ ...(d("a", "x".repeat(100)) as object), seq: i + 1, ts: 0 }) as RoomEvent);
    const frames = eventFrames(events, 1200, true).map((f) => JSON.parse(f) as { from: number; to: number; replay: boolean; events: RoomEvent[] });
    expect(frames.length).toBeGreaterThan(5);
    let next = 1;
    for (const f of frames) {
      expect(f.replay).toBe(true);
      expect(f.from).toBe(next);
      expect(f.events[0]!.seq).toBe(f.from);
      expect(f.events.at(-1)!.seq).toBe(f.to);
      next = f.to + 1;
    }
    expect(next).toBe(51);
    for (const s of eventFrames(events, 1200, false)) expect(s.length).toBeLessThanOrEqual(1200);
  });

  it("the send budget lets a quiet room send at once and holds a busy one to its rate", () => {
    const b = new SendBucket(10_000, 0.05, 0); // burst 500 sends
    expect(b.waitFor(250, 0)).toBe(0);
    b.spend(250, 0);
    expect(b.waitFor(250, 0)).toBe(0);
    b.spend(250, 0);
    expect(b.waitFor(250, 0)).toBe(25); // 250 sends at 10/ms
    expect(b.waitFor(250, 25)).toBe(0);
    // more than the burst waits for a full bucket, then goes into debt
    expect(b.waitFor(2_000, 25)).toBe(25);
    b.spend(2_000, 50);
    expect(b.waitFor(1, 50)).toBe(151);
    // over any long stretch, sends stay within the rate
    const c = new SendBucket(10_000, 0.05, 0);
    let t = 0;
    let sent = 0;
    while (t < 1_000) {
      t += c.waitFor(250, t);
      c.spend(250, t);
      sent += 250;
      t += 1;
    }
    expect(sent).toBeLessThanOrEqual(10_000 + 500 + 250);
  });

  it("the turn pacer lets turns go while the sends in flight fit its window, and calls back when a probe frees room", () => {
    const probes: Array<(now?: number) => void> = []; // fired by hand below, with the time
    let idle = 0;
    const p = new TurnPacer(100, () => idle++, (fire) => probes.push(fire), 1_000);
    expect(p.mayRun(600)).toBe(true); // a new room sends at once
    // A turn to 600 sockets: its writes are in flight until its probe fires.
    p.ran(1_000, 600);
    expect(p.inFlight).toBe(600);
    expect(p.mayRun(300)).toBe(true); // 900 fits the window
    expect(p.mayRun(600)).toBe(false); // 1,200 does not, however long it has been
    // A turn to 10 sockets sets no probe and counts for nothing.
    p.ran(1_001, 10);
    expect(probes).toHaveLength(1);
    expect(p.inFlight).toBe(600);
    // The probe fires 12 ms after the turn began: the owner is told, and the window is free.
    probes.shift()!(1_012);
    expect(idle).toBe(1);
    expect(p.lastCostMs).toBe(12);
    expect(p.inFlight).toBe(0);
    expect(p.mayRun(600)).toBe(true);
    // One turn may always go, even one bigger than the window (a room of 5,000).
    expect(p.mayRun(5_000)).toBe(true);
    p.ran(2_000, 5_000);
    expect(p.mayRun(100)).toBe(false);
    probes.shift()!(2_050);
    expect(p.mayRun(5_000)).toBe(true);
    // A probe that fires twice counts once.
    p.ran(3_000, 600);
    const fire = probes.shift()!;
    fire(3_010);
    fire(3_020);
    expect(p.inFlight).toBe(0);
    expect(idle).toBe(3);
  });

  // Under a backlog (each turn's writes take 80 ms, a frame every 1 ms), turns come as probes free
  // the window, each carrying what gathered: a handful, not one per frame.
  it("the turn pacer gathers under a backlog", () => {
    const probes: Array<{ at: number; fire: (now?: number) => void }> = [];
    let now = 0;
    const b = new TurnPacer(100, () => {}, (fire) => probes.push({ at: now + 80, fire }), 2_500);
    let turns = 0;
    for (; now < 400; now++) {
      while (probes[0] && probes[0].at <= now) probes.shift()!.fire(now);
      if (b.mayRun(1_000)) {
        turns++;
        b.ran(now, 1_000);
      }
    }
    expect(turns).toBeGreaterThan(4);
    expect(turns).toBeLessThan(15);
  });

  it("the live buffer hands out what a person lacks and keeps what someone still lacks", () => {
    const buf = new LiveBuffer();
    for (let seq = 11; seq <= 15; seq++) buf.push({ ...(d("a", String(seq)) as object), seq, ts: 0 } as RoomEvent);
    expect(buf.after(10)!.map((e) => e.seq)).toEqual([11, 12, 13, 14, 15]);
    expect(buf.after(13)!.map((e) => e.seq)).toEqual([14, 15]);
    expect(buf.after(15)).toEqual([]);
    expect(buf.after(9)).toBeUndefined(); // seq 10 is not buffered: the caller reads the log
    buf.trimThrough(12);
    expect(buf.after(12)!.map((e) => e.seq)).toEqual([13, 14, 15]);
    expect(buf.after(11)).toBeUndefined();
    buf.trimThrough(99);
    expect(buf.length).toBe(0);
    expect(buf.lastSeq()).toBeUndefined();
  });

  it("a merged event's frame starts at its fromSeq", () => {
    const merged = mergeDeltas([
      { ...(d("a", "1") as object), seq: 5, ts: 0 } as RoomEvent,
      { ...(d("a", "2") as object), seq: 6, ts: 0 } as RoomEvent,
    ]);
    const f = JSON.parse(eventFrames(merged, 10_000, false)[0]!) as { from: number; to: number };
    expect(f).toMatchObject({ from: 5, to: 6 });
  });

  it("the audience sends one set of frames to everyone level, and brings joiners apart up to it", () => {
    const got = new Map<string, string[]>();
    const sock = (name: string) => {
      got.set(name, []);
      return { send: (t: string) => got.get(name)!.push(t) } as unknown as WebSocket;
    };
    const [a, b, c, d2] = [sock("a"), sock("b"), sock("c"), sock("d")];
    const aud = new Audience();
    aud.hold(a, 10);
    aud.hold(b, 10);
    aud.hold(c, 12); // a joiner whose catch-up went further than the last turn
    expect(aud.size).toBe(3);
    expect(aud.lowest()).toBe(10);
    const built: number[] = [];
    const framesAfter = (held: number) => (built.push(held), [`(${held},14]`]);
    expect(aud.deliver(14, framesAfter, () => {})).toBe(3);
    expect(built).toEqual([10, 12]); // once per distinct seq held
    expect([got.get("a"), got.get("b"), got.get("c")]).toEqual([["(10,14]"], ["(10,14]"], ["(12,14]"]]);
    expect(aud.lowest()).toBe(14);
    // A joiner ahead of the turn waits for the next; one that cannot be served is handed over.
    aud.hold(d2, 16);
    const lost: WebSocket[] = [];
    expect(aud.deliver(15, (held) => (held === 14 ? null : ["x"]), (ws) => (lost.push(ws), aud.hold(ws, 15)))).toBe(0);
    expect(lost.length).toBe(3);
    expect(aud.lowest()).toBe(15);
    expect(aud.deliver(16, (held) => [`(${held},16]`], () => {})).toBe(3);
    expect(got.get("d")).toEqual([]);
    aud.forget(a);
    expect([...aud.sockets()].length).toBe(3);
    expect(aud.deliver(17, (held) => [`(${held},17]`], () => {})).toBe(3);
    expect(got.get("d")).toEqual(["(16,17]"]);
    expect(got.get("a")!.at(-1)).toBe("(15,16]");
    // A turn behind the level (a relay restarted from an older snapshot): joiners stay apart.
    aud.hold(a, 12);
    expect(aud.deliver(14, (held) => [`(${held},14]`], () => {})).toBe(1);
    expect(aud.lowest()).toBe(14);
    expect(aud.deliver(17, (held) => [`(${held},17]`], () => {})).toBe(1);
    expect(aud.deliver(18, (held) => [`(${held},18]`], () => {})).toBe(4);
    expect(got.get("a")!.slice(-3)).toEqual(["(12,14]", "(14,17]", "(17,18]"]);
    expect(got.get("d")!.at(-1)).toBe("(17,18]");
  });
});
