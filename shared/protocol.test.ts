import { describe, expect, it } from "vitest";
import { CreateSessionBodySchema, isRepositoryUrl } from "./protocol.ts";

describe("repository URLs", () => {
  it("accepts git's network transports, file URLs and the scp-like form", () => {
    for (const ok of [
      "https://github.com/owner/repo.git",
      "http://git.internal:8080/team/repo",
      "ssh://git@github.com/owner/repo.git",
      "git://example.org/repo.git",
      "file:///srv/git/repo.git",
      "git@github.com:owner/repo.git",
    ]) {
      expect(isRepositoryUrl(ok), ok).toBe(true);
    }
  });

  it("refuses other transports, option-like strings, paths and whitespace", () => {
    for (const bad of ["ext::sh -c id", "ext::id", "-uhack", "--upload-pack=id", "/srv/git/repo", "C:repo", "ftp://h/r", "https://", "file:///", "git@host: x", "https://h/r\n.git", ""]) {
      expect(isRepositoryUrl(bad), bad).toBe(false);
    }
  });

  it("a session is made from a directory or a repository, not both, and never with a password in the URL", () => {
    expect(CreateSessionBodySchema.safeParse({ repository: "https://github.com/o/r.git" }).success).toBe(true);
    const both = CreateSessionBodySchema.safeParse({ repository: "https://github.com/o/r.git", directory: "/srv/x" });
    expect(both.success).toBe(false);
    expect(both.error?.issues[0]?.message).toContain("not both");
    const secret = CreateSessionBodySchema.safeParse({ repository: "https://me:ghp_token@github.com/o/r.git" });
    expect(secret.success).toBe(false);
    expect(secret.error?.issues[0]?.message).toContain("no password");
    // A user name alone (ssh's git@, or a token-less https user) is not a secret.
    expect(CreateSessionBodySchema.safeParse({ repository: "ssh://git@github.com/o/r.git" }).success).toBe(true);
  });
});
