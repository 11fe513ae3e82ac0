/**
 * No wait when quiet: a room that is not busy sends each event at once; events gather only while
 * the room cannot send yet (its last turn's cost, or its send budget). The budget is set to one
 * send per 1,000 s here, so "at once" and "gathered" show as ordering, not as timings: a first
 * event that waited would not arrive before the test's timeout, and a gathered one is still
 * missing after its batch's ack (the room acks after the commit, in the turn a due frame goes out).
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import type { Env } from "../env.ts";
import type { SessionRoom } from "../session-room.ts";
import { batch, connect, connectAgent, createSession, delta, msg, textPart, token } from "../test-helpers.ts";

const ns = () => (env as unknown as Env).SessionRoom;

type EventsFrame = { type: "events"; events: { type: string; delta?: string; online?: boolean }[] };

describe("live delivery timing", () => {
  it("sends the first event of a quiet room at once, and gathers what follows while it may not send", async () => {
    const { id } = await createSession();
    const v = await connect(id, await token(id, "viewer"));
    await v.waitType("caught-up");
    // A fresh room has sent no live frame yet: its send budget is full. After one send it is spent for 1,000 s.
    await runInDurableObject(ns().getByName(id), (room: SessionRoom) => {
      room.limits.liveSendsPerSecond = 0.001;
    });
    const seen = v.frames.length;
    // The agent's arrival commits `agent.presence`: the first event, so it goes at once.
    const agent = await connectAgent(id);
    const first = await v.waitFor<EventsFrame>((f) => f.type === "events", 5000, seen);
    expect(first.events).toEqual([expect.objectContaining({ type: "agent.presence", online: true })]);

    // A frame just went out and spent the budget: the next events are gathered (their acks come, their frame does not).
    const before = v.frames.length;
    await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    await batch(agent, [delta("m1", "p1", "two")]);
    await batch(agent, [delta("m1", "p1", " three")]);
    expect(v.frames.slice(before).filter((f) => f.type === "events")).toEqual([]);
    // Released together, consecutive deltas merged as before.
    await runInDurableObject(ns().getByName(id), (room: SessionRoom) => room.flush());
    const gathered = await v.waitFor<EventsFrame>((f) => f.type === "events", 5000, before);
    expect(gathered.events.map((e) => e.type)).toEqual(["message.upsert", "part.upsert", "part.delta"]);
    expect(gathered.events[2]!.delta).toBe("two three");
  });
});
