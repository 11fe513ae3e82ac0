/**
 * File names as git prints them. Unless `core.quotePath` is off, `git diff --name-only` (which
 * OpenCode's patch parts and session diffs come from) wraps a name holding `"`, `\`, a control
 * character or any non-ASCII byte in quotes with C escapes: `"a\"b.txt"`, `"caf\303\251.txt"`.
 * OpenCode joins that onto the worktree as is (`/w/"caf\303\251.txt"`); this gives the name back.
 */

const SIMPLE: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, "\\": 92 };

/** `path` with a git-quoted tail (`dir/"quoted name"`) unquoted; any other path unchanged. */
export function unquoteGitPath(path: string): string {
  const m = /^(.*?\/)?"((?:[^"\\]|\\.)*)"$/s.exec(path);
  if (!m) return path;
  const body = m[2]!;
  const bytes: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== "\\") {
      const cp = body.codePointAt(i)!;
      if (cp > 0xffff) i++;
      bytes.push(...enc.encode(String.fromCodePoint(cp)));
      continue;
    }
    const n = body[++i]!;
    if (n >= "0" && n <= "7") {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      bytes.push(parseInt(oct, 8) & 0xff);
      i += oct.length - 1;
    } else bytes.push(SIMPLE[n] ?? n.charCodeAt(0));
  }
  return (m[1] ?? "") + new TextDecoder().decode(new Uint8Array(bytes));
}
