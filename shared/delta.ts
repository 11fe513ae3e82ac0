/**
 * The one delta path: every place that merges, splits, cuts or frames streamed text uses this
 * module — the runner's outbox (merge, hold a split surrogate pair), the room's ingestion (split a
 * long delta), its log and live fan-out (merge runs, frame under the cap) and the transcript store
 * (chunk and shorten long fields). One module, so "never cut inside a character" is one fix.
 *
 * Cuts land on character boundaries: never between the halves of a UTF-16 surrogate pair (a lone
 * half stored by SQLite or encoded as UTF-8 becomes U+FFFD), and where the text around the cut
 * allows, not inside a grapheme cluster (ZWJ sequences, skin tones, combining marks), so a
 * shortened preview ends on something a person would call a character.
 *
 * Sizes are UTF-8 bytes of the JSON a frame carries: what the WebSocket sends and what the caps
 * in docs/limits.md count.
 */
import type { RoomEvent } from "./protocol.ts";

// ───────────────────────────── characters ─────────────────────────────

export const isHighSurrogate = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
export const isLowSurrogate = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/** True when `s` holds a surrogate half without its partner (what becomes U+FFFD in UTF-8). */
export function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/** The largest index ≤ i that does not split a surrogate pair. */
export function codePointCut(s: string, i: number): number {
  if (i <= 0) return 0;
  if (i >= s.length) return s.length;
  return isHighSurrogate(s.charCodeAt(i - 1)) && isLowSurrogate(s.charCodeAt(i)) ? i - 1 : i;
}

/** Graphemes longer than this (zalgo text) are cut at a code point instead. */
const GRAPHEME_WINDOW = 64;
const segmenter = typeof Intl.Segmenter === "function" ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;

/**
 * The largest character boundary ≤ i: a grapheme boundary when one lies within the window before
 * `i`, else a code point boundary. May be 0 (`i` inside the first grapheme); splitters fall back to
 * a code point cut then, so they always progress.
 */
export function charCut(s: string, i: number): number {
  if (i >= s.length) return s.length;
  if (i <= 0) return 0;
  const cp = codePointCut(s, i);
  if (!segmenter) return cp;
  const lo = Math.max(0, i - GRAPHEME_WINDOW);
  let best = -1;
  for (const { index } of segmenter.segment(s.slice(lo, Math.min(s.length, i + GRAPHEME_WINDOW)))) {
    const at = lo + index;
    if (at > i) break;
    best = at;
  }
  // A segment starting at the window's own start is a boundary only at the string's start.
  if (best > lo || (lo === 0 && best >= 0)) return best;
  return cp;
}

/** `s` shortened to at most `chars` UTF-16 units, ending on a character boundary. */
export function preview(s: string, chars: number): string {
  return s.length <= chars ? s : s.slice(0, charCut(s, chars));
}

/** `s` in pieces of at most `chars` units (≥ 2), each cut on a character boundary; joined, they are `s`. */
export function splitText(s: string, chars: number): string[] {
  if (s.length <= chars) return [s];
  const out: string[] = [];
  let start = 0;
  while (start < s.length) {
    let end = start + chars >= s.length ? s.length : start + charCut(s.slice(start, start + chars + GRAPHEME_WINDOW), chars);
    if (end <= start) end = start + Math.max(1, codePointCut(s.slice(start, start + chars + 1), chars) || 2);
    out.push(s.slice(start, end));
    start = end;
  }
  return out;
}

// ───────────────────────────── sizes ─────────────────────────────

const NON_ASCII = /[^\x00-\x7f]/;

/** UTF-8 length of `s` (a surrogate pair is 4 bytes). */
export function utf8Bytes(s: string): number {
  if (!NON_ASCII.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 2 : 3;
  }
  return n;
}

/**
 * Bytes `s` takes inside a JSON frame. Short strings are bounded cheaply (6 bytes per unit: the
 * worst escape, `\u0000`); long ones are measured.
 */
export function jsonTextBytes(s: string): number {
  return s.length <= 1024 ? s.length * 6 : utf8Bytes(JSON.stringify(s)) - 2;
}

/**
 * `s` in pieces whose JSON each takes at most `maxBytes` (and at most `maxChars` units), cut on
 * character boundaries. For deltas and chunks that must fit one frame or one SQLite value.
 */
export function splitToBytes(s: string, maxChars: number, maxBytes: number): string[] {
  const out: string[] = [];
  for (const piece of splitText(s, maxChars)) {
    if (jsonTextBytes(piece) <= maxBytes || piece.length < 4) out.push(piece);
    else out.push(...splitToBytes(piece, Math.max(2, Math.floor(piece.length / 2)), maxBytes));
  }
  return out;
}

// ───────────────────────────── merging ─────────────────────────────

/**
 * Bytes a delta's text may take so that its event (ids ≤ 128 chars each, field, seqs, JSON
 * punctuation) still fits a frame of `maxFrameBytes` alone.
 */
export function deltaTextBudget(maxFrameBytes: number): number {
  return maxFrameBytes - 2048;
}

/** What a delta extends: one field of one part. */
export interface DeltaTarget {
  messageID: string;
  partID: string;
  field: string;
}

export function sameTarget(a: DeltaTarget, b: DeltaTarget): boolean {
  return a.partID === b.partID && a.field === b.field && a.messageID === b.messageID;
}

type DeltaEvent = Extract<RoomEvent, { type: "part.delta" }>;

/**
 * Merges runs of consecutive deltas to one target into single events covering `fromSeq..seq`,
 * while the merged text's JSON stays within `maxBytes` (so a merged event always fits a frame).
 * Fed one event (or one stored delta row) at a time: the log feeds rows without building events.
 */
