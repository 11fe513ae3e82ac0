/**
 * Generators of bad input for the room, on fast-check: random and mutated frames for every role,
 * and bad tokens. Each frame comes with what the room must answer, worked out by an oracle from
 * the protocol's own schemas (shared/protocol.ts) and limits — never from the room's code — so a
 * generated frame that happens to be valid and allowed is thrown away rather than sent: the fuzz
 * tests send only frames that must change nothing.
 *
 * The generators draw their choices from an `Rng` read off a fast-check "choice tape" (an array
 * of integers, `tapeArb`): fast-check makes the tape from its seed, and when a property fails it
 * shrinks the tape (fewer, smaller choices), which shrinks the frame to a simpler one that still
 * fails. `fuzzFrameArb` is the arbitrary the fuzz tests run properties over; `fuzzFrames` samples
 * it for a seed. Same seed, same frames: a failure report carries its seed and path.
 */
import fc from "fast-check";
import {
  AgentFrameSchema,
  ClientFrameSchema,
  ErrorCodeSchema,
  VIEWER_FRAME_TYPES,
  type AgentFrame,
  type ClientFrame,
  type ErrorCode,
} from "../../shared/protocol.ts";
import type { Limits } from "../../shared/limits.ts";
import { signToken } from "../../shared/token.ts";

// ───────────────────────────── choices, from fast-check ─────────────────────────────

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Integer in [min, max]. */
  range(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

const TAPE_CELL = 2 ** 32;

/** mulberry32 from `state`: tiny, fast, good enough to spread test inputs; not for secrets. */
function mulberry32(state: number): () => number {
  let a = state >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / TAPE_CELL;
  };
}

function rngOf(next: () => number, chance: (p: number) => boolean): Rng {
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    range: (min, max) => min + int(max - min + 1),
    chance,
    pick: <T>(items: readonly T[]): T => items[int(items.length)]!,
  };
}

/** Choices for one generated value: fast-check makes and shrinks it (towards fewer, smaller). */
export const tapeArb: fc.Arbitrary<number[]> = fc.array(fc.nat({ max: TAPE_CELL - 1 }), { maxLength: 96 });

/**
 * An `Rng` reading its choices off `tape`. Past the tape's end (a long string, random bytes) it
 * goes on with mulberry32 seeded from the tape, so a value stays a function of its tape alone.
 */
export function tapeRng(tape: readonly number[]): Rng {
  let i = 0;
  const after = mulberry32(tape.reduce((h, x) => Math.imul(h ^ x, 0x9e3779b1) >>> 0, tape.length));
  const next = (): number => (i < tape.length ? tape[i++]! / TAPE_CELL : after());
  // A zero choice (what shrinking tends to) means "no": the simpler branch.
  return rngOf(next, (p) => 1 - next() < p);
}

/**
 * A plain seeded `Rng` (mulberry32), for generators that run outside a property: the chaos
 * proxy's faults (test/harness/proxy.ts) and the chat fuzz, whose log interleaves valid posts
 * that change the room, so a failing frame could not be replayed alone to shrink it.
 */
export function createRng(seed: number): Rng & { readonly seed: number } {
  const next = mulberry32(seed);
  return { seed, ...rngOf(next, (p) => next() < p) };
}

// ───────────────────────────── what a frame must get back ─────────────────────────────

export type FuzzRole = "viewer" | "driver" | "agent";

export type FuzzKind =
  | "bad_json"
  | "not_an_object"
  | "wrong_type"
  | "missing_field"
  | "huge_string"
  | "deep_nesting"
  | "unknown_type"
  | "binary"
  | "wrong_role"
  | "oversized"
  | "prompt_too_large"
  | "unknown_target"
  | "replayed_batch";

/** An error frame with one of these codes, or (replayed batches) an `agent.ack` marked duplicate. */
export type Expectation = { error: readonly ErrorCode[] } | { duplicateAck: string };

