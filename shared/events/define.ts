/**
 * How a room event kind is defined, once: its zod schema, who may send it, and what it does to a
 * session's state. shared/events/registry.ts lists every definition; the protocol's event unions,
 * the reducer table, the snapshot's pieces and the client's store are all derived from that list,
 * so a kind that lacks a piece does not compile.
 *
 * State that is one value per session (the todo list, the diff, token usage) is a *slice*: a
 * named value with a schema and an initial value. The room keeps it in its `meta` table under its
 * name, a snapshot carries it under its name, and a client holds it (and shows it) under its name;
 * the events that set it are defined with `sliceEvent`.
 */
import { z } from "zod";
import type { SessionState } from "./state.ts";
import type { SliceName, SliceValues } from "./registry.ts";

/** `agent`: the runner sends it inside `agent.batch`. `room`: only the room itself emits it. */
export type EventOrigin = "agent" | "room";

export interface EventDef<B extends { type: string } = { type: string }, F extends EventOrigin = EventOrigin> {
  readonly type: string;
  readonly from: F;
  readonly schema: z.ZodType<B>;
  /**
   * What the event does to a session's state. Returning a body replaces the event as logged and
   * fanned out (the room stored a shortened copy); returning nothing keeps it as it is.
   */
  reduce(state: SessionState, ev: B, seq: number, ts: number): B | void;
}

type Shape = z.ZodRawShape;
/** The body an event of type `T` with fields `S` parses to. */
export type BodyOf<T extends string, S extends Shape> = { type: T } & z.output<z.ZodObject<S>>;

/** One event kind: `{ type, ...fields }` and its reducer. */
export function defineEvent<const T extends string, S extends Shape, F extends EventOrigin>(
  from: F,
  type: T,
  fields: S,
  reduce: (state: SessionState, ev: BodyOf<T, S>, seq: number, ts: number) => BodyOf<T, S> | void,
): EventDef<BodyOf<T, S>, F> {
  const schema = z.object({ type: z.literal(type), ...fields }) as unknown as z.ZodType<BodyOf<T, S>>;
  return { type, from, schema, reduce };
}

export interface SliceDef<N extends string = string, V = unknown> {
  readonly name: N;
  /** The value as a snapshot carries it (absent from an older room's snapshot: `initial()`). */
  readonly schema: z.ZodType<V>;
  readonly initial: () => V;
}

export function defineSlice<const N extends string, V>(name: N, schema: z.ZodType<V>, initial: () => V): SliceDef<N, V> {
  return { name, schema, initial };
}

/**
 * An event that sets a slice: `next` computes the slice's new value from the current one. The
 * room may store a shortened value (long strings cut, as in parts); `logged` then puts the
 * stored value back into the event, so the log and every client carry what the room keeps.
 */
export function sliceEvent<N extends string, V, const T extends string, S extends Shape>(
  slice: SliceDef<N, V>,
  type: T,
  fields: S,
  next: (value: V, ev: BodyOf<T, S>) => V,
  logged?: (ev: BodyOf<T, S>, stored: V) => BodyOf<T, S>,
): EventDef<BodyOf<T, S>, "agent"> {
  return defineEvent("agent", type, fields, (state, ev) => {
    // The registry lists this slice, so its name is a SliceName whose value type is V.
    const name = slice.name as string as SliceName;
    const stored = state.setSlice(name, next(state.slice(name) as V, ev) as SliceValues[SliceName]) as V | undefined;
    if (stored !== undefined && logged) return logged(ev, stored);
  });
}

/**
 * A family of event kinds (one module each: shared/events/session.ts, todo.ts, ...) and the slices
 * they set. shared/events/registry.ts lists the families; adding a kind to a family needs no other
 * list.
 */
export interface Family<E extends readonly EventDef[] = readonly EventDef[], S extends readonly SliceDef[] = readonly SliceDef[]> {
  readonly events: E;
  readonly slices: S;
}

export function defineFamily<const E extends readonly EventDef[], const S extends readonly SliceDef[] = readonly []>(family: {
  events: E;
  slices?: S;
}): Family<E, S> {
  return { events: family.events, slices: (family.slices ?? []) as unknown as S };
}
