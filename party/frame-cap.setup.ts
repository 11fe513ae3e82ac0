/**
 * Every workerd test file: after its tests, no frame any test client received may be over the
 * outgoing cap, and the largest one is printed (`[frames]` lines: the suite's largest frame is
 * the largest of them).
 */
import { afterAll, expect } from "vitest";
import { DEFAULT_LIMITS } from "../shared/limits.ts";
import { largestFrame } from "./test-helpers.ts";

afterAll(() => {
  if (largestFrame.bytes === 0) return;
  console.log(`[frames] largest: ${largestFrame.bytes} bytes (${largestFrame.type}) in "${largestFrame.test}"`);
  expect(largestFrame.bytes, `a ${largestFrame.type} frame in "${largestFrame.test}"`).toBeLessThanOrEqual(DEFAULT_LIMITS.maxOutgoingFrameBytes);
});