export interface FuzzFrame {
  index: number;
  kind: FuzzKind;
  role: FuzzRole;
  data: string | Uint8Array<ArrayBuffer>;
  expect: Expectation;
}

const enc = new TextEncoder();
const byteLength = (data: string | Uint8Array): number => (typeof data === "string" ? enc.encode(data).length : data.length);

/** Client frame types only drivers (and owners) may send. */
const DRIVING_TYPES = ClientFrameSchema.options
  .map((o) => o.shape.type.value)
  .filter((t) => !VIEWER_FRAME_TYPES.includes(t));

/**
 * The oracle: what the protocol says the room must answer to `data` from `role`, or null when the
 * frame is valid and allowed (it might change something, so it is not sent).
 *
 * Where the protocol leaves the order of checks open (a viewer's malformed prompt may be refused
 * as malformed or as forbidden), every answer it allows is listed.
 */
export function expectedAnswer(role: FuzzRole, data: string | Uint8Array, limits: Limits): readonly ErrorCode[] | null {
  const maxBytes = role === "agent" ? limits.maxAgentFrameBytes : limits.maxClientFrameBytes;
  if (byteLength(data) > maxBytes) return ["frame_too_large", ...(typeof data === "string" ? [] : ["bad_json" as const])];
  if (typeof data !== "string") return ["bad_json"];
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return ["bad_json"];
  }
  const type = json && typeof json === "object" && !Array.isArray(json) ? (json as { type?: unknown }).type : undefined;
  const asAgent = AgentFrameSchema.safeParse(json);
  const asClient = ClientFrameSchema.safeParse(json);
  if (role === "agent") {
    // Client frames from the agent connection are outside what the fuzz tests probe.
    if (asAgent.success || asClient.success) return null;
    return ["bad_frame"];
  }
  if (asAgent.success) return ["forbidden", "bad_frame"];
  if (!asClient.success) {
    const drivingType = typeof type === "string" && (DRIVING_TYPES as readonly string[]).includes(type);
    const agentType = typeof type === "string" && type.startsWith("agent.");
    return role === "viewer" && (drivingType || agentType) ? ["bad_frame", "forbidden"] : ["bad_frame"];
  }
  const frame = asClient.data;
  if (role === "viewer") {
    if (VIEWER_FRAME_TYPES.includes(frame.type)) return null;
    return frame.type === "prompt" && frame.text.length > limits.maxPromptChars ? ["forbidden", "prompt_too_large"] : ["forbidden"];
  }
  if (frame.type === "prompt" && frame.text.length > limits.maxPromptChars) return ["prompt_too_large"];
  return null;
}

// ───────────────────────────── valid base frames ─────────────────────────────

const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/** Strings that have broken parsers, templates and HTML before. */
const NASTY = [
  "",
  " ",
  "\u0000",
  "\u2028\u2029",
  "\ud800",
  "😀".repeat(3),
  "<script>alert(1)</script>",
  "'; DROP TABLE parts; --",
  "__proto__",
  "constructor",
  "../../../etc/passwd",
  "${process.exit(1)}",
  "\\u0000",
  "%00",
  "null",
  "NaN",
  "-1",
  "1e309",
];

function word(rng: Rng, min = 1, max = 24): string {
  let s = "";
  const n = rng.range(min, max);
  for (let i = 0; i < n; i++) s += ALNUM[rng.int(ALNUM.length)];
  return s;
}

function anyString(rng: Rng): string {
  return rng.chance(0.3) ? rng.pick(NASTY) : word(rng, 0, 40);
}

/** A random JSON value of any type, shallow. */
function anyValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 5 : 7)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1.5, 2 ** 53 + 1, -(2 ** 31), 1e300, 42]);
    case 3:
    case 4:
      return anyString(rng);
    case 5:
      return Array.from({ length: rng.int(4) }, () => anyValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) o[anyString(rng)] = anyValue(rng, depth + 1);
      return o;
    }
  }
}

