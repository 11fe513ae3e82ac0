/**
 * Splits growing Markdown into top-level blocks so a streaming answer re-renders only its last
 * block: earlier blocks keep their keys between deltas, so their DOM is kept as is.
 *
 * The blocks are marked's own top-level tokens (the lexer that renders them), so a split never
 * disagrees with Markdown: a loose list stays one list, a fence keeps its blank lines, and a
 * `[x]: url` definition reaches the `[x]` that uses it wherever it stands (the lexer resolves
 * references over the whole text). Rendering the blocks one by one equals rendering the whole
 * text at every prefix; client/src/lib/markdown-blocks.test.ts checks it for every example of
 * the CommonMark spec as it streams.
 *
 * Lexing the whole text on every delta costs ~15 ms at 80 K chars, so a `BlockSplitter` that sees
 * the text grow lexes again only from its last two blocks: appended text cannot change a block
 * that a later block already closed. A new link definition (it may change any earlier `[x]`), a
 * text that did not just grow, or a `\r` (the lexer rewrites it, so offsets no longer match) lex
 * the whole text again.
 */
import type { Links, Token, Tokens } from "marked";
import { lexMarkdown } from "./markdown.ts";

export interface MarkdownBlocks {
  /**
   * One key per block, in order. Equal keys render equally, so a view may keep the DOM of a key
   * it already shows: the key is the block's source, plus the text's link definitions when the
   * block could use one (a definition arriving later changes what `[x]` renders).
   */
  keys: string[];
  /** Each key's tokens, to render with `renderTokens`. */
  tokens: Map<string, Token[]>;
}

interface Group {
  tokens: Token[];
  raw: string;
}

/** Blocks of one growing text (one per streaming part). */
export class BlockSplitter {
  #text = "";
  #groups: Group[] = [];
  #links: Links = {};

  split(text: string): MarkdownBlocks {
    this.#relex(text);
    this.#text = text;
    const defs = definitionsKey(this.#links);
    const keys: string[] = [];
    const tokens = new Map<string, Token[]>();
    for (const group of this.#groups) {
      const key = defs && group.raw.includes("]") ? `${group.raw}\u0000${defs}` : group.raw;
      keys.push(key);
      tokens.set(key, group.tokens);
    }
    return { keys, tokens };
  }

  #relex(text: string): void {
    const kept = this.#groups.slice(0, -2);
    const from = kept.reduce((n, g) => n + g.raw.length, 0);
    if (kept.length && text.startsWith(this.#text) && !text.includes("\r")) {
      // Seeded with the definitions of the kept blocks only: the tail's own may have changed.
      const seed: Links = {};
      for (const g of kept) definitionsIn(g.tokens, seed);
      const tail = lexMarkdown(text.slice(from), seed);
      if (definitionsKey(tail.links) === definitionsKey(this.#links)) {
        this.#groups = [...kept, ...group(tail)];
        return;
      }
    }
    const all = lexMarkdown(text);
    this.#groups = group(all);
    this.#links = { ...all.links };
    // Offsets are only trusted when the raws spell the text exactly.
    if (this.#groups.reduce((n, g) => n + g.raw.length, 0) !== text.length) this.#groups = [{ tokens: all, raw: text }];
  }
}

/** One-off split (a text that does not stream). */
export function splitBlocks(text: string): MarkdownBlocks {
  return new BlockSplitter().split(text);
}

function group(list: Token[]): Group[] {
  const groups: Token[][] = [];
  let open = 0;
  for (const token of list) {
    const last = groups.at(-1);
    // Blank lines belong to the block before them (they render to nothing). While raw HTML has an
    // element open, what follows stays inside it: one block, as the sanitizer and the DOM need.
    if (last && (token.type === "space" || open > 0)) last.push(token);
    else {
      groups.push([token]);
      open = 0;
    }
    open = Math.max(0, open + htmlDepth(token));
  }
  return groups.map((tokens) => ({ tokens, raw: tokens.map((t) => t.raw).join("") }));
}

/** Elements without a closing tag. */
const VOID = new Set(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"]);
const TAG = /<(\/?)([A-Za-z][A-Za-z0-9-]*)(?:[^>"']|"[^"]*"|'[^']*')*?(\/?)>/g;

/** Opening minus closing tags of the raw HTML in `token` and inside it (code spans excluded). */
function htmlDepth(token: Token): number {
  if (token.type === "html") {
    let depth = 0;
    for (const [, close, name, selfClose] of token.raw.matchAll(TAG)) {
      if (selfClose || VOID.has(name!.toLowerCase())) continue;
      depth += close ? -1 : 1;
    }
    return depth;
  }
  let depth = 0;
  const children = "tokens" in token && Array.isArray(token.tokens) ? token.tokens : [];
  for (const child of children) depth += htmlDepth(child);
  if (token.type === "list") for (const item of (token as Tokens.List).items) depth += htmlDepth(item);
  return depth;
}

/** Adds the link definitions among `tokens` (inside quotes and lists too) to `out`; the first wins. */
function definitionsIn(tokens: readonly Token[], out: Links): void {
  for (const t of tokens) {
    if (t.type === "def") {
      const def = t as Tokens.Def;
      out[def.tag] ??= { href: def.href, title: def.title };
    } else if (t.type === "list") for (const item of (t as Tokens.List).items) definitionsIn(item.tokens, out);
    else if ("tokens" in t && Array.isArray(t.tokens)) definitionsIn(t.tokens, out);
  }
}

/** The link definitions as one string; "" when there are none. */
function definitionsKey(links: Links): string {
  const labels = Object.keys(links);
  return labels.length ? JSON.stringify(labels.sort().map((l) => [l, links[l]])) : "";
}
