import { describe, expect, it } from "vitest";
import { PassThrough } from "node:stream";
import { parseTarget, readSecret } from "./target.ts";
import { clipTo, displayWidth, wrap, PLAIN, stripAnsi, COLOR } from "./text.ts";
import { renderBlocks, statusLine, type RenderOptions } from "./render.ts";
import { Screen } from "./screen.ts";
import { Transcript } from "../shared/transcript.ts";
import { snapshotOf } from "../shared/fixtures.ts";
import type { MessageWithParts } from "../shared/parts.ts";

describe("session URLs", () => {
  it("takes the session and the fragment's token from the app's link, and never shows the token", () => {
    const t = parseTarget("https://rooms.example.com/s/abc123#token=SECRET&theme=dark");
    expect(t).toEqual({ origin: "https://rooms.example.com", sessionId: "abc123", fragmentToken: "SECRET", shown: "https://rooms.example.com/s/abc123" });
    expect(parseTarget("http://127.0.0.1:8787/s/abc/replay").sessionId).toBe("abc");
    expect(parseTarget("http://127.0.0.1:8787/embed/xyz#token=t").sessionId).toBe("xyz");
    expect(parseTarget("http://127.0.0.1:8787/api/sessions/q1/stream").sessionId).toBe("q1");
    expect(parseTarget("abc", { AGENTROOM_URL: "https://r.example.com" }).origin).toBe("https://r.example.com");
  });

  it("refuses what is not a session link, naming it without its fragment", () => {
    expect(() => parseTarget("https://rooms.example.com/settings#token=SECRET")).toThrow(/no session in https:\/\/rooms.example.com\/settings \(/);
    expect(() => parseTarget("https://rooms.example.com/settings#token=SECRET")).not.toThrow(/SECRET/);
    expect(() => parseTarget("https://rooms.example.com/s/a?token=SECRET")).toThrow(/query string is refused/);
    expect(() => parseTarget("https://rooms.example.com/s/a?token=SECRET")).not.toThrow(/SECRET/);
    expect(() => parseTarget("abc", {})).toThrow(/not a session URL/);
    expect(() => parseTarget("ftp://x/s/a")).toThrow(/not an http/);
  });
});

describe("the token prompt", () => {
  it("reads a line without echoing it; Backspace edits, Ctrl-C gives up", async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = "";
    output.on("data", (d: Buffer) => (shown += d.toString()));
    const asked = readSecret("Token: ", input as unknown as NodeJS.ReadStream, output as unknown as NodeJS.WriteStream);
    input.write("sec");
    input.write("rex\x7ft\r");
    expect(await asked).toBe("secret");
    expect(shown).toBe("Token: \n");
    const cancelled = readSecret("Token: ", input as unknown as NodeJS.ReadStream, output as unknown as NodeJS.WriteStream);
    input.write("abc\x03");
    expect(await cancelled).toBeNull();
  });
});

describe("terminal text", () => {
  it("wraps at spaces, inside long words when it must, and counts wide characters as two columns", () => {
    expect(wrap("the quick brown fox jumps", 10)).toEqual(["the quick", "brown fox", "jumps"]);
    expect(wrap("abcdefghijklmnop", 8)).toEqual(["abcdefgh", "ijklmnop"]);
    expect(displayWidth("世界")).toBe(4);
    expect(displayWidth("e\u0301")).toBe(1);
    expect(displayWidth("🧑🏽‍🚀")).toBe(2);
    for (const l of wrap("世界世界世界世界世界", 8)) expect(displayWidth(l)).toBeLessThanOrEqual(8);
    expect(clipTo("hello world", 6)).toBe("hello…");
  });

  it("drops control characters, so a transcript cannot move the cursor or recolour the terminal", () => {
    expect(wrap("a\x1b[2Jb\x07c", 20)).toEqual(["a[2Jbc"]);
    expect(stripAnsi(COLOR.red("x"))).toBe("x");
  });
});

const msg = (id: string, role: "user" | "assistant", parts: MessageWithParts["parts"], completed?: number): MessageWithParts => ({
  info: { id, role, time: { created: 1, ...(completed ? { completed } : {}) } },
  parts,
});

