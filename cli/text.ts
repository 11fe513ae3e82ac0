/**
 * Terminal text: ANSI colours (off for pipes and NO_COLOR), display width (wide and zero-width
 * characters), and wrapping to a width. Wrapping happens on plain text, colour afterwards, so an
 * escape code never counts as a column.
 */

export interface Paint {
  bold(s: string): string;
  dim(s: string): string;
  italic(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  blue(s: string): string;
  magenta(s: string): string;
  cyan(s: string): string;
  inverse(s: string): string;
}

const code = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;

export const COLOR: Paint = {
  bold: code(1, 22),
  dim: code(2, 22),
  italic: code(3, 23),
  red: code(31, 39),
  green: code(32, 39),
  yellow: code(33, 39),
  blue: code(34, 39),
  magenta: code(35, 39),
  cyan: code(36, 39),
  inverse: code(7, 27),
};

const same = (s: string) => s;
export const PLAIN: Paint = { bold: same, dim: same, italic: same, red: same, green: same, yellow: same, blue: same, magenta: same, cyan: same, inverse: same };

// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[[0-9;?]*[A-Za-z]/g;

export function stripAnsi(s: string): string {
  return s.replace(ANSI_RE, "");
}

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });
const WIDE_RE = /\p{Extended_Pictographic}|\p{Regional_Indicator}|[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]/u;
const ZERO_RE = /^[\p{Mn}\p{Me}\p{Cf}]+$/u;

/** Columns one grapheme takes in a terminal. */
function graphemeWidth(g: string): number {
  if (ZERO_RE.test(g)) return 0;
  return WIDE_RE.test(g) ? 2 : 1;
}

/** Columns a plain string takes. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const { segment } of segmenter.segment(s)) w += graphemeWidth(segment);
  return w;
}

/** The longest start of `s` that fits in `width` columns (with "…" when cut). */
export function clipTo(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  let out = "";
  let w = 0;
  for (const { segment } of segmenter.segment(s)) {
    const gw = graphemeWidth(segment);
    if (w + gw > width - 1) break;
    out += segment;
    w += gw;
  }
  return out + "…";
}

/** One line of a longer text squeezed onto one line (whitespace collapsed), clipped to `width`. */
export function oneLine(s: string, width: number): string {
  return clipTo(s.replace(/\s+/g, " ").trim(), width);
}

/**
 * Wraps plain text to `width` columns: at spaces where it can, inside a word where it must.
 * Tabs become two spaces and control characters are dropped (a transcript must not move the cursor).
 */
export function wrap(text: string, width: number): string[] {
  const w = Math.max(8, width);
  const out: string[] = [];
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/\t/g, "  ").replace(/\r\n?/g, "\n").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
  for (const raw of clean.split("\n")) {
    let line = "";
    let lineW = 0;
    let lastSpace = -1;
    for (const { segment } of segmenter.segment(raw)) {
      const gw = graphemeWidth(segment);
      if (lineW + gw > w) {
        if (lastSpace > 0) {
          out.push(line.slice(0, lastSpace).trimEnd());
          line = line.slice(lastSpace + 1);
          lineW = displayWidth(line);
        } else {
          out.push(line);
          line = "";
          lineW = 0;
        }
        lastSpace = -1;
      }
      if (segment === " ") lastSpace = line.length;
      line += segment;
      lineW += gw;
    }
    out.push(line);
  }
  return out;
}

/** Wraps then paints each line, with a prefix on every line (e.g. an indent or a gutter). */
export function para(text: string, width: number, paint: (s: string) => string = same, prefix = "", firstPrefix = prefix): string[] {
  const pw = displayWidth(stripAnsi(prefix));
  return wrap(text, width - pw).map((l, i) => (i === 0 ? firstPrefix : prefix) + (l ? paint(l) : ""));
}
