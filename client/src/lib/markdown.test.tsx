/**
 * highlight.js arrives on demand (its own file here, so nothing loaded it before): code renders
 * plain at once and coloured when it has loaded, and only the blocks holding code change.
 */
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render } from "@solidjs/testing-library";
import { Markdown } from "../parts/Markdown.tsx";
import { highlightCode, loadHighlighter, renderMarkdown } from "./markdown.ts";

afterEach(cleanup);

describe("the highlighter, loaded on demand", () => {
  it("shows code plain at once, then coloured, re-rendering only the blocks that hold code", async () => {
    const text = "Intro with **bold**.\n\n```ts\nconst x: number = 1;\n```\n\nAn outro.";
    const { container } = render(() => <Markdown text={text} />);
    const blocks = [...container.querySelectorAll(".md-block")];
    expect(blocks).toHaveLength(3);
    const before = blocks.map((b) => b.innerHTML);
    const plain = container.querySelector("pre.code code")!;
    expect(plain.querySelector(".hljs-keyword")).toBeNull();
    expect(plain.textContent).toBe("const x: number = 1;");
    // A command shown before the load is escaped text, never raw HTML.
    expect(highlightCode("echo <b>hi</b>", "bash")).toBe("echo &lt;b&gt;hi&lt;/b&gt;");

    await loadHighlighter();
    const after = [...container.querySelectorAll(".md-block")];
    expect(after).toEqual(blocks); // the same nodes
    expect(after.map((b, i) => b.innerHTML !== before[i])).toEqual([false, true, false]);
    const code = container.querySelector("pre.code code")!;
    expect(code.querySelector(".hljs-keyword")?.textContent).toBe("const");
    expect(code.textContent).toBe("const x: number = 1;");
    expect(highlightCode("echo <b>hi</b>", "bash")).toContain('<span class="hljs-built_in">echo</span>');
  });
});

describe("raw HTML in Markdown", () => {
  it("is shown as text, block and inline, so no element it names ever reaches a parser", () => {
    const text = `<details open ontoggle="x()">\n<summary>s</summary>\n</details>\n\nSee <img src=x onerror="y()"> and **bold** [a](https://e.test).`;
    const html = renderMarkdown(text);
    expect(html).not.toMatch(/<(details|img|summary)\b/);
    expect(html).toContain("&lt;img src=x onerror=");
    expect(html).toContain("<strong>bold</strong>");
    expect(html).toContain('<a href="https://e.test"');
  });
});
