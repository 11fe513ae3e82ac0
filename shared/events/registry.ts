/**
 * Every room event kind and every slice of session state, listed once. The protocol's unions
 * (shared/protocol.ts), the reducer (shared/session-reducer.ts), the room's storage and snapshot
 * (party/room/meta.ts, snapshot.ts), the client's transcript (shared/transcript.ts) and its store
 * (client/src/lib/room-view.ts) are derived from the families listed here.
 *
 * Adding an event: define it in its family's module and add it to the family's list (a new
 * family is listed here). See docs/architecture.md "The event registry".
 */
import { z } from "zod";
import type { EventDef, SliceDef } from "./define.ts";
import { CHAT } from "./chat.ts";
import { DIFF } from "./diff.ts";
import { MESSAGES } from "./messages.ts";
import { PERMISSIONS } from "./permission.ts";
import { QUEUE } from "./queue.ts";
import { SESSION } from "./session.ts";
import { TODO } from "./todo.ts";

const FAMILIES = [MESSAGES, SESSION, PERMISSIONS, TODO, DIFF, QUEUE, CHAT] as const;
type Families = (typeof FAMILIES)[number];

/** Every event kind. */
export const EVENTS = FAMILIES.flatMap((f): readonly EventDef[] => f.events) as readonly Families["events"][number][];

/** Every slice of session state: one value per session each, kept, snapshotted and shown under its name. */
export const SLICES: readonly Families["slices"][number][] = FAMILIES.flatMap((f): readonly SliceDef[] => f.slices) as Families["slices"][number][];

type Defs = Families["events"][number];
type BodyOfDef<D> = D extends EventDef<infer B> ? B : never;
/** Events the runner may send. */
export type AgentEventBody = BodyOfDef<Extract<Defs, { from: "agent" }>>;
/** Events only the room emits. */
export type RoomOwnEventBody = BodyOfDef<Extract<Defs, { from: "room" }>>;
export type AnyEventBody = AgentEventBody | RoomOwnEventBody;
export type EventType = AnyEventBody["type"];

type Slices = Families["slices"][number];
export type SliceName = Slices["name"];
export type SliceValues = { [D in Slices as D["name"]]: D extends SliceDef<string, infer V> ? V : never };

const union = <B>(defs: readonly EventDef[]): z.ZodType<B> =>
  z.discriminatedUnion("type", defs.map((d) => d.schema) as unknown as [z.ZodObject, ...z.ZodObject[]]) as unknown as z.ZodType<B>;

export const AgentEventBodySchema = union<AgentEventBody>(EVENTS.filter((d) => d.from === "agent"));
export const RoomOwnEventBodySchema = union<RoomOwnEventBody>(EVENTS.filter((d) => d.from === "room"));

/** The definition of each event type. */
export const EVENT_DEFS: ReadonlyMap<string, EventDef> = new Map(EVENTS.map((d) => [d.type, d as EventDef]));

/** Every slice at its initial value. */
export function initialSlices(): SliceValues {
  return Object.fromEntries(SLICES.map((s) => [s.name, s.initial()])) as SliceValues;
}

/** The snapshot's slice fields: each absent from an older room's snapshot, then at its initial value. */
export const SLICE_SNAPSHOT_SHAPE = Object.fromEntries(SLICES.map((s) => [s.name, s.schema.optional()])) as {
  [D in Slices as D["name"]]: z.ZodOptional<D["schema"]>;
};

/** A snapshot's slices, the missing ones at their initial value. */
export function slicesOf(snapshot: Partial<SliceValues>): SliceValues {
  const out = initialSlices() as Record<string, unknown>;
  for (const s of SLICES) if (snapshot[s.name] !== undefined) out[s.name] = snapshot[s.name];
  return out as SliceValues;
}
