import { describe, expect, it } from "vitest";
import { unquoteGitPath } from "./git-path.ts";

describe("unquoteGitPath", () => {
  it("gives back names git quoted (as `git diff --name-only` prints them, joined onto a worktree)", () => {
    expect(unquoteGitPath('/w/"a\\"b.txt"')).toBe('/w/a"b.txt');
    expect(unquoteGitPath('/w/"back\\\\slash.txt"')).toBe("/w/back\\slash.txt");
    expect(unquoteGitPath('/w/"caf\\303\\251.txt"')).toBe("/w/café.txt");
    expect(unquoteGitPath('/w/"tab\\tx.txt"')).toBe("/w/tab\tx.txt");
    expect(unquoteGitPath('"dir/\\360\\237\\230\\200 \\"q\\".md"')).toBe('dir/😀 "q".md');
  });

  it("leaves names git did not quote alone", () => {
    for (const p of ["/w/it's.txt", "/w/plain.ts", 'say "hi".txt', "/w/\"open.txt", "/w/end\""]) expect(unquoteGitPath(p)).toBe(p);
  });
});