export class DeltaMerger {
  readonly #out: RoomEvent[] = [];
  readonly #maxBytes: number;
  #run: { t: DeltaTarget; texts: string[]; bytes: number; from: number; seq: number; ts: number; alone?: DeltaEvent } | null = null;

  constructor(maxBytes = Number.POSITIVE_INFINITY) {
    this.#maxBytes = maxBytes;
  }

  /** A delta event; kept as it is when it ends up alone in its run. */
  delta(e: DeltaEvent): void {
    this.#add(e, e.delta, e.fromSeq ?? e.seq, e.seq, e.ts, e);
  }

  /** A delta read from storage: no event object is made unless its run closes (one per run, not per row). */
  row(t: DeltaTarget, text: string, seq: number, ts: number): void {
    this.#add(t, text, seq, seq, ts);
  }

  #add(t: DeltaTarget, text: string, from: number, seq: number, ts: number, alone?: DeltaEvent): void {
    const bytes = jsonTextBytes(text);
    const run = this.#run;
    if (run && sameTarget(run.t, t) && run.bytes + bytes <= this.#maxBytes) {
      run.texts.push(text);
      run.bytes += bytes;
      run.seq = seq;
      run.ts = ts;
      return;
    }
    this.#close();
    this.#run = { t, texts: [text], bytes, from, seq, ts, alone };
  }

  other(e: RoomEvent): void {
    this.#close();
    this.#out.push(e);
  }

  add(e: RoomEvent): void {
    if (e.type === "part.delta") this.delta(e);
    else this.other(e);
  }

  done(): RoomEvent[] {
    this.#close();
    return this.#out;
  }

  #close(): void {
    const run = this.#run;
    if (!run) return;
    this.#run = null;
    if (run.texts.length === 1 && run.alone) {
      this.#out.push(run.alone);
      return;
    }
    const { messageID, partID, field } = run.t;
    const e: DeltaEvent = { type: "part.delta", messageID, partID, field, delta: run.texts.join(""), seq: run.seq, ts: run.ts };
    if (run.from !== run.seq) e.fromSeq = run.from;
    this.#out.push(e);
  }
}

/** Merges runs of deltas to one part+field (see `DeltaMerger`). */
export function mergeDeltas(events: readonly RoomEvent[], maxBytes?: number): RoomEvent[] {
  const m = new DeltaMerger(maxBytes);
  for (const e of events) m.add(e);
  return m.done();
}

/**
 * Holds a trailing high surrogate of a stream until its low half arrives, per target, so no
 * delta that leaves the runner ends inside a character. `release` lets the half go alone (the
 * part ended with it: the agent really sent a lone half).
 */
export class SurrogateHold {
  readonly #held = new Map<string, { target: DeltaTarget; half: string }>();

  static key(t: DeltaTarget): string {
    return `${t.messageID}\u0000${t.partID}\u0000${t.field}`;
  }

  /** The text to send now for this delta (possibly ""): a held half prepended, a trailing one held. */
  take(t: DeltaTarget, text: string): string {
    const key = SurrogateHold.key(t);
    const held = this.#held.get(key);
    if (held) {
      this.#held.delete(key);
      text = held.half + text;
    }
    if (text.length && isHighSurrogate(text.charCodeAt(text.length - 1))) {
      this.#held.set(key, { target: t, half: text.slice(-1) });
      text = text.slice(0, -1);
    }
    return text;
  }

  /** Lets go the halves held for targets matching `match`, as (target, text) pairs. */
  release(match: (t: DeltaTarget) => boolean): { target: DeltaTarget; text: string }[] {
    const out: { target: DeltaTarget; text: string }[] = [];
    for (const [key, h] of this.#held) {
      if (!match(h.target)) continue;
      this.#held.delete(key);
      out.push({ target: h.target, text: h.half });
    }
    return out;
  }

  get size(): number {
    return this.#held.size;
  }

  clear(): void {
    this.#held.clear();
  }
}

// ───────────────────────────── framing ─────────────────────────────

/** Room bytes of an `events` frame around its events (head, seq numbers, brackets). */
const FRAME_OVERHEAD = 128;

/**
 * Serializes events into `events` frames covering contiguous seq ranges, each at most `maxBytes`
 * UTF-8 bytes. An event that alone is over the cap still goes alone (the room shortens fields and
 * splits deltas before this, so none should be); `oversized` is told about it.
 */
export function eventFrames(
  events: readonly RoomEvent[],
  maxBytes: number,
  replay: boolean,
  oversized?: (bytes: number, e: RoomEvent) => void,
): string[] {
  const frames: string[] = [];
  let batch: string[] = [];
  let size = 0;
  let from = 0;
  let to = 0;
  const emit = () => {
    if (batch.length === 0) return;
    const head = replay ? `{"type":"events","replay":true` : `{"type":"events"`;
    frames.push(`${head},"from":${from},"to":${to},"events":[${batch.join(",")}]}`);
    batch = [];
    size = 0;
  };
  for (const e of events) {
    const s = JSON.stringify(e);
    const bytes = utf8Bytes(s) + 1;
    if (batch.length && size + bytes > maxBytes - FRAME_OVERHEAD) emit();
    if (bytes > maxBytes - FRAME_OVERHEAD) oversized?.(bytes, e);
    if (batch.length === 0) from = e.fromSeq ?? e.seq;
    batch.push(s);
    size += bytes;
    to = e.seq;
  }
  emit();
  return frames;
}
