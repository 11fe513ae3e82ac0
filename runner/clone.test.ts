import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { cloneRepository } from "./clone.ts";

const git = (cwd: string, ...args: string[]): string =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd, encoding: "utf8" }).trim();

/** A bare repository with one commit holding README.md, at `dir`. */
function originAt(dir: string, readme: string): string {
  const src = mkdtempSync(join(tmpdir(), "clone-src-"));
  git(src, "init", "-q");
  writeFileSync(join(src, "README.md"), readme);
  git(src, "add", "README.md");
  git(src, "commit", "-q", "-m", "first");
  git(src, "clone", "-q", "--bare", src, dir);
  return pathToFileURL(dir).href;
}

describe("cloning a workspace", () => {
  const base = mkdtempSync(join(tmpdir(), "clone-test-"));
  const root = join(base, "root");
  mkdirSync(root);
  const cfg = { roots: [root], workspacesDir: join(base, "workspaces") };

  it("clones a repository into the session's workspace, once", async () => {
    const url = originAt(join(root, "origin.git"), "cloned readme\n");
    const r = await cloneRepository(url, "sess1", cfg);
    expect(r).toEqual({ ok: true, directory: join(cfg.workspacesDir, "sess1"), created: true });
    expect(readFileSync(join(cfg.workspacesDir, "sess1", "README.md"), "utf8")).toBe("cloned readme\n");
    expect(git(join(cfg.workspacesDir, "sess1"), "remote", "get-url", "origin")).toBe(url);
    // A second attempt (a restarted runner) finds the finished clone and keeps what the agent did.
    writeFileSync(join(cfg.workspacesDir, "sess1", "work.txt"), "agent's work");
    expect(await cloneRepository(url, "sess1", cfg)).toEqual({ ok: true, directory: join(cfg.workspacesDir, "sess1"), created: false });
    expect(readFileSync(join(cfg.workspacesDir, "sess1", "work.txt"), "utf8")).toBe("agent's work");
  });

  it("reports git's own reason when the clone fails, and leaves no partial directory", async () => {
    const r = await cloneRepository(pathToFileURL(join(root, "missing.git")).href, "sess2", cfg);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.cloneFailed).toBe(true);
    expect(r.error).toMatch(/git clone .*missing\.git failed: .*(does not exist|not appear to be a git repository)/s);
    expect(readdirSync(cfg.workspacesDir).filter((n) => n.startsWith("sess2"))).toEqual([]);
  });

  it("refuses a local repository outside the runner's roots without running git", async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "clone-elsewhere-"));
    const url = originAt(join(elsewhere, "secret.git"), "not yours\n");
    const r = await cloneRepository(url, "sess3", cfg);
    expect(r).toMatchObject({ ok: false, error: expect.stringContaining("outside the directories this runner may use") });
    expect(r.ok === false && r.cloneFailed).toBeFalsy();
    expect(existsSync(join(cfg.workspacesDir, "sess3"))).toBe(false);
  });

  it("refuses transports and names it does not allow", async () => {
    for (const url of ["ext::sh -c touch% /tmp/pwned", "ext::true", "-uhack", "/plain/path", "ftp://example.com/r.git"]) {
      const r = await cloneRepository(url, "sess4", cfg);
      expect(r, url).toMatchObject({ ok: false, error: expect.stringContaining("not a git URL") });
    }
    expect((await cloneRepository(originAt(join(root, "o2.git"), "x"), "../escape", cfg)).ok).toBe(false);
  });

  it("two attempts at once (a lease granted again mid-clone) end with one clone, both told where", async () => {
    const url = originAt(join(root, "o4.git"), "raced\n");
    const [a, b] = await Promise.all([cloneRepository(url, "sess6", cfg), cloneRepository(url, "sess6", cfg)]);
    expect([a, b].map((r) => r.ok && r.directory)).toEqual([join(cfg.workspacesDir, "sess6"), join(cfg.workspacesDir, "sess6")]);
    expect([a, b].map((r) => r.ok && r.created).sort()).toEqual([false, true]);
    expect(readFileSync(join(cfg.workspacesDir, "sess6", "README.md"), "utf8")).toBe("raced\n");
    expect(readdirSync(cfg.workspacesDir).filter((n) => n.startsWith("sess6"))).toEqual(["sess6"]);
  });

  it("does not clone over a directory that holds something else", async () => {
    const url = originAt(join(root, "o3.git"), "x");
    mkdirSync(join(cfg.workspacesDir, "sess5"), { recursive: true });
    writeFileSync(join(cfg.workspacesDir, "sess5", "keep.txt"), "mine");
    const r = await cloneRepository(url, "sess5", cfg);
    expect(r).toMatchObject({ ok: false, error: expect.stringContaining("exists and is not a clone") });
    expect(readFileSync(join(cfg.workspacesDir, "sess5", "keep.txt"), "utf8")).toBe("mine");
  });
});
