/** Component tests of the part renderers (jsdom). */
import { describe, expect, it, afterEach, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library";
import { createStore } from "solid-js/store";
import { PartView, PART_RENDERERS, isHiddenPart } from "./registry.tsx";
import { PartEnvContext } from "./context.ts";
import { parts, toolPart, textPart, T0 } from "../../test/fixtures.ts";
import { KNOWN_PART_SCHEMAS, type KnownPartType, type Part } from "../../../shared/parts.ts";
import { loadHighlighter } from "../lib/markdown.ts";

afterEach(cleanup);

const renderPart = (part: Part) => render(() => <PartView part={part} />);

describe("registry", () => {
  it("has a renderer for every known part type", () => {
    for (const t of Object.keys(KNOWN_PART_SCHEMAS) as KnownPartType[]) {
      expect(PART_RENDERERS[t], t).toBeTypeOf("function");
    }
  });

  it("shows an unknown part type generically instead of dropping it", () => {
    const { container } = renderPart(parts.unknown());
    const el = container.querySelector('[data-part-type="unknown"]')!;
    expect(el).not.toBeNull();
    expect(el.textContent).toContain("hologram");
    expect(el.textContent).toContain("blue");
  });

  it("shows a known type with a malformed shape generically", () => {
    const bad = { id: "p1", messageID: "m1", type: "tool", tool: "bash" } as Part; // no state
    const { container } = renderPart(bad);
    expect(container.querySelector('[data-part-type="unknown"]')).not.toBeNull();
    expect(container.querySelector('[data-part-type="tool"]')).toBeNull();
  });

  it("hides text meant for the model only (synthetic, ignored)", () => {
    expect(isHiddenPart(textPart("file contents", { synthetic: true }))).toBe(true);
    expect(isHiddenPart(textPart("skipped", { ignored: true }))).toBe(true);
    expect(isHiddenPart(textPart("hello"))).toBe(false);
    expect(isHiddenPart({ id: "p", messageID: "m", type: "step-start" } as Part)).toBe(true);
  });

  it("renders step-start and snapshot parts as nothing", () => {
    const { container } = renderPart({ id: "p9", messageID: "m1", type: "step-start" } as Part);
    expect(container.textContent).toBe("");
  });
});

describe("text", () => {
  it("renders Markdown with highlighted code", async () => {
    await loadHighlighter(); // on demand in the app; lib/markdown.test.tsx covers the plain-first render
    const { container } = renderPart(parts.text());
    expect(container.querySelector("strong")?.textContent).toBe("bold");
    expect(container.querySelectorAll("li")).toHaveLength(2);
    const code = container.querySelector("pre.code code")!;
    expect(code.className).toContain("language-ts");
    expect(code.querySelector(".hljs-keyword")?.textContent).toBe("const");
  });

  it("grows by re-rendering only the last block while streaming", () => {
    const [part, setPart] = createStore(textPart("First paragraph.\n\nSecond"));
    const { container } = render(() => <PartView part={part as Part} />);
    const firstBlock = container.querySelector(".md-block")!;
    setPart("text", (t) => t + " paragraph grows");
    const blocks = container.querySelectorAll(".md-block");
    expect(blocks).toHaveLength(2);
    expect(blocks[0]).toBe(firstBlock); // same DOM node: not re-rendered
    expect(blocks[1]!.textContent!.trim()).toBe("Second paragraph grows");
    setPart("text", (t) => t + "\n\nThird");
    expect(container.querySelectorAll(".md-block")).toHaveLength(3);
    expect(container.querySelectorAll(".md-block")[0]).toBe(firstBlock);
  });

  it("keeps fenced code with blank lines in one block", () => {
    const { container } = renderPart(textPart("```py\na = 1\n\nb = 2\n```\n\nafter"));
    expect(container.querySelectorAll("pre")).toHaveLength(1);
    expect(container.querySelector("pre")!.textContent).toContain("b = 2");
  });

  it("offers to load text the room truncated", async () => {
    const part = textPart("short", { truncated: [{ field: "text", fullChars: 900 }] });
    const fetchFullPart = vi.fn(async () => ({ ...part, text: "the whole long text", truncated: undefined }) as Part);
    render(() => (
      <PartEnvContext.Provider value={{ fetchFullPart }}>
        <PartView part={part} />
      </PartEnvContext.Provider>
    ));
    fireEvent.click(screen.getByRole("button", { name: /load the remaining 895/i }));
    await waitFor(() => expect(screen.getByText("the whole long text")).toBeTruthy());
    expect(fetchFullPart).toHaveBeenCalledWith(part.id);
  });
});

describe("sanitization", () => {
  const hostile = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    "[click](javascript:window.__pwned=3)",
    '<a href="javascript:window.__pwned=4">x</a>',
    '<iframe src="javascript:window.__pwned=5"></iframe>',
    '<svg><script>window.__pwned=6</script></svg>',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<div style="background:url(javascript:alert(1))" onclick="window.__pwned=7">x</div>',
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
  ].join("\n\n");

  it("runs nothing and keeps no handler, script or javascript: URL", async () => {
    (window as unknown as { __pwned?: number }).__pwned = undefined;
    const { container } = renderPart(textPart(hostile));
    await new Promise((r) => setTimeout(r, 20));
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
    expect(container.querySelector("script, iframe, form, button, [onerror], [onclick], [style]")).toBeNull();
    for (const a of container.querySelectorAll("a")) {
      const href = a.getAttribute("href") ?? "";
      expect(href).not.toMatch(/^\s*(javascript|data|vbscript):/i);
    }
    for (const el of container.querySelectorAll("*")) {
      for (const attr of el.getAttributeNames()) expect(attr.startsWith("on"), `${el.tagName} ${attr}`).toBe(false);
    }
  });

  it("opens safe links in a new tab without an opener", () => {
    const { container } = renderPart(textPart("[docs](https://example.com/a)"));
    const a = container.querySelector("a")!;
    expect(a.getAttribute("href")).toBe("https://example.com/a");
    expect(a.getAttribute("target")).toBe("_blank");
    expect(a.getAttribute("rel")).toContain("noopener");
  });

  it("treats tool output as text, never as HTML", () => {
    const { container } = renderPart(parts.toolCompleted('<img src=x onerror="window.__pwned=9">'));
    fireEvent.click(container.querySelector(".tool-head")!);
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector(".output-text")!.textContent).toContain("<img src=x");
  });

  it("shows a file part's non-data URL as text, never as an image or link to javascript:", () => {
    const p = { ...parts.file(), mime: "image/png", url: "javascript:alert(1)" } as Part;
    const { container } = renderPart(p);
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector("a")).toBeNull();
  });
});

