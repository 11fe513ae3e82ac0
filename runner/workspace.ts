/**
 * Where a session's agent works. A directory given at creation must lie inside one of the allowed
 * roots (WORKSPACE_ROOT, plus the runner's own workspaces dir); anything else is refused with a
 * message people can act on. Without one, the session gets a fresh git repository of its own.
 *
 * Containment is checked on real paths (symlinks resolved), so `root/link -> /etc` is refused.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

export interface WorkspaceConfig {
  /** Roots a requested directory may lie in (absolute). */
  roots: string[];
  /** Where fresh per-session repositories are made (also an allowed root). */
  workspacesDir: string;
}

export type WorkspaceResult =
  | { ok: true; directory: string; created: boolean }
  /** `cloneFailed`: git ran and failed (the URL was acceptable); otherwise the request was refused. */
  | { ok: false; error: string; cloneFailed?: true };

/** The real path of `p`, resolving symlinks of its nearest existing ancestor. */
function realish(p: string): string {
  let cur = resolve(p);
  const rest: string[] = [];
  while (!existsSync(cur)) {
    const parent = dirname(cur);
    if (parent === cur) break;
    rest.unshift(cur.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
    cur = parent;
  }
  return join(realpathSync(cur), ...rest);
}

export function isInside(child: string, root: string): boolean {
  const rel = relative(realish(root), realish(child));
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** Session ids come from the Worker (`[A-Za-z0-9_-]`); anything else never becomes a path. */
export const SAFE_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function freshRepository(workspacesDir: string, sessionId: string): WorkspaceResult {
  if (!SAFE_ID.test(sessionId)) return { ok: false, error: `invalid session id for a workspace: ${JSON.stringify(sessionId)}` };
  const dir = join(resolve(workspacesDir), sessionId);
  const created = !existsSync(join(dir, ".git"));
  mkdirSync(dir, { recursive: true });
  if (created) {
    try {
      execFileSync("git", ["init", "-q"], { cwd: dir, stdio: "ignore" });
    } catch (e) {
      return { ok: false, error: `could not create a git repository in ${dir}: ${String(e)}` };
    }
  }
  return { ok: true, directory: dir, created };
}

export function resolveWorkspace(requested: string | undefined, sessionId: string, cfg: WorkspaceConfig): WorkspaceResult {
  if (requested === undefined || requested.trim() === "") return freshRepository(cfg.workspacesDir, sessionId);
  if (!isAbsolute(requested)) {
    return { ok: false, error: `workspace "${requested}" must be an absolute path inside ${describeRoots(cfg)}` };
  }
  const roots = [...cfg.roots, cfg.workspacesDir];
  const root = roots.find((r) => isInside(requested, r));
  if (!root) {
    return {
      ok: false,
      error: `workspace "${requested}" is outside the directories this runner may use (${describeRoots(cfg)}); set WORKSPACE_ROOT to allow it`,
    };
  }
  const dir = realish(requested);
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  return { ok: true, directory: dir, created };
}

function describeRoots(cfg: WorkspaceConfig): string {
  return [...cfg.roots, cfg.workspacesDir].join(", ");
}
