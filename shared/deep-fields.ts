/**
 * Long values anywhere inside a part or a message info: found at any depth, shortened on a
 * character boundary, and — when many small values still make the whole too big (a 2 MB tool
 * `metadata` of small strings) — whole objects or arrays set aside as JSON. The store keeps what
 * was cut in chunks; clients get the short form with `truncated` marks naming each path.
 *
 * Paths are dotted (`state.input.content`, `state.metadata.files.3.after`); a key holding `.` or
 * `\` has it escaped with `\`. Array items are their index.
 */
import { preview } from "./delta.ts";
import type { Truncation } from "./parts.ts";

export type Json = Record<string, unknown>;
type Node = Json | unknown[];

/** Keys of the root that are identity, never shortened. */
const ROOT_KEYS = new Set(["id", "messageID", "type", "truncated", "role", "sessionID"]);

export function joinPath(segs: readonly (string | number)[]): string {
  return segs.map((s) => String(s).replace(/[\\.]/g, "\\$&")).join(".");
}

export function splitPath(path: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === "\\" && i + 1 < path.length) cur += path[++i];
    else if (c === ".") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null;
const child = (n: unknown, key: string): unknown => (isNode(n) ? (n as Record<string, unknown>)[key] : undefined);

export function getPath(obj: Json, path: string): unknown {
  let v: unknown = obj;
  for (const k of splitPath(path)) v = child(v, k);
  return v;
}

/** A copy of `obj` with `value` at `path`, copying each object or array along it (inputs stay as they are). */
export function setPath(obj: Json, path: string, value: unknown): Json {
  const segs = splitPath(path);
  const put = (n: unknown, i: number): unknown => {
    const copy: Record<string, unknown> = Array.isArray(n) ? ([...n] as unknown as Record<string, unknown>) : { ...(isNode(n) ? n : {}) };
    const k = segs[i]!;
    copy[k] = i === segs.length - 1 ? value : put(copy[k], i + 1);
    return copy;
  };
  return put(obj, 0) as Json;
}

/** What `shorten` took out: a string's full text, or an object's/array's JSON (`json`). */
export interface Cut {
  field: string;
  full: string;
  json?: true;
}

/**
 * `obj` with every string longer than `limit` (at any depth) cut to `limit` characters, then, while
 * its JSON is over `budget` characters, the objects/arrays that make it so replaced by empty ones.
 * Returns the short form and the cuts (strings first, then set-aside containers, outermost last).
 */
export function shorten(obj: Json, limit: number, budget: number): { value: Json; cuts: Cut[] } {
  const cuts: Cut[] = [];
  const walk = (v: unknown, segs: (string | number)[]): unknown => {
    if (typeof v === "string") {
      if (v.length <= limit) return v;
      cuts.push({ field: joinPath(segs), full: v });
      return preview(v, limit);
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...segs, i]));
    if (isNode(v)) {
      const out: Json = {};
      for (const [k, x] of Object.entries(v)) out[k] = segs.length === 0 && ROOT_KEYS.has(k) ? x : walk(x, [...segs, k]);
      return out;
    }
    return v;
  };
  let value = walk(obj, []) as Json;
  let size = JSON.stringify(value).length;
  for (let guard = 0; size > budget && guard < 1_000; guard++) {
    const pick = heaviest(value, size - budget);
    if (!pick) break;
    const json = JSON.stringify(getPath(value, pick.path));
    value = setPath(value, pick.path, pick.array ? [] : {});
    cuts.push({ field: pick.path, full: json, json: true });
    size = JSON.stringify(value).length;
  }
  return { value, cuts };
}

/**
 * The container to set aside so that `needed` characters go: descending from the root through the
 * heaviest child, the smallest container that still frees `needed`, or the heaviest one below the
 * root when none does (and the loop takes another).
 */
function heaviest(root: Json, needed: number): { path: string; array: boolean } | null {
  let node: Node = root;
  const segs: (string | number)[] = [];
  let found: { path: string; array: boolean } | null = null;
  for (;;) {
    let best: { key: string | number; size: number; v: Node } | null = null;
    const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
    for (const [k, v] of entries) {
      if (!isNode(v) || (segs.length === 0 && ROOT_KEYS.has(String(k)))) continue;
      const size = JSON.stringify(v).length;
      if (size > 2 && (!best || size > best.size)) best = { key: k, size, v };
    }
    if (!best) return found;
    segs.push(best.key);
    const here = { path: joinPath(segs), array: Array.isArray(best.v) };
    if (best.size < needed) return found ?? here;
    found = here;
    node = best.v;
  }
}

/**
 * Marks for the cuts, keeping what `known` marks already say (a field shortened before keeps its
 * first full length).
 */
export function marksFor(cuts: readonly Cut[], known: readonly Truncation[] = []): Truncation[] {
  const marks = known.map((t) => ({ ...t }));
  for (const c of cuts) {
    if (marks.some((t) => t.field === c.field)) continue;
    marks.push(c.json ? { field: c.field, fullChars: c.full.length, json: true } : { field: c.field, fullChars: c.full.length });
  }
  return marks;
}

/** A JSON object's size bound used for parts and message infos: it always fits a frame alone. */
export const budgetFor = (inlineFieldChars: number): number => inlineFieldChars * 4;