const maybeRef = (rng: Rng, i: number): { ref?: string } => (rng.chance(0.8) ? { ref: `fz${i}` } : {});

export function validClientFrame(rng: Rng, i: number): ClientFrame {
  const ref = maybeRef(rng, i);
  switch (rng.int(9)) {
    case 0:
      return { type: "prompt", ...ref, id: word(rng), text: word(rng, 1, 200), ...(rng.chance(0.5) ? { mode: rng.pick(["build", "plan"] as const) } : {}) };
    case 1:
      return { type: "queue.cancel", ...ref, id: word(rng) };
    case 2:
      return { type: "stop", ...ref };
    case 3:
      return { type: "mode.set", ...ref, mode: rng.pick(["build", "plan"] as const) };
    case 4:
      return { type: "permission.reply", ...ref, requestID: word(rng), reply: rng.pick(["once", "always", "reject"] as const), ...(rng.chance(0.5) ? { message: word(rng) } : {}) };
    case 5:
      return { type: "question.reply", ...ref, requestID: word(rng), answers: rng.chance(0.2) ? null : [[word(rng)], [word(rng), word(rng)]] };
    case 6:
      return { type: "history", ...ref, ...(rng.chance(0.5) ? { before: word(rng) } : {}), ...(rng.chance(0.5) ? { limit: rng.range(1, 200) } : {}) };
    case 7:
      return { type: "resync", ...ref };
    default:
      return { type: "typing", ...ref, typing: rng.chance(0.5) };
  }
}

export function validAgentFrame(rng: Rng): AgentFrame {
  const messageID = "msg_" + word(rng, 6, 12);
  switch (rng.int(5)) {
    case 0: {
      const partID = "prt_" + word(rng, 6, 12);
      const bodies = [
        { type: "message.upsert" as const, message: { id: messageID, role: "assistant" as const, time: { created: Date.now() } } },
        { type: "part.upsert" as const, part: { id: partID, messageID, type: "text", text: word(rng) } },
        { type: "part.delta" as const, messageID, partID, field: "text", delta: word(rng) },
        { type: "status" as const, status: rng.pick(["idle", "busy", "retry"] as const) },
        { type: "session.info" as const, title: word(rng) },
      ];
      return { type: "agent.batch", batchId: "fz_" + word(rng, 8, 16), events: [{ eid: word(rng), body: rng.pick(bodies) }] };
    }
    case 1:
      return { type: "agent.prompt.started", queueId: word(rng) };
    case 2:
      return { type: "agent.prompt.failed", queueId: word(rng), error: word(rng) };
    case 3:
      return { type: "agent.request.closed", requestID: word(rng) };
    default:
      return { type: "agent.heartbeat", runnerId: word(rng) };
  }
}

// ───────────────────────────── mutations ─────────────────────────────

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a value inside a JSON tree (objects and arrays). */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (v && typeof v === "object") {
    for (const [k, child] of Object.entries(v)) {
      const p = [...prefix, Array.isArray(v) ? Number(k) : k];
      out.push(p);
      paths(child, p, out);
    }
  }
  return out;
}

function getAt(root: unknown, path: (string | number)[]): unknown {
  return path.reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string | number, unknown>)[k] : undefined), root);
}

function setAt(root: Json, path: (string | number)[], value: Json | undefined): void {
  let node = root as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = value;
}

/** A value of a different JSON type than `v`. */
function otherType(rng: Rng, v: unknown): Json {
  const candidates: Json[] = [null, true, 7, -0.5, "x", [], {}, [1, "a"], { a: 1 }];
  const t = (x: unknown): string => (x === null ? "null" : Array.isArray(x) ? "array" : typeof x);
  const others = candidates.filter((c) => t(c) !== t(v));
  return rng.pick(others);
}

function deepNest(depth: number, open: string, close: string): string {
  return open.repeat(depth) + "0" + close.repeat(depth);
}

