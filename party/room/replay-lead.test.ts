/**
 * Replay in a real room (party/room/replay-lead.ts): the log read for a replay folds, through
 * shared/replay.ts and the one reducer, to exactly what a live viewer held at every seq; and
 * watching together: who may lead, what followers hear, presence, a leader leaving.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import type { SessionRoom } from "../session-room.ts";
import type { Env } from "../env.ts";
import type { PresenceUser, RoomEvent, ServerFrame, Snapshot } from "../../shared/protocol.ts";
import { Transcript, normalize } from "../../shared/transcript.ts";
import { Replay, originSnapshot } from "../../shared/replay.ts";
import { eventLogArb } from "../../test/harness/event-logs.ts";
import { api, batch, connect, connectAgent, createSession, msg, textPart, token, type TestClient } from "../test-helpers.ts";
import { logFrame } from "./replay-lead.ts";

const ns = () => (env as unknown as Env).SessionRoom;
type LogFrame = Extract<ServerFrame, { type: "replay.log" }>;
type LeadFrame = Extract<ServerFrame, { type: "replay.lead" }>;

const view = (t: Transcript) => ({ ...normalize(t), chat: t.chat.messages.slice(), lastStop: t.lastStop, seq: t.lastSeq });

describe("a replay of the room's log equals the live path", () => {
  it("at every seq, for random logs committed one batch at a time (seeded)", async () => {
    await fc.assert(
      fc.asyncProperty(eventLogArb(50), fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 9 }), async (log, sizes, every) => {
        const { id } = await createSession({ title: "replayed" });
        const out = await runInDurableObject(ns().getByName(id), (room: SessionRoom) => {
          const initial = (JSON.parse(room.snapshotFrame()) as { snapshot: Snapshot }).snapshot;
          const live = Transcript.fromSnapshot(initial);
          const states = new Map<number, unknown>([[0, view(live)]]);
          let now = 1_000;
          for (let i = 0, k = 0; i < log.length; k++) {
            const n = sizes[k % sizes.length]!;
            const events: RoomEvent[] = room.commit(log.slice(i, i + n), undefined, (now += 700 * n));
            i += n;
            live.applyBatch(events[0]!.seq, events.at(-1)!.seq, events);
            states.set(live.lastSeq, view(live));
          }
          // Read the log the way the replay page does: pages until the room's last seq.
          const pages: LogFrame[] = [];
          let after = 0;
          for (;;) {
            const page = JSON.parse(logFrame(room, "r", after, every)) as LogFrame;
            pages.push(page);
            if (page.to >= page.seq) break;
            after = page.to;
          }
          return { states: [...states], pages, initial };
        });
        const [first] = out.pages;
        expect(first!.origin).toEqual(out.initial.session);
        const replay = new Replay(originSnapshot(first!.origin!), { checkpointEvery: every });
        for (const p of out.pages) expect(replay.append(p.events)).toBe(true);
        expect(replay.end).toBe(log.length);
        for (const [seq, state] of out.states.slice().reverse()) expect(view(replay.seek(seq).transcript)).toEqual(state);
      }),
      { seed: 2425, numRuns: 30 },
    );
  }, 120_000);

  it("a log whose start was compacted says so and gives no events before it", async () => {
    const { id } = await createSession();
    const page = await runInDurableObject(ns().getByName(id), (room: SessionRoom) => {
      room.commit(Array.from({ length: 30 }, (_, i) => ({ type: "session.error" as const, error: `e${i}` })));
      room.log.compact(room.meta.seq(), 10, 0);
      return JSON.parse(logFrame(room, undefined, 0, undefined)) as LogFrame;
    });
    expect(page).toMatchObject({ start: 21, seq: 30, to: 0, events: [] });
  });
});

async function onReplayPage(id: string, tok: string): Promise<TestClient> {
  const c = await connect(id, tok, { query: { replay: "1" } });
  await c.waitType("caught-up");
  return c;
}

const leads = (c: TestClient, from = 0) => c.waitFor<LeadFrame>((f) => f.type === "replay.lead", 5000, from);
const presenceOf = (c: TestClient, name: string) =>
  c.waitFor<{ users: PresenceUser[] }>((f) => f.type === "presence" && (f.users as PresenceUser[]).some((u) => u.name === name && u.replay === "following"));

describe("watching a replay together", () => {
  it("an owner leads, followers hear every move and show in presence, a viewer may not lead, the leader leaving ends it", async () => {
    const { id, ownerToken } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1", "hello")]);
    const owner = await onReplayPage(id, ownerToken);
    const viewer = await onReplayPage(id, await token(id, "viewer", "Vic"));
    const driver = await onReplayPage(id, await token(id, "driver", "Dee"));

    // The log, read by a viewer.
    viewer.send({ type: "replay.log", ref: "l1", after: 0 });
    const log = await viewer.waitFor<LogFrame>((f) => f.type === "replay.log" && f.ref === "l1");
    expect(log).toMatchObject({ after: 0, to: 3, start: 1, seq: 3 });
    expect(log.events.map((e) => e.type)).toEqual(["agent.presence", "message.upsert", "part.upsert"]);

    // Following before anyone leads: told nobody leads.
    viewer.send({ type: "replay.follow", ref: "f1", following: true });
    expect(await leads(viewer)).toEqual({ type: "replay.lead", leader: null });
    await presenceOf(owner, "Vic");

    // A viewer trying to lead gets an error frame with a code, and nothing changes.
    const from = owner.frames.length;
    viewer.send({ type: "replay.lead", ref: "x", state: { seq: 1, pos: 0, playing: true, speed: 2 } });
    expect(await viewer.waitFor((f) => f.type === "error" && f.ref === "x")).toMatchObject({ code: "forbidden" });

    // The owner leads: every replay page hears it (the leader too).
    const state = { seq: 2, pos: 1_500, playing: true, speed: 4 } as const;
    owner.send({ type: "replay.lead", ref: "l", state });
    const heard = await leads(viewer, viewer.frames.length - 1);
    expect(heard.leader?.name).toBe("operator");
    expect(heard.state).toEqual(state);
    expect((await leads(owner, from)).state).toEqual(state);
    await driver.waitFor((f) => f.type === "replay.lead" && (f as LeadFrame).leader !== null);

    // A latecomer who follows is told where the leader is.
    const late = await onReplayPage(id, await token(id, "viewer", "Late"));
    late.send({ type: "replay.follow", ref: "f2", following: true });
    expect((await leads(late)).state).toEqual(state);

    // A driver takes over; the owner is no longer leading.
    const at = viewer.frames.length;
    driver.send({ type: "replay.lead", ref: "d", state: { ...state, playing: false } });
    expect((await leads(viewer, at)).leader?.name).toBe("Dee");
    await owner.waitFor((f) => f.type === "presence" && (f.users as PresenceUser[]).some((u) => u.name === "operator" && u.replay === "watching"));

    // The leader leaves: nobody leads.
    const before = viewer.frames.length;
    driver.close();
    expect(await viewer.waitFor((f) => f.type === "replay.lead", 5000, before)).toEqual({ type: "replay.lead", leader: null });
    for (const c of [owner, viewer, late, agent]) c.close();
  });

  it("works on an archived session (replay only reads)", async () => {
    const { id, ownerToken } = await createSession();
    expect((await api(`/api/sessions/${id}/archive`, { method: "POST", token: ownerToken, body: { archived: true } })).status).toBe(200);
    const owner = await onReplayPage(id, ownerToken);
    owner.send({ type: "replay.lead", ref: "a", state: { seq: 0, pos: 0, playing: false, speed: 1 } });
    expect((await leads(owner)).leader?.name).toBe("operator");
    owner.close();
  });
});
