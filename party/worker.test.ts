import { describe, expect, it } from "vitest";
import { api, connectRaw, createSession, operator, token, runner } from "./test-helpers.ts";

describe("worker: health and routing", () => {
  it("answers /health", async () => {
    const res = await api("/health");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { version: string };
    expect(body.version).toBeTruthy();
  });
});
