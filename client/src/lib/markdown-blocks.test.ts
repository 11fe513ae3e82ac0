/**
 * The streaming splitter agrees with Markdown: for every example of the CommonMark spec, at every
 * prefix of it (as it streams in), the blocks rendered one by one — each key rendered the first
 * time it appeared, as <For> keeps its DOM, split by one `BlockSplitter` as the text grows (so
 * its partial re-lexing is checked too) — equal the whole prefix rendered at once.
 */
import { beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error commonmark-spec ships no types: `tests` is read through `Example` below.
import spec from "commonmark-spec";
import { loadHighlighter, renderMarkdown, renderTokens } from "./markdown.ts";
import { BlockSplitter, splitBlocks } from "./markdown-blocks.ts";

interface Example {
  markdown: string;
  number: number;
  section: string;
}
const examples = (spec as unknown as { tests: Example[] }).tests;

/**
 * HTML as a page shows it: whitespace-only text between top-level elements dropped (each block is
 * its own element, so the whitespace between blocks is no text of the page).
 */
function page(html: string): string {
  const div = document.createElement("div");
  div.innerHTML = html;
  for (const node of [...div.childNodes]) if (node.nodeType === Node.TEXT_NODE && !node.textContent?.trim()) node.remove();
  return div.innerHTML;
}

/** The first prefix of a streamed example whose blocks render otherwise than the whole. */
function stream(markdown: string): { prefix: string; blocks: string; whole: string } | undefined {
  const shown = new Map<string, string>();
  const splitter = new BlockSplitter();
  for (let end = 1; end <= markdown.length; end++) {
    const prefix = markdown.slice(0, end);
    const { keys, tokens } = splitter.split(prefix);
    const blocks = keys
      .map((key) => {
        let html = shown.get(key);
        if (html === undefined) shown.set(key, (html = renderTokens(tokens.get(key) ?? [])));
        return html;
      })
      .join("");
    const whole = renderMarkdown(prefix);
    if (blocks !== whole && page(blocks) !== page(whole)) return { prefix, blocks, whole };
  }
  return undefined;
}

describe("the streaming Markdown splitter", () => {
  // Code renders coloured or plain depending on highlight.js: load it first so both sides agree.
  beforeAll(() => loadHighlighter());

  it(`renders as the whole text at every prefix of all ${examples.length} CommonMark examples`, () => {
    expect(examples.length).toBeGreaterThan(600);
    const failures = examples.flatMap((ex) => {
      const bad = stream(ex.markdown);
      return bad ? [{ example: ex.number, section: ex.section, ...bad }] : [];
    });
    expect(failures).toEqual([]);
  }, 300_000);

  it("splits into blocks (so a stream re-renders only its tail)", () => {
    expect(splitBlocks("One.\n\nTwo.\n\n```\na\n\nb\n```\n").keys).toEqual(["One.\n\n", "Two.\n\n", "```\na\n\nb\n```\n"]);
  });

  it("keeps a loose list one block, and gives a definition to the block that uses it", () => {
    expect(splitBlocks("- a\n\n- b").keys).toHaveLength(1);
    const before = splitBlocks("See [x].\n\n");
    const after = splitBlocks("See [x].\n\n[x]: https://example.com\n");
    expect(after.keys[0]).not.toBe(before.keys[0]); // the link changes what the first block renders
    expect(renderTokens(after.tokens.get(after.keys[0]!)!)).toContain('href="https://example.com"');
  });

  it("re-lexes only the tail of a growing text, and all of it when a definition arrives", () => {
    const splitter = new BlockSplitter();
    const first = splitter.split("# Title\n\nOne [x].\n\nTwo");
    const grown = splitter.split("# Title\n\nOne [x].\n\nTwo and more\n\n- a\n\n- b");
    expect(grown.tokens.get(grown.keys[0]!)).toBe(first.tokens.get(first.keys[0]!)); // kept, not lexed again
    expect(grown.keys).toEqual(splitBlocks("# Title\n\nOne [x].\n\nTwo and more\n\n- a\n\n- b").keys);
    const defined = splitter.split("# Title\n\nOne [x].\n\nTwo and more\n\n- a\n\n- b\n\n[x]: /u");
    expect(renderTokens(defined.tokens.get(defined.keys[1]!)!)).toContain('href="/u"');
  });

  it("would catch a splitter that cuts where Markdown does not", () => {
    const naive = (text: string) => text.split("\n\n").map(renderMarkdown).join("");
    expect(naive("- a\n\n- b")).not.toBe(renderMarkdown("- a\n\n- b"));
  });
});
