/**
 * The list operations shared/transcript.ts stores with: lists mutated in place, found from the end
 * (the streaming part, the updated message and the newest queue entry are almost always last).
 */
import { getPath, setPath, type Json } from "./deep-fields.ts";
import type { Part } from "./parts.ts";

/**
 * Index of the item with this id, searching from the end: the part being streamed, the message
 * being updated and the newest queue entry are almost always last, so this is O(1) in practice.
 */
export function indexFromEnd<T>(list: readonly T[], id: string, key: (item: T) => string): number {
  for (let i = list.length - 1; i >= 0; i--) if (key(list[i] as T) === id) return i;
  return -1;
}

export const partKey = (p: Part) => p.id;
export const byIdKey = (x: { id: string }) => x.id;

/** Replaces the item with the same id in place, or appends it. Returns true if it was new. */
export function upsertInOrder<T>(list: T[], item: T, key: (item: T) => string): boolean {
  const i = indexFromEnd(list, key(item), key);
  if (i >= 0) {
    list[i] = item;
    return false;
  }
  list.push(item);
  return true;
}

export function removeById<T>(list: T[], id: string, key: (item: T) => string): boolean {
  const i = indexFromEnd(list, id, key);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}

/**
 * A copy of `part` with `delta` appended to its field `field` (a missing field counts as "").
 * Like the room, the field is a dotted path (usually just `text`). A field the room stored shortened (listed in
 * `truncated`) keeps its preview and only grows its `fullChars`, as in the room's snapshots.
 */
export function appendDelta(part: Part, field: string, delta: string): Part | null {
  const marks = part.truncated;
  const mark = marks?.find((t) => t.field === field);
  if (marks && mark) {
    return { ...part, truncated: marks.map((t) => (t === mark ? { ...t, fullChars: t.fullChars + delta.length } : t)) };
  }
  // A dotted field reaches inside the part (a runner sends a part too big for one batch in pieces).
  const current = getPath(part as Json, field);
  if (current !== undefined && typeof current !== "string") return null;
  return setPath(part as Json, field, (current ?? "") + delta) as Part;
}

export function replaceAll<T>(target: T[], source: readonly T[]): void {
  target.length = 0;
  for (const x of source) target.push(x);
}