function transcript(): Transcript {
  const t = new Transcript();
  t.loadSnapshot(
    snapshotOf(7, {
      messages: [
        msg("m1", "user", [{ id: "p1", messageID: "m1", type: "text", text: "please edit add.ts" }]),
        msg("m2", "assistant", [
          { id: "p2", messageID: "m2", type: "text", text: "Fixing it.", time: { start: 1, end: 2 } },
          {
            id: "p3",
            messageID: "m2",
            type: "tool",
            callID: "c1",
            tool: "edit",
            state: { status: "completed", input: { filePath: "/repo/src/add.ts", oldString: "return a - b;", newString: "return a + b;" }, output: "", title: "src/add.ts", metadata: {}, time: { start: 0, end: 1500 } },
          },
          { id: "p4", messageID: "m2", type: "tool", callID: "c2", tool: "bash", state: { status: "running", input: { command: "npm test" }, time: { start: 1000 } } },
          { id: "p5", messageID: "m2", type: "future-part", note: "?" },
        ]),
      ],
      permissions: [{ id: "perm1", permission: "bash", patterns: ["npm test"], createdAt: 1 }],
      questions: [{ id: "q1", questions: [{ question: "Which colour?", header: "Colour", options: [{ label: "Blue", description: "Calm" }, { label: "Red" }] }], createdAt: 1 }],
    }),
  );
  return t;
}

const opts = (over: Partial<RenderOptions> = {}): RenderOptions => ({ width: 80, paint: PLAIN, now: 4000, ...over });

describe("rendering the transcript", () => {
  it("draws prompts, text, tools with status and a one-line summary, diffs, unknown parts and waits", () => {
    const blocks = renderBlocks(transcript(), opts());
    const text = blocks.flatMap((b) => b.lines).join("\n");
    expect(text).toContain("› please edit add.ts");
    expect(text).toContain("  Fixing it.");
    expect(text).toMatch(/✓ edit src\/add\.ts {2}1\.5s/);
    expect(text).toContain("+1 −1");
    expect(text).toMatch(/1 - return a - b;/);
    expect(text).toMatch(/1 \+ return a \+ b;/);
    expect(text).toMatch(/◐ bash npm test {2}running 3\.0s/);
    expect(text).toContain("[future-part]");
    expect(text).toContain("⚠ permission bash npm test");
    expect(text).toContain("waiting for a driver to answer");
    expect(text).toContain("? Colour: Which colour?");
    expect(text).toContain("1) Blue — Calm");
    expect(text).toContain("2) Red");
    const driven = renderBlocks(transcript(), opts({ driver: true })).flatMap((b) => b.lines).join("\n");
    expect(driven).toContain("y  allow once");
    expect(driven).toContain("press a number to answer");
    // What is done is final (printed once); the running tool and the open request are not.
    const final = Object.fromEntries(blocks.map((b) => [b.key, b.final]));
    expect(final["m2:p3"]).toBe(true);
    expect(final["m2:p4"]).toBe(false);
    expect(final["perm:perm1"]).toBe(false);
    expect(statusLine(transcript(), { ...opts(), connection: "live" })).toBe("● live · Untitled · idle · seq 7");
  });

  it("colours a diff: added lines green, removed red", () => {
    const text = renderBlocks(transcript(), opts({ paint: COLOR })).flatMap((b) => b.lines).join("\n");
    expect(text).toContain("\x1b[32m+ return a + b;\x1b[39m");
    expect(text).toContain("\x1b[31m- return a - b;\x1b[39m");
  });
});

describe("the screen", () => {
  it("writes final blocks once, in order, and (without a terminal) nothing that may still change", () => {
    const out = new PassThrough();
    let written = "";
    out.on("data", (d: Buffer) => (written += d.toString()));
    const screen = new Screen(out as unknown as NodeJS.WriteStream);
    const t = transcript();
    screen.draw(renderBlocks(t, opts()), ["status"]);
    screen.draw(renderBlocks(t, opts()), ["status"]);
    expect(written.match(/please edit add\.ts/g)).toHaveLength(1);
    expect(written).toContain("✓ edit");
    expect(written).not.toContain("bash npm test");
    expect(written).not.toContain("[future-part]"); // after the running tool: waits for it
    expect(written).not.toContain("status");
    screen.finish(renderBlocks(t, opts()), "bye");
    expect(written).toContain("◐ bash npm test");
    expect(written.trimEnd().endsWith("bye")).toBe(true);
  });
});
