/**
 * Splits growing Markdown into top-level blocks so a streaming answer re-renders only its last
 * block: earlier blocks are identical strings between deltas, so their DOM is kept as is.
 * Splits at blank lines outside fenced code, and never before an indented line (a list item's
 * continuation or indented code stays with its block).
 */
export function splitBlocks(text: string): string[] {
  const lines = text.split("\n");
  const blocks: string[] = [];
  let current: string[] = [];
  let fence: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (m) {
      const marker = m[1]!;
      if (fence === null) fence = marker[0]!.repeat(marker.length);
      else if (marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) fence = null;
    }
    current.push(line);
    if (fence === null && line.trim() === "") {
      const next = lines[i + 1];
      if (next !== undefined && next.trim() !== "" && !/^(\s{2,}|\t)/.test(next) && current.some((l) => l.trim() !== "")) {
        blocks.push(current.join("\n"));
        current = [];
      }
    }
  }
  if (current.length) blocks.push(current.join("\n"));
  return blocks;
}
