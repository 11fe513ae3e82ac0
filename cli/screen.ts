/**
 * The terminal as the watcher draws it. Final blocks go into the scrollback once, in order, and
 * are never redrawn (the terminal keeps the whole run, scrollable and copyable); below them a live
 * region (the part still streaming, open requests, the status and input lines) is redrawn in
 * place, clipped to the screen's height so the cursor can always get back to its top. Without a
 * terminal (a pipe, a CI log) only final blocks are written, each once.
 */
import type { Block } from "./render.ts";
import { clipTo, displayWidth, stripAnsi } from "./text.ts";

export class Screen {
  private readonly printed = new Set<string>();
  /** Lines of the live region on screen now; the cursor is on its last line. */
  private liveHeight = 0;
  private cursorCol: number | undefined;

  private readonly out: NodeJS.WriteStream;

  constructor(out: NodeJS.WriteStream) {
    this.out = out;
  }

  get tty(): boolean {
    return this.out.isTTY === true;
  }

  get columns(): number {
    return this.out.columns || 100;
  }

  get rows(): number {
    return this.out.rows || 40;
  }

  /**
   * Prints the final blocks not printed yet (a prefix: a final block after an unfinished one
   * waits for it, to keep the order) and redraws the live region: the rest, then `footer`.
   * `cursorCol` puts the cursor on the footer's last line at that column (the input line).
   */
  draw(blocks: readonly Block[], footer: readonly string[], cursorCol?: number): void {
    const staticLines: string[] = [];
    const live: string[] = [];
    let open = false;
    for (const b of blocks) {
      if (this.printed.has(b.key)) continue;
      if (!open && b.final) {
        staticLines.push(...b.lines);
        this.printed.add(b.key);
      } else {
        open = true;
        live.push(...b.lines);
      }
    }
    if (!this.tty) {
      if (staticLines.length) this.out.write(staticLines.join("\n") + "\n");
      return;
    }
    const max = Math.max(1, this.rows - 1);
    const width = this.columns - 1;
    const region = [...live, ...footer].slice(-max).map((l) => (displayWidth(stripAnsi(l)) > width ? clipTo(stripAnsi(l), width) : l));
    let s = this.clearLive();
    if (staticLines.length) s += staticLines.join("\n") + "\n";
    s += region.join("\n");
    this.liveHeight = region.length;
    this.cursorCol = cursorCol;
    if (cursorCol !== undefined) s += `\r${cursorCol > 0 ? `\x1b[${cursorCol}C` : ""}`;
    this.out.write(s);
  }

  /** Removes the live region (e.g. before exiting), leaving the cursor at its first line. */
  clear(): void {
    if (this.tty) this.out.write(this.clearLive());
    this.liveHeight = 0;
  }

  private clearLive(): string {
    if (this.liveHeight === 0) return "";
    const up = this.liveHeight - 1;
    return `\r${up > 0 ? `\x1b[${up}A` : ""}\x1b[J`;
  }

  /** Writes everything not written yet as it stands, and a last line; the live region ends. */
  finish(blocks: readonly Block[], last: string): void {
    const lines: string[] = [];
    for (const b of blocks) if (!this.printed.has(b.key)) lines.push(...b.lines);
    lines.push(last);
    this.out.write(this.clearLive() + lines.join("\n") + "\n");
    this.liveHeight = 0;
  }
}