describe("reasoning", () => {
  it("is collapsed with its duration", () => {
    const { container } = renderPart(parts.reasoning());
    const details = container.querySelector("details.reasoning") as HTMLDetailsElement;
    expect(details.open).toBe(false);
    expect(details.querySelector("summary")!.textContent).toBe("Thought for 2.3s");
  });
});

describe("tool", () => {
  it("is collapsed by default and expands on click", () => {
    const { container } = renderPart(parts.toolCompleted("file-a\nfile-b"));
    const head = container.querySelector(".tool-head")!;
    expect(head.getAttribute("aria-expanded")).toBe("false");
    expect(container.querySelector(".tool-body")).toBeNull();
    expect(head.textContent).toContain("bash");
    expect(head.textContent).toContain("List files");
    expect(head.textContent).toContain("1.2s");
    fireEvent.click(head);
    expect(head.getAttribute("aria-expanded")).toBe("true");
    expect(container.querySelector(".tool-body")!.textContent).toContain("$ ls -la");
    expect(container.querySelector(".output-text")!.textContent).toBe("file-a\nfile-b");
  });

  it("shows each state", () => {
    for (const [make, status] of [
      [parts.toolPending, "pending"],
      [parts.toolRunning, "running"],
      [parts.toolCompleted, "completed"],
      [parts.toolError, "error"],
    ] as const) {
      const { container, unmount } = renderPart(make());
      const el = container.querySelector('[data-part-type="tool"]')!;
      expect(el.getAttribute("data-status")).toBe(status);
      expect(el.querySelector(`.status-dot.${status}`)).not.toBeNull();
      unmount();
    }
  });

  it("shows a running tool's elapsed time, ticking", async () => {
    vi.useFakeTimers();
    try {
      const p = toolPart("bash", { status: "running", input: { command: "sleep 9" }, time: { start: Date.now() - 4_000 } });
      const { container } = renderPart(p);
      expect(container.querySelector(".elapsed")!.textContent).toBe("4.0s");
      vi.advanceTimersByTime(3_000);
      expect(container.querySelector(".elapsed")!.textContent).toBe("7.0s");
    } finally {
      vi.useRealTimers();
    }
  });

  it("updates in place when the state moves from running to completed", () => {
    const [p, setP] = createStore(toolPart("bash", { status: "running", input: { command: "echo hi" }, time: { start: T0 } }));
    const { container } = render(() => <PartView part={p as Part} />);
    const el = container.querySelector('[data-part-type="tool"]')!;
    setP("state", { status: "completed", input: { command: "echo hi" }, output: "hi\n", title: "echo hi", metadata: {}, time: { start: T0, end: T0 + 50 } });
    expect(container.querySelector('[data-part-type="tool"]')).toBe(el);
    expect(el.getAttribute("data-status")).toBe("completed");
    expect(el.textContent).toContain("50ms");
  });

  it("shows the error of a failed call", () => {
    const { container } = renderPart(parts.toolError());
    fireEvent.click(container.querySelector(".tool-head")!);
    expect(container.querySelector(".output-error")!.textContent).toContain("File not found");
  });

  it("truncates long output with show all", () => {
    const long = Array.from({ length: 200 }, (_, i) => `line ${i}`).join("\n");
    const { container } = renderPart(parts.toolCompleted(long));
    fireEvent.click(container.querySelector(".tool-head")!);
    const out = container.querySelector(".output-text")!;
    expect(out.textContent!.split("\n")).toHaveLength(30);
    fireEvent.click(screen.getByRole("button", { name: /show all \(200 lines/i }));
    expect(container.querySelector(".output-text")!.textContent!.split("\n")).toHaveLength(200);
  });

  it("fetches the full part when the room truncated the output", async () => {
    const p = { ...parts.toolCompleted("head of output"), truncated: [{ field: "state.output", fullChars: 5_000_000 }] } as Part;
    const full = { ...p, truncated: undefined, state: { ...(p as unknown as { state: object }).state, output: "head of output … and the rest" } } as Part;
    const fetchFullPart = vi.fn(async () => full);
    const { container } = render(() => (
      <PartEnvContext.Provider value={{ fetchFullPart }}>
        <PartView part={p} />
      </PartEnvContext.Provider>
    ));
    fireEvent.click(container.querySelector(".tool-head")!);
    expect(container.textContent).toContain("of 5,000,000 characters");
    fireEvent.click(screen.getByRole("button", { name: "Load full output" }));
    await waitFor(() => expect(container.querySelector(".output-text")!.textContent).toBe("head of output … and the rest"));
    expect(fetchFullPart).toHaveBeenCalledWith(p.id);
  });

  it("shows an edit as a diff", () => {
    const { container } = renderPart(parts.edit());
    fireEvent.click(container.querySelector(".tool-head")!);
    expect(container.querySelector(".diff-line.del")!.textContent).toContain("return a - b;");
    expect(container.querySelector(".diff-line.add")!.textContent).toContain("return a + b;");
    expect(container.querySelector(".diff-file")!.textContent).toContain("/repo/src/add.ts");
  });

  it("shows a write as an all-added diff", () => {
    const { container } = renderPart(parts.write());
    fireEvent.click(container.querySelector(".tool-head")!);
    expect(container.querySelectorAll(".diff-line.add")).toHaveLength(2);
    expect(container.querySelectorAll(".diff-line.del")).toHaveLength(0);
  });

  it("shows todowrite input as a todo list", () => {
    const p = toolPart("todowrite", {
      status: "completed",
      input: { todos: [{ content: "write tests", status: "completed" }, { content: "ship", status: "pending" }] },
      output: "",
      title: "2 todos",
      metadata: {},
      time: { start: T0, end: T0 + 1 },
    });
    const { container } = renderPart(p);
    fireEvent.click(container.querySelector(".tool-head")!);
    expect(container.querySelectorAll(".todo")).toHaveLength(2);
    expect(container.querySelector(".todo-completed")!.textContent).toContain("write tests");
  });
});

describe("the other parts", () => {
  it("step-finish shows tokens and cost", () => {
    const { container } = renderPart(parts.stepFinish());
    expect(container.textContent).toContain("1.2k in");
    expect(container.textContent).toContain("340 out");
    expect(container.textContent).toContain("$0.01");
  });

  it("file shows its name and type", () => {
    const { container } = renderPart(parts.file());
    expect(container.textContent).toContain("notes.txt");
    expect(container.textContent).toContain("text/plain");
  });

  it("file shows a data: image inline", () => {
    const p = { ...parts.file(), mime: "image/png", filename: "dot.png", url: "data:image/png;base64,iVBORw0KGgo=" } as Part;
    const { container } = renderPart(p);
    expect(container.querySelector("img")!.getAttribute("alt")).toBe("dot.png");
  });

  it("patch lists its files", () => {
    const { container } = renderPart(parts.patch());
    expect(container.textContent).toContain("Changed 2 files");
    expect(container.querySelectorAll("li")).toHaveLength(2);
  });

  it("patch shows file names git quoted as they are (quotes, backslashes, non-ASCII)", () => {
    const files = ['/w/"say \\"hi\\".txt"', '/w/"caf\\303\\251.txt"', "/w/it's.txt"];
    const { container } = renderPart({ ...parts.patch(), files } as Part);
    const items = [...container.querySelectorAll("li")];
    expect(items.map((li) => li.getAttribute("title"))).toEqual(['/w/say "hi".txt', "/w/café.txt", "/w/it's.txt"]);
    expect(items.map((li) => li.textContent)).toEqual(['/w/say "hi".txt', "/w/café.txt", "/w/it's.txt"]);
  });

  it("agent switch, subtask, retry, compaction", () => {
    expect(renderPart(parts.agent()).container.textContent).toContain("Agent switched to plan");
    expect(renderPart(parts.subtask()).container.textContent).toContain("Investigate failing test");
    expect(renderPart(parts.retry()).container.textContent).toContain("retry 2");
    expect(renderPart(parts.retry()).container.textContent).toContain("rate limited");
    expect(renderPart(parts.compaction()).container.textContent).toContain("compacted automatically");
  });
});

describe("code blocks", () => {
  it("offer a copy control that copies the code's text", async () => {
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    const { container } = renderPart(textPart("```sh\necho hi\n```"));
    const control = container.querySelector(".code-copy") as HTMLElement;
    expect(control.getAttribute("role")).toBe("button");
    fireEvent.click(control);
    expect(writeText).toHaveBeenCalledWith("echo hi");
    await waitFor(() => expect(control.textContent).toBe("Copied"));
  });
});
