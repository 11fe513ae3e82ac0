import { describe, expect, it } from "vitest";
import { offsetOf, seqOf } from "./http-stream.ts";

describe("HTTP stream offsets", () => {
  it("sort as text in the order of their seqs, and read back", () => {
    const seqs = [0, 1, 9, 10, 99, 100, 12_345, 2 ** 40];
    const offsets = seqs.map(offsetOf);
    expect([...offsets].sort()).toEqual(offsets);
    expect(offsets.map(seqOf)).toEqual(seqs);
  });

  it("anything else is not an offset", () => {
    for (const s of ["-1", "now", "", "1", "000000000000001x", "0000000000000001,", " 000000000000001", "99999999999999999"]) expect(seqOf(s)).toBeNull();
    expect(seqOf("9999999999999999")).toBeNull(); // past Number.MAX_SAFE_INTEGER
  });
});
