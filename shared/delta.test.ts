/** Character-safe cuts, splits, merges and frames: the one delta module. */
import { describe, expect, it } from "vitest";
import type { RoomEvent } from "./protocol.ts";
import {
  DeltaMerger,
  SurrogateHold,
  charCut,
  codePointCut,
  eventFrames,
  hasLoneSurrogate,
  jsonTextBytes,
  mergeDeltas,
  preview,
  splitText,
  splitToBytes,
  utf8Bytes,
} from "./delta.ts";

/** Texts whose characters span several UTF-16 units: every cut position inside them is tried. */
const TRICKY = {
  surrogatePairs: "a😀b🧑c𝔘d",
  zwj: "x👩‍👩‍👧‍👦y👨‍💻z",
  skinTones: "👋🏽 👍🏿🧑🏽",
  combining: "e\u0301 n\u0303 a\u0308\u0323 Z\u0351\u0362",
  flags: "🇫🇷🇯🇵",
  mixed: "héllo 世界 🧑🏽‍🚀 e\u0301 end",
};

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });
const graphemeStarts = (s: string) => new Set([...segmenter.segment(s)].map((g) => g.index).concat(s.length));

describe("character-safe cuts", () => {
  for (const [name, text] of Object.entries(TRICKY)) {
    it(`${name}: every cut lands on a grapheme boundary and never leaves a lone surrogate`, () => {
      const starts = graphemeStarts(text);
      for (let i = 0; i <= text.length; i++) {
        const c = charCut(text, i);
        expect(c).toBeLessThanOrEqual(i);
        expect(starts.has(c) || c === codePointCut(text, i)).toBe(true);
        expect(hasLoneSurrogate(text.slice(0, c))).toBe(false);
        expect(hasLoneSurrogate(text.slice(c))).toBe(false);
        const p = preview(text, i);
        expect(text.startsWith(p)).toBe(true);
        expect(hasLoneSurrogate(p)).toBe(false);
        expect(starts.has(p.length)).toBe(true);
      }
    });

    it(`${name}: split at every size joins back whole, each piece whole characters`, () => {
      for (let size = 2; size <= text.length + 1; size++) {
        const pieces = splitText(text, size);
        expect(pieces.join("")).toBe(text);
        for (const p of pieces) {
          expect(p.length).toBeLessThanOrEqual(Math.max(size, 2));
          expect(hasLoneSurrogate(p)).toBe(false);
        }
      }
    });
  }

  it("a grapheme longer than the window is cut at a code point, still whole surrogate pairs", () => {
    const zalgo = "Z" + "\u0351".repeat(300) + "😀".repeat(50);
    for (const size of [7, 64, 100, 333]) {
      const pieces = splitText(zalgo, size);
      expect(pieces.join("")).toBe(zalgo);
      for (const p of pieces) expect(hasLoneSurrogate(p)).toBe(false);
    }
  });

  it("splitToBytes keeps each piece's JSON under the byte cap (multi-byte and escaped text)", () => {
    const text = "😀\u0000世".repeat(20_000);
    const pieces = splitToBytes(text, 50_000, 30_000);
    expect(pieces.join("")).toBe(text);
    for (const p of pieces) {
      expect(utf8Bytes(JSON.stringify(p))).toBeLessThanOrEqual(30_002);
      expect(hasLoneSurrogate(p)).toBe(false);
    }
  });

  it("utf8Bytes agrees with TextEncoder", () => {
    for (const s of Object.values(TRICKY)) expect(utf8Bytes(s)).toBe(new TextEncoder().encode(s).length);
    expect(jsonTextBytes("x".repeat(5000))).toBe(5000);
  });
});

const ev = (seq: number, delta: string, partID = "p"): RoomEvent => ({ type: "part.delta", messageID: "m", partID, field: "text", delta, seq, ts: seq });

describe("merging and framing", () => {
  it("merges runs to one target and stops a run before its text passes the byte budget", () => {
    const events = [ev(1, "a"), ev(2, "b"), ev(3, "c", "q"), ev(4, "d"), ev(5, "e")];
    expect(mergeDeltas(events).map((e) => (e.type === "part.delta" ? [e.delta, e.fromSeq, e.seq] : e.type))).toEqual([
      ["ab", 1, 2],
      ["c", undefined, 3],
      ["de", 4, 5],
    ]);
    // 6 bytes per unit is the bound for short texts: a budget of 12 holds two 1-char deltas.
    const tight = mergeDeltas([ev(1, "a"), ev(2, "b"), ev(3, "c")], 12);
    expect(tight.map((e) => (e as { delta: string }).delta)).toEqual(["ab", "c"]);
  });

  it("the merger fed one event at a time equals mergeDeltas", () => {
    const events = Array.from({ length: 40 }, (_, i) => ev(i + 1, "😀".repeat(i % 5), i % 7 === 0 ? "q" : "p"));
    const m = new DeltaMerger(200);
    for (const e of events) m.add(e);
    expect(m.done()).toEqual(mergeDeltas(events, 200));
  });

  it("frames stay under the cap in UTF-8 bytes, not UTF-16 units", () => {
    const events = Array.from({ length: 60 }, (_, i) => ev(i + 1, "世".repeat(300)));
    const frames = eventFrames(events, 4_000, false);
    for (const f of frames) expect(utf8Bytes(f)).toBeLessThanOrEqual(4_000);
    expect(frames.flatMap((f) => (JSON.parse(f) as { events: RoomEvent[] }).events.map((e) => e.seq))).toEqual(events.map((e) => e.seq));
  });

  it("an event over the cap alone is reported", () => {
    const seen: number[] = [];
    eventFrames([ev(1, "x".repeat(5_000))], 1_000, false, (_b, e) => seen.push(e.seq));
    expect(seen).toEqual([1]);
  });
});

describe("SurrogateHold", () => {
  const t = { messageID: "m", partID: "p", field: "text" };
  it("holds a trailing high surrogate until its low half arrives", () => {
    const h = new SurrogateHold();
    const emoji = "🧑🏽";
    expect(h.take(t, "hi " + emoji[0])).toBe("hi ");
    expect(h.take(t, emoji.slice(1, 3))).toBe(emoji.slice(0, 2)); // 🧑 whole; the tone's high half held
    expect(h.take(t, emoji[3]! + "!")).toBe(emoji.slice(2) + "!");
    expect(h.size).toBe(0);
  });

  it("a delta that is only a high half sends nothing yet; release lets a lone half go at part end", () => {
    const h = new SurrogateHold();
    expect(h.take(t, "\ud83e")).toBe("");
    expect(h.take({ ...t, partID: "other" }, "x")).toBe("x");
    expect(h.release((x) => x.partID === "p")).toEqual([{ target: t, text: "\ud83e" }]);
    expect(h.size).toBe(0);
  });
});
