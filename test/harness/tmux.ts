/**
 * A real terminal for tests: tmux on a private socket, a shell in a pane of a fixed size, keys
 * sent with send-keys, the screen read with capture-pane. `stop()` kills the tmux server and
 * everything in its panes.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";

const TMUX = "/usr/bin/tmux";

export class Tmux {
  readonly socket = `agentroom-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  private tmux(...args: string[]): string {
    // stderr is kept in the thrown error, not printed ("no server running" after stop is expected).
    return execFileSync(TMUX, ["-L", this.socket, "-f", "/dev/null", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  /** A new session running a plain shell in `cwd`, with `env` added to its environment. */
  open(name: string, o: { cwd: string; env?: Record<string, string>; width?: number; height?: number }): void {
    const env = Object.entries(o.env ?? {}).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    this.tmux("new-session", "-d", "-s", name, "-x", String(o.width ?? 120), "-y", String(o.height ?? 40), "-c", o.cwd, ...env, "env PS1='$ ' bash --norc --noprofile");
  }

  /** Types text literally (no key names). */
  type(name: string, text: string): void {
    this.tmux("send-keys", "-t", name, "-l", text);
  }

  /** Sends key names: "Enter", "C-c", "y". */
  keys(name: string, ...keys: string[]): void {
    this.tmux("send-keys", "-t", name, ...keys);
  }

  /** The pane as text; `history` adds the scrollback; `ansi` keeps colours. */
  capture(name: string, o: { history?: boolean; ansi?: boolean } = {}): string {
    return this.tmux("capture-pane", "-p", "-t", name, ...(o.history ? ["-S", "-"] : []), ...(o.ansi ? ["-e"] : []));
  }

  /** Waits until the pane (with its scrollback) shows `what`. */
  async waitFor(name: string, what: string | RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.capture(name, { history: true });
      if (typeof what === "string" ? text.includes(what) : what.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${String(what)} in tmux pane ${name}:\n${text.trimEnd().split("\n").slice(-40).join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Kills the server and everything in its panes, and removes its socket file (tmux leaves it). */
  stop(): void {
    let socketPath = "";
    try {
      socketPath = this.tmux("display-message", "-p", "#{socket_path}").trim();
      this.tmux("kill-server");
    } catch {
      // no server (never opened, or already gone)
    }
    if (socketPath) rmSync(socketPath, { force: true });
  }
}

/** Processes whose command line contains `marker` (from /proc), other than this one. */
export function processesWith(marker: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      if (cmd.includes(marker)) out.push({ pid: Number(d), cmd });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const COLOURS = ["#1e1e1e", "#f14c4c", "#23d18b", "#e5e510", "#3b8eea", "#d670d6", "#29b8db", "#e5e5e5"];
const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * A capture with colours (`capture(name, {ansi: true})`) as an HTML page that looks like the
 * terminal: for a PNG of the screen (SGR colours, bold, dim, italic and inverse; nothing else).
 */
export function terminalHtml(ansi: string, o: { columns: number; title?: string }): string {
  let fg: string | undefined;
  let bold = false;
  let dim = false;
  let italic = false;
  let inverse = false;
  let html = "";
  for (const piece of ansi.split(/(\x1b\[[0-9;]*m)/)) {
    const m = piece.match(/^\x1b\[([0-9;]*)m$/);
    if (!m) {
      if (!piece) continue;
      const style = [
        inverse ? `background:${fg ?? "#d4d4d4"};color:#1e1e1e` : fg ? `color:${fg}` : "",
        bold ? "font-weight:bold" : "",
        dim ? "opacity:.6" : "",
        italic ? "font-style:italic" : "",
      ].filter(Boolean).join(";");
      html += style ? `<span style="${style}">${escapeHtml(piece)}</span>` : escapeHtml(piece);
      continue;
    }
    const codes = (m[1] || "0").split(";").map(Number);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i]!;
      if (c === 0) [fg, bold, dim, italic, inverse] = [undefined, false, false, false, false];
      else if (c === 1) bold = true;
      else if (c === 2) dim = true;
      else if (c === 3) italic = true;
      else if (c === 7) inverse = true;
      else if (c === 22) bold = dim = false;
      else if (c === 23) italic = false;
      else if (c === 27) inverse = false;
      else if (c >= 30 && c <= 37) fg = COLOURS[c - 30];
      else if (c >= 90 && c <= 97) fg = COLOURS[c - 90];
      else if (c === 39) fg = undefined;
      else if (c === 38 && codes[i + 1] === 5) i += 2;
    }
  }
  return `<!doctype html><meta charset="utf-8"><title>${escapeHtml(o.title ?? "terminal")}</title>
<body style="margin:0;background:#1e1e1e"><pre style="margin:0;padding:14px 16px;color:#d4d4d4;font:14px/1.35 'DejaVu Sans Mono',monospace;width:${o.columns}ch">${html}</pre></body>`;
}