function corruptText(rng: Rng, text: string): string {
  switch (rng.int(8)) {
    case 0:
      return text.slice(0, rng.int(Math.max(1, text.length - 1)));
    case 1: {
      const i = rng.int(text.length);
      return text.slice(0, i) + rng.pick(["{", "}", '"', ",", ":", "\\", "]", "\u0000"]) + text.slice(i);
    }
    case 2:
      return text.replace(/"/g, "'");
    case 3:
      return text.slice(0, -1) + ",}";
    case 4:
      return "\ufeff" + text + "/* c */";
    case 5:
      return rng.pick(["", "undefined", "NaN", "{", "}", "[", "{type:stop}", "{'type':'stop'}", "nul", "tru", "\u0000", '"'.repeat(3)]);
    case 6:
      return Array.from({ length: rng.range(1, 64) }, () => String.fromCharCode(rng.range(1, 0x7e))).join("") + "{";
    default:
      return text + text;
  }
}

// ───────────────────────────── the generators ─────────────────────────────

export interface FuzzOptions {
  seed: number;
  role: FuzzRole;
  limits: Limits;
  /** Batches the room already applied (agent role): resent with the same id, changed or not. */
  appliedBatches?: readonly Extract<AgentFrame, { type: "agent.batch" }>[];
  /** Weights per kind; absent kinds use the defaults below. */
  weights?: Partial<Record<FuzzKind, number>>;
}

const DEFAULT_WEIGHTS: Record<FuzzKind, number> = {
  bad_json: 12,
  not_an_object: 4,
  wrong_type: 20,
  missing_field: 10,
  huge_string: 5,
  deep_nesting: 4,
  unknown_type: 8,
  binary: 6,
  wrong_role: 14,
  oversized: 2,
  prompt_too_large: 2,
  unknown_target: 6,
  replayed_batch: 6,
};

/** Kinds that make sense for a role (a viewer has no "unknown target", only an agent replays). */
function kindsFor(role: FuzzRole): FuzzKind[] {
  const all = Object.keys(DEFAULT_WEIGHTS) as FuzzKind[];
  return all.filter((k) => {
    if (k === "replayed_batch") return role === "agent";
    if (k === "unknown_target") return role === "driver";
    if (k === "prompt_too_large") return role !== "agent";
    return true;
  });
}

/** A base frame as JSON for the role: what it would legitimately send (or, for wrong_role, not). */
function baseFor(rng: Rng, role: FuzzRole, i: number): Json {
  return (role === "agent" ? validAgentFrame(rng) : validClientFrame(rng, i)) as unknown as Json;
}

/** One candidate of a kind; may be valid (the caller checks with the oracle). */
function candidate(rng: Rng, kind: FuzzKind, opts: Omit<FuzzOptions, "seed">, i: number): { data: string | Uint8Array<ArrayBuffer>; expect?: Expectation } | null {
  const { role, limits } = opts;
  const maxBytes = role === "agent" ? limits.maxAgentFrameBytes : limits.maxClientFrameBytes;
  switch (kind) {
    case "bad_json":
      return { data: corruptText(rng, JSON.stringify(baseFor(rng, role, i))) };
    case "not_an_object":
      return { data: JSON.stringify(rng.pick<Json>([null, 0, 42, "stop", "prompt", true, [], [{ type: "stop" }], [JSON.parse(JSON.stringify(baseFor(rng, role, i)))]])) };
    case "wrong_type": {
      const f = baseFor(rng, role, i);
      for (let n = rng.range(1, 3); n > 0; n--) {
        const ps = paths(f); // again each time: the last change may have removed a branch
        if (!ps.length) break;
        const p = rng.pick(ps);
        setAt(f, p, otherType(rng, getAt(f, p)));
      }
      // Numbers JSON cannot spell: Infinity from an overflowing literal.
      const text = JSON.stringify(f);
      return { data: rng.chance(0.1) ? text.replace(/:(\d+)/, ":1e999") : text };
    }
    case "missing_field": {
      const f = baseFor(rng, role, i);
      const ps = paths(f);
      if (!ps.length) return null;
      setAt(f, rng.pick(ps), undefined);
      return { data: JSON.stringify(f) };
    }
    case "huge_string": {
      // Long enough to break per-field caps, short enough to stay clearly under the frame cap.
      const f = baseFor(rng, role, i) as Record<string, Json>;
      const ps = paths(f).filter((p) => typeof getAt(f, p) === "string");
      const size = rng.range(129, Math.floor(maxBytes * 0.6));
      const huge = rng.chance(0.2) ? "😀".repeat(Math.floor(size / 4)) : "A".repeat(size);
      if (ps.length && rng.chance(0.8)) setAt(f, rng.pick(ps), huge);
      else f[rng.pick(["ref", "id", "requestID", "batchId", "type", "zz"])] = huge;
      return { data: JSON.stringify(f) };
    }
    case "deep_nesting": {
      // Six bytes a level at most: stays well under the frame cap, so the nesting is what is probed.
      const depth = rng.range(64, Math.min(50_000, Math.floor((maxBytes * 0.6) / 6)));
      const nest = rng.chance(0.5) ? deepNest(depth, "[", "]") : deepNest(depth, '{"a":', "}");
      const f = baseFor(rng, role, i) as Record<string, Json>;
      const key = rng.pick(Object.keys(f).filter((k) => k !== "type").concat(["nest"]));
      const text = JSON.stringify({ ...f, [key]: "__NEST__" });
      return { data: rng.chance(0.2) ? nest : text.replace('"__NEST__"', nest) };
    }
    case "unknown_type": {
      const f = baseFor(rng, role, i) as Record<string, Json>;
      f.type = rng.pick<Json>([
        "hello",
        "agent.hack",
        "__proto__",
        "constructor",
        "toString",
        "hasOwnProperty",
        "prompt ",
        "PROMPT",
        "",
        "agent.batch\u0000",
        "events",
        "welcome",
        "snapshot",
        "error",
        word(rng),
        7,
        null,
      ]);
      if (rng.chance(0.3)) delete f.type;
      return { data: JSON.stringify(f) };
    }
    case "binary": {
      if (rng.chance(0.5)) return { data: enc.encode(JSON.stringify(baseFor(rng, role, i))) as Uint8Array<ArrayBuffer> };
      const bytes = new Uint8Array(rng.range(1, 2048));
      for (let k = 0; k < bytes.length; k++) bytes[k] = rng.int(256);
      return { data: bytes };
    }
    case "wrong_role": {
      if (role === "agent") return null; // the agent's wrong-role frames are client frames: not probed
      if (role === "driver" || rng.chance(0.3)) return { data: JSON.stringify(validAgentFrame(rng)) };
      // Viewer: a valid driving command.
      let f: ClientFrame;
      do f = validClientFrame(rng, i);
      while (VIEWER_FRAME_TYPES.includes(f.type));
      return { data: JSON.stringify(f) };
    }
    case "oversized": {
      const size = Math.ceil(maxBytes * (1.25 + rng.next() * 0.25));
      const f = baseFor(rng, role, i) as Record<string, Json>;
      f.pad = "x".repeat(size);
      return { data: JSON.stringify(f) };
    }
    case "prompt_too_large": {
      const chars = rng.range(limits.maxPromptChars + 1, Math.min(limits.maxPromptChars * 2, Math.floor(maxBytes * 0.8)));
      if (chars <= limits.maxPromptChars) return null;
      return { data: JSON.stringify({ type: "prompt", ref: `fz${i}`, id: "big_" + word(rng), text: "p".repeat(chars) }) };
    }
    case "unknown_target": {
      const id = "nope_" + word(rng);
      const f = rng.pick<Json>([
        { type: "queue.cancel", ref: `fz${i}`, id },
        { type: "permission.reply", ref: `fz${i}`, requestID: id, reply: rng.pick(["once", "always", "reject"]) },
        { type: "question.reply", ref: `fz${i}`, requestID: id, answers: rng.chance(0.5) ? null : [["a"]] },
      ]);
      return { data: JSON.stringify(f), expect: { error: ["not_found", "already_answered"] } };
    }
    case "replayed_batch": {
      const applied = opts.appliedBatches ?? [];
      if (!applied.length) return null;
      const batch = rng.pick(applied);
      // A resend is the same frame text. (A known id with other content counts as a new batch —
      // docs/protocol.md — so it could change the transcript and is not sent here.)
      return { data: JSON.stringify(batch), expect: { duplicateAck: batch.batchId } };
    }
  }
}

/** Draws a kind by weight. */
function drawKind(rng: Rng, kinds: FuzzKind[], weights: Record<FuzzKind, number>): FuzzKind {
  const total = kinds.reduce((s, k) => s + weights[k], 0);
  let r = rng.next() * total;
  for (const k of kinds) if ((r -= weights[k]) < 0) return k;
  return kinds[kinds.length - 1]!;
}

/** One bad frame from one tape, or null when the tape made a valid and allowed frame. */
function frameFromTape(tape: readonly number[], opts: Omit<FuzzOptions, "seed">, index: number): FuzzFrame | null {
  const rng = tapeRng(tape);
  const weights = { ...DEFAULT_WEIGHTS, ...opts.weights };
  const kinds = kindsFor(opts.role).filter((k) => weights[k] > 0);
  const kind = drawKind(rng, kinds, weights);
  const c = candidate(rng, kind, opts, index);
  if (!c) return null;
  if (c.expect && "duplicateAck" in c.expect) return { index, kind, role: opts.role, data: c.data, expect: c.expect };
  const oracle = expectedAnswer(opts.role, c.data, opts.limits);
  // A semantic refusal (an id that names nothing) holds for frames the schemas accept.
  const expect = oracle ? { error: oracle } : c.expect;
  if (!expect) return null; // valid and allowed: it could change something
  return { index, kind, role: opts.role, data: c.data, expect };
}

/**
 * Bad frames for one role: every one the room must refuse (an error frame with a listed code)
 * or, for replayed batches, acknowledge as a duplicate; valid frames never come out. `index`
 * numbers the frame's `ref`.
 */
export function fuzzFrameArb(opts: Omit<FuzzOptions, "seed">, index = 0): fc.Arbitrary<FuzzFrame> {
  return tapeArb.map((tape) => frameFromTape(tape, opts, index)).filter((f): f is FuzzFrame => f !== null);
}

/** `count` bad frames for one role, numbered from 0: the same for the same seed (tapes fast-check samples). */
export function* fuzzFrames(count: number, opts: FuzzOptions): Generator<FuzzFrame> {
  let index = 0;
  for (let round = 0; index < count; round++) {
    if (round > 50) throw new Error(`fuzz: too few bad frames from seed ${opts.seed}`);
    for (const tape of fc.sample(tapeArb, { seed: opts.seed + round * 7919, numRuns: 2 * (count - index) })) {
      const f = frameFromTape(tape, opts, index);
      if (!f) continue;
      yield f;
      if (++index === count) return;
    }
  }
}

/** True for a code the protocol defines (ErrorCodeSchema). */
export function isKnownErrorCode(code: unknown): code is ErrorCode {
  return ErrorCodeSchema.safeParse(code).success;
}

// ───────────────────────────── tokens ─────────────────────────────

export interface BadToken {
  kind: string;
  token: string;
}

function flipChar(rng: Rng, s: string, from: number, to: number): string {
  const i = from + rng.int(Math.max(1, to - from));
  const c = s[i] === "A" ? "B" : "A";
  return s.slice(0, i) + c + s.slice(i + 1);
}

function b64urlJson(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString("base64url");
}

/**
 * Tokens the Worker must refuse for `sessionId`: tampered (payload or signature), forged with
 * another secret, expired, for another session, malformed in every way we could think of.
 * They are built by tampering with a valid viewer token for the session.
 */
export async function badTokens(opts: { seed: number; secret: string; sessionId: string; otherSessionId: string }): Promise<BadToken[]> {
  const rng = createRng(opts.seed);
  const { secret, sessionId, otherSessionId } = opts;
  const good = await signToken(secret, { sid: sessionId, role: "viewer", name: "v", ttlSeconds: 3600 });
  const [header, body, sig] = good.split(".") as [string, string, string];
  const payload = JSON.parse(Buffer.from(body, "base64url").toString()) as Record<string, unknown>;
  const withClaims = (claims: Record<string, unknown>): string => `${header}.${b64urlJson(claims)}.${sig}`;
  const out: BadToken[] = [
    { kind: "signature_flipped", token: `${header}.${body}.${flipChar(rng, sig, 0, sig.length - 1)}` },
    { kind: "payload_flipped", token: `${header}.${flipChar(rng, body, 0, body.length)}.${sig}` },
    { kind: "role_raised_to_owner", token: withClaims({ ...payload, role: "owner" }) },
    { kind: "role_raised_to_driver", token: withClaims({ ...payload, role: "driver" }) },
    { kind: "role_raised_to_agent", token: withClaims({ ...payload, role: "agent", sid: "*" }) },
    { kind: "session_widened", token: withClaims({ ...payload, sid: "*" }) },
    { kind: "expiry_extended", token: withClaims({ ...payload, exp: (payload.exp as number) + 86400 * 365 }) },
    { kind: "no_signature", token: `${header}.${body}.` },
    { kind: "only_payload", token: body },
    { kind: "extra_segment", token: `${good}.x` },
    { kind: "alg_none", token: `${b64urlJson({ alg: "none", typ: "JWT" })}.${b64urlJson({ ...payload, role: "owner" })}.` },
    { kind: "two_part_forged", token: `${b64urlJson({ ...payload, role: "owner" })}.${sig}` },
    { kind: "empty", token: "" },
    { kind: "garbage", token: word(rng, 10, 60) },
    { kind: "not_base64", token: "!!!.***" },
    { kind: "huge", token: "A".repeat(8000) + "." + "B".repeat(100) },
    { kind: "unicode", token: "tøken.sïg" },
    { kind: "signature_truncated", token: `${header}.${body}.${sig.slice(0, 10)}` },
    {
      kind: "payload_not_json",
      token: await (async () => {
        // Correctly signed, but the payload is not a token payload: only a forger with the secret could make it.
        const b = Buffer.from("not json").toString("base64url");
        const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
        const s = Buffer.from(await crypto.subtle.sign("HMAC", key, enc.encode(b))).toString("base64url");
        return `${b}.${s}`;
      })(),
    },
    { kind: "wrong_secret", token: await signToken(secret + "x", { sid: sessionId, role: "owner", name: "m", ttlSeconds: 3600 }) },
    { kind: "wrong_secret_operator", token: await signToken("guess", { sid: "*", role: "owner", name: "m", ttlSeconds: 3600 }) },
    { kind: "expired", token: await signToken(secret, { sid: sessionId, role: "owner", name: "o", ttlSeconds: 60 }, Date.now() - 3_600_000) },
    { kind: "expired_just_now", token: await signToken(secret, { sid: sessionId, role: "driver", name: "d", ttlSeconds: 1 }, Date.now() - 2_000) },
    { kind: "other_session_owner", token: await signToken(secret, { sid: otherSessionId, role: "owner", name: "o", ttlSeconds: 3600 }) },
    { kind: "other_session_driver", token: await signToken(secret, { sid: otherSessionId, role: "driver", name: "d", ttlSeconds: 3600 }) },
  ];
  return out;
}
