import { describe, expect, it } from "vitest";
import { mkdtempSync, mkdirSync, symlinkSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveWorkspace, isInside } from "./workspace.ts";

describe("workspaces", () => {
  const base = mkdtempSync(join(tmpdir(), "ws-test-"));
  const root = join(base, "root");
  mkdirSync(root);
  const cfg = { roots: [root], workspacesDir: join(base, "workspaces") };

  it("gives a session without a directory a fresh git repository", () => {
    const r = resolveWorkspace(undefined, "abc123", cfg);
    expect(r).toMatchObject({ ok: true, directory: join(base, "workspaces", "abc123") });
    expect(existsSync(join(base, "workspaces", "abc123", ".git"))).toBe(true);
  });

  it("accepts a directory inside the root and refuses anything outside, with a clear reason", () => {
    expect(resolveWorkspace(join(root, "proj"), "s", cfg)).toMatchObject({ ok: true, directory: join(root, "proj") });
    const out = resolveWorkspace("/etc", "s", cfg);
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.error).toContain("outside");
    expect(resolveWorkspace(join(root, "..", "escape"), "s", cfg).ok).toBe(false);
    expect(resolveWorkspace("relative/path", "s", cfg).ok).toBe(false);
  });

  it("resolves symlinks before deciding", () => {
    symlinkSync("/etc", join(root, "sneaky"));
    expect(isInside(join(root, "sneaky"), root)).toBe(false);
    expect(resolveWorkspace(join(root, "sneaky", "x"), "s", cfg).ok).toBe(false);
  });

  it("refuses session ids that are not plain names", () => {
    expect(resolveWorkspace(undefined, "../x", cfg).ok).toBe(false);
  });
});
