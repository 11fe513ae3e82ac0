/**
 * A session's workspace cloned from a git URL (`repository` at creation), where the runner has
 * network. The clone lands in the runner's workspaces dir under the session's id, like a fresh
 * repository would, so the containment rules of workspace.ts hold for it too.
 *
 * - Only the transports `isRepositoryUrl` allows; git itself is told the same
 *   (`GIT_ALLOW_PROTOCOL`), so a redirect or a submodule cannot reach `ext::` or another one.
 * - `file://` only inside the runner's workspace roots: a local clone reads the disk, and a
 *   session's creator must not read a repository the runner was not given.
 * - Never interactive: no terminal prompt, ssh in batch mode. A private repository needs the
 *   runner's own git credentials (a credential helper, an ssh key).
 * - Into a temporary directory renamed into place when complete, so a clone cut short (timeout,
 *   runner killed) is never mistaken for a workspace; the next attempt starts over.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, rmdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isRepositoryUrl } from "../shared/protocol.ts";
import { isInside, SAFE_ID, type WorkspaceConfig, type WorkspaceResult } from "./workspace.ts";

/** Long enough for a large repository on a slow link; a hung server does not hold a room forever. */
export const CLONE_TIMEOUT_MS = 10 * 60_000;
/** git's error output kept for the message people read (its last lines say what went wrong). */
const ERROR_TAIL_CHARS = 600;
const ALLOWED_PROTOCOLS = "https:http:ssh:git:file";

export interface CloneOptions {
  timeoutMs?: number;
}

/** Clones `url` for `sessionId`, or finds the clone a previous attempt completed. */
export async function cloneRepository(url: string, sessionId: string, cfg: WorkspaceConfig, opts: CloneOptions = {}): Promise<WorkspaceResult> {
  if (!isRepositoryUrl(url)) return { ok: false, error: `repository "${url}" is not a git URL this runner clones (https, ssh, git, file or user@host:path)` };
  if (!SAFE_ID.test(sessionId)) return { ok: false, error: `invalid session id for a workspace: ${JSON.stringify(sessionId)}` };
  if (url.startsWith("file:")) {
    const path = fileURLToPath(url);
    const roots = [...cfg.roots, cfg.workspacesDir];
    if (!roots.some((r) => isInside(path, r))) {
      return { ok: false, error: `repository "${url}" is outside the directories this runner may use (${roots.join(", ")}); set WORKSPACE_ROOT to allow it` };
    }
  }
  const dir = join(resolve(cfg.workspacesDir), sessionId);
  if (existsSync(join(dir, ".git"))) return { ok: true, directory: dir, created: false };
  if (existsSync(dir)) {
    // Something other than a finished clone is there (an empty dir from an older runner): a clone
    // never writes into it, and anything in it is not ours to delete.
    if (readdirSync(dir).length > 0) return { ok: false, error: `workspace ${dir} exists and is not a clone of ${url}` };
    rmdirSync(dir);
  }
  mkdirSync(resolve(cfg.workspacesDir), { recursive: true });
  // A fresh empty directory per attempt (git clones into an empty one), unique even for two
  // attempts in the same millisecond.
  const partial = mkdtempSync(`${dir}.cloning-`);
  const failed = await git(["clone", "--quiet", "--", url, partial], opts.timeoutMs ?? CLONE_TIMEOUT_MS);
  if (failed) {
    rmSync(partial, { recursive: true, force: true });
    return { ok: false, error: `git clone ${url} failed: ${failed}`, cloneFailed: true };
  }
  try {
    renameSync(partial, dir);
  } catch (e) {
    // Another attempt for the same session (a reconnect re-granted the lease mid-clone) finished
    // first: its clone is the workspace.
    rmSync(partial, { recursive: true, force: true });
    if (existsSync(join(dir, ".git"))) return { ok: true, directory: dir, created: false };
    throw e;
  }
  return { ok: true, directory: dir, created: true };
}

/** Runs git non-interactively; resolves to undefined on success or to what went wrong. */
function git(args: string[], timeoutMs: number): Promise<string | undefined> {
  const env = {
    ...process.env,
    GIT_TERMINAL_PROMPT: "0",
    GIT_ALLOW_PROTOCOL: ALLOWED_PROTOCOLS,
    GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? "ssh -o BatchMode=yes",
  };
  return new Promise((done) => {
    execFile("git", args, { env, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (!err) return done(undefined);
      const timedOut = (err as { killed?: boolean }).killed === true;
      const said = String(stderr).trim().slice(-ERROR_TAIL_CHARS);
      done(timedOut ? `no answer in ${Math.round(timeoutMs / 1000)} s` : said || err.message);
    });
  });
}
