/**
 * The fuzz generators themselves: seeded (same seed, same frames), varied (every kind comes out),
 * and honest (no frame they produce is valid and allowed for its role, every code they expect is a
 * protocol code, every bad token fails verification). A generator that quietly produced valid
 * frames would make the room's fuzz tests prove nothing.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, type Limits } from "../shared/limits.ts";
import { AgentFrameSchema, ClientFrameSchema, ErrorCodeSchema } from "../shared/protocol.ts";
import { signToken, verifyToken } from "../shared/token.ts";
import fc from "fast-check";
import { badTokens, expectedAnswer, fuzzFrameArb, fuzzFrames, validAgentFrame, createRng, type FuzzFrame, type FuzzRole } from "./harness/fuzz.ts";

const limits: Limits = { ...DEFAULT_LIMITS, maxAgentFrameBytes: 512 * 1024 };

function take(role: FuzzRole, count: number, seed: number, extra: Partial<Parameters<typeof fuzzFrames>[1]> = {}): FuzzFrame[] {
  return [...fuzzFrames(count, { seed, role, limits, ...extra })];
}

describe("fuzz frame generators", () => {
  it("are deterministic for a seed and differ across seeds", () => {
    const a = take("viewer", 300, 7).map((f) => f.data);
    const b = take("viewer", 300, 7).map((f) => f.data);
    const c = take("viewer", 300, 8).map((f) => f.data);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it("make ≥ 10,000 frames over the roles, every kind of each role, none valid and allowed", () => {
    const applied = Array.from({ length: 5 }, () => validAgentFrame(createRng(3))).filter(
      (f): f is Extract<typeof f, { type: "agent.batch" }> => f.type === "agent.batch",
    );
    const batches = applied.length ? applied : [{ type: "agent.batch" as const, batchId: "b1", events: [{ body: { type: "status" as const, status: "busy" as const } }] }];
    const frames = [
      ...take("viewer", 4000, 11),
      ...take("driver", 4000, 12),
      ...take("agent", 2500, 13, { appliedBatches: batches }),
    ];
    expect(frames.length).toBeGreaterThanOrEqual(10_000);
    const kinds = (role: FuzzRole) => new Set(frames.filter((f) => f.role === role).map((f) => f.kind));
    expect([...kinds("viewer")].sort()).toEqual(
      ["bad_json", "binary", "deep_nesting", "huge_string", "missing_field", "not_an_object", "oversized", "prompt_too_large", "unknown_type", "wrong_role", "wrong_type"].sort(),
    );
    expect(kinds("driver").has("unknown_target")).toBe(true);
    expect(kinds("agent").has("replayed_batch")).toBe(true);

    for (const f of frames) {
      if ("duplicateAck" in f.expect) {
        expect(f.role).toBe("agent");
        continue;
      }
      expect(f.expect.error.length).toBeGreaterThan(0);
      for (const code of f.expect.error) expect(ErrorCodeSchema.safeParse(code).success).toBe(true);
      if (f.kind === "unknown_target") continue; // valid by schema, refused because the id names nothing
      // Re-check independently: a frame the schemas accept must be one the role may not send.
      const cap = f.role === "agent" ? limits.maxAgentFrameBytes : limits.maxClientFrameBytes;
      if (typeof f.data === "string" && Buffer.byteLength(f.data) <= cap) {
        let json: unknown;
        try {
          json = JSON.parse(f.data);
        } catch {
          continue;
        }
        const okAgent = AgentFrameSchema.safeParse(json).success;
        const client = ClientFrameSchema.safeParse(json);
        if (f.role === "agent") expect(okAgent || client.success).toBe(false);
        if (f.role === "driver" && client.success) {
          expect(client.data.type).toBe("prompt");
          expect(f.expect.error).toEqual(["prompt_too_large"]);
        }
        if (f.role === "viewer" && client.success) expect(["history", "resync", "typing"]).not.toContain(client.data.type);
      }
    }
  });

  it("the oracle refuses what the protocol refuses and lets through what it allows", () => {
    expect(expectedAnswer("viewer", JSON.stringify({ type: "resync" }), limits)).toBeNull();
    expect(expectedAnswer("viewer", JSON.stringify({ type: "stop" }), limits)).toEqual(["forbidden"]);
    expect(expectedAnswer("driver", JSON.stringify({ type: "stop" }), limits)).toBeNull();
    expect(expectedAnswer("driver", "{", limits)).toEqual(["bad_json"]);
    expect(expectedAnswer("driver", new Uint8Array([123, 125]), limits)).toEqual(["bad_json"]);
    expect(expectedAnswer("driver", JSON.stringify({ type: "agent.heartbeat", runnerId: "r" }), limits)).toContain("forbidden");
    expect(expectedAnswer("driver", JSON.stringify({ type: "prompt", id: "a", text: "x".repeat(limits.maxPromptChars + 1) }), limits)).toEqual([
      "prompt_too_large",
    ]);
    expect(expectedAnswer("viewer", "x".repeat(limits.maxClientFrameBytes + 1), limits)).toContain("frame_too_large");
  });
});

describe("fuzz frames on fast-check", () => {
  it("shrink: a failing property is reported after shrinking, with a frame that still fails, the same for the same seed", () => {
    const size = (f: FuzzFrame) => (typeof f.data === "string" ? Buffer.byteLength(f.data) : f.data.length);
    const run = () =>
      fc.check(
        fc.property(fuzzFrameArb({ role: "driver", limits }), (f) => size(f) < 10_000),
        { seed: 42, numRuns: 2_000 },
      );
    const out = run();
    expect(out.failed).toBe(true);
    expect(out.numShrinks).toBeGreaterThan(0);
    const [shrunk] = out.counterexample!;
    expect(size(shrunk)).toBeGreaterThanOrEqual(10_000);
    // Still a bad frame the oracle has an answer for.
    expect("error" in shrunk.expect || "duplicateAck" in shrunk.expect).toBe(true);
    expect(run().counterexample).toEqual(out.counterexample);
  });
});

describe("bad tokens", () => {
  it("every one fails verification for the session", async () => {
    const secret = "s".repeat(32);
    const tokens = await badTokens({ seed: 5, secret, sessionId: "sess1", otherSessionId: "sess2" });
    expect(tokens.length).toBeGreaterThanOrEqual(20);
    for (const t of tokens) {
      const r = await verifyToken(secret, t.token, "sess1");
      expect(r.ok, t.kind).toBe(false);
    }
    // The base they tamper with is valid, so the tampering is what fails them.
    expect((await verifyToken(secret, await signToken(secret, { sid: "sess1", role: "viewer", name: "v", ttlSeconds: 60 }), "sess1")).ok).toBe(true);
  });
});
