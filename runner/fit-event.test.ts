import { describe, expect, it } from "vitest";
import { fitEvent } from "./fit-event.ts";
import { getPath, setPath, type Json } from "../shared/deep-fields.ts";
import { hasLoneSurrogate, utf8Bytes } from "../shared/delta.ts";
import type { MappedEvent } from "./event-map.ts";

const big = (n: number, seed: string) => {
  let s = "";
  for (let i = 0; s.length < n; i++) s += `${seed} ${i} 🧑🏽‍🚀 世界\n`;
  return s;
};

describe("fitEvent", () => {
  it("leaves an event that fits alone", () => {
    const e: MappedEvent = { eid: "oc:1", body: { type: "status", status: "busy" } };
    expect(fitEvent(e, 1_000)).toEqual([e]);
  });

  it("sends a 2 MB + 2 MB edit as the part with first pieces, then the rest as deltas on each string's path", () => {
    const oldString = big(2_000_000, "old");
    const newString = big(2_000_000, "new");
    const part = { id: "p", messageID: "m", type: "tool", callID: "c", tool: "edit", state: { status: "completed", input: { filePath: "/a.ts", oldString, newString }, output: "", title: "edit", metadata: {}, time: { start: 1, end: 2 } } };
    const max = 1_000_000;
    const out = fitEvent({ eid: "oc:7", body: { type: "part.upsert", part } }, max);
    for (const e of out) expect(utf8Bytes(JSON.stringify(e))).toBeLessThanOrEqual(max);
    expect(out[0]!.body.type).toBe("part.upsert");
    expect(out[0]!.eid).toBe("oc:7");
    // Every piece has its own id derived from the part's, and none ends inside a character.
    expect(new Set(out.map((e) => e.eid)).size).toBe(out.length);
    let whole = (out[0]!.body as { part: Json }).part;
    for (const e of out.slice(1)) {
      expect(e.body.type).toBe("part.delta");
      const d = e.body as { field: string; delta: string };
      expect(hasLoneSurrogate(d.delta)).toBe(false);
      whole = setPath(whole, d.field, String(getPath(whole, d.field)) + d.delta);
    }
    expect(whole).toEqual(part);
  });

  for (const [name, ch, n] of [["3-byte", "世", 80_000], ["4-byte", "😀", 60_000]] as const) {
    it(`measures the cap in UTF-8 bytes: a part of ${name} characters is split so each event fits`, () => {
      const output = ch.repeat(n);
      const part = { id: "p", messageID: "m", type: "tool", callID: "c", tool: "read", state: { status: "completed", input: {}, output, title: "read", metadata: {}, time: { start: 1, end: 2 } } };
      const max = 200_000;
      // In UTF-16 units the part fits (80k / 120k units), in bytes it does not (240 KB).
      const out = fitEvent({ eid: "oc:9", body: { type: "part.upsert", part } }, max);
      expect(out.length).toBeGreaterThan(1);
      for (const e of out) expect(utf8Bytes(JSON.stringify(e))).toBeLessThanOrEqual(max);
      let whole = (out[0]!.body as { part: Json }).part;
      for (const e of out.slice(1)) {
        const d = e.body as { field: string; delta: string };
        whole = setPath(whole, d.field, String(getPath(whole, d.field)) + d.delta);
      }
      expect(whole).toEqual(part);
    });
  }

  it("shortens any other event until it fits (a session diff with two versions of a large file)", () => {
    const body = { type: "diff.update" as const, diff: [{ file: "a.ts", before: big(2_000_000, "b"), after: big(2_000_000, "a"), additions: 1, deletions: 1 }] };
    const [e] = fitEvent({ body }, 1_000_000);
    expect(JSON.stringify(e).length).toBeLessThanOrEqual(1_000_000);
    const d = (e!.body as typeof body).diff[0]!;
    expect(body.diff[0]!.before.startsWith(d.before)).toBe(true);
    expect(d.file).toBe("a.ts");
  });
});
