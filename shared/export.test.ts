import { describe, expect, it } from "vitest";
import { sessionMeta } from "./fixtures.ts";
import { CreditLog, exportFileName, exportRecord, ExportFormatSchema } from "./export-record.ts";
import { fence, toMarkdown, utc } from "./export-markdown.ts";
import { toOpencodeExport } from "./export-opencode.ts";
import type { MessageWithParts } from "./parts.ts";
import type { RoomEvent } from "./protocol.ts";

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);

function session(): { messages: MessageWithParts[]; events: RoomEvent[] } {
  const messages: MessageWithParts[] = [
    { info: { id: "msg_1", role: "user", time: { created: T0 + 1000 } }, parts: [{ id: "p1", messageID: "msg_1", type: "text", text: "fix the ``` bug" }] },
    {
      info: { id: "msg_2", role: "assistant", time: { created: T0 + 2000, completed: T0 + 5000 } },
      parts: [
        { id: "p2", messageID: "msg_2", type: "reasoning", text: "think first" },
        { id: "p3", messageID: "msg_2", type: "text", text: "Running it." },
        {
          id: "p4",
          messageID: "msg_2",
          type: "tool",
          tool: "bash",
          callID: "call_1",
          state: { status: "completed", input: { command: "ls" }, output: "a.txt", title: "ls", metadata: {}, time: { start: T0 + 3000, end: T0 + 4000 } },
        },
        { id: "p5", messageID: "msg_2", type: "acp-plan", entries: [], truncated: [{ field: "entries", fullChars: 2 }] },
      ],
    },
  ];
  const item = { id: "q1", text: "fix the ``` bug", mode: "build" as const, by: "dana", createdAt: T0 + 500, state: "queued" as const };
  const events = [
    { seq: 1, ts: T0 + 500, type: "queue.add", item },
    { seq: 2, ts: T0 + 900, type: "queue.remove", id: "q1", reason: "started" },
    { seq: 3, ts: T0 + 3100, type: "permission.asked", request: { id: "per_1", permission: "bash", patterns: ["ls"], callID: "call_1", createdAt: T0 + 3100 } },
    { seq: 4, ts: T0 + 3500, type: "permission.replied", requestID: "per_1", reply: "once", by: "ana" },
  ] as RoomEvent[];
  return { messages, events };
}

function record() {
  const { messages, events } = session();
  const credits = new CreditLog();
  for (const e of events) credits.add(e);
  const diff = [{ file: "a.txt", before: "one\n", after: "two\n", additions: 1, deletions: 1 }];
  return exportRecord({ session: sessionMeta({ id: "s1", title: "Fix it", createdAt: T0, model: "anthropic/claude" }), diff, todos: [], lastSeq: 4 }, messages, credits, 1, T0 + 9000);
}

describe("export", () => {
  it("Markdown: prompts with who sent them, answers, tools with input and output, approvals, diffs, times", () => {
    const md = toMarkdown(record());
    expect(md).toContain("# Fix it");
    expect(md).toContain(`## Prompt by dana · ${utc(T0 + 1000)}`);
    expect(md).toContain("fix the ``` bug");
    expect(md).toContain("**Reasoning**\n\n> think first");
    expect(md).toContain("### Tool `bash` — ls (completed) · 2026-12-07 12:00:03 UTC");
    expect(md).toContain('```json\n{\n  "command": "ls"\n}\n```');
    expect(md).toContain("Output:\n\n```\na.txt\n```");
    expect(md).toContain("- Permission `bash` for `ls`, asked 2026-12-07 12:00:03 UTC: **approved once** by ana at 2026-12-07 12:00:03 UTC");
    expect(md).toContain("## Changes\n\n### `a.txt` (+1 −1)\n\n```diff\n--- a/a.txt\n+++ b/a.txt\n@@ -1,1 +1,1 @@\n-one\n+two\n```");
    // A part type OpenCode does not have is kept, as its JSON.
    expect(md).toContain("**acp-plan**");
  });

  it("a fence outlasts any backtick run in its text", () => {
    expect(fence("a ```` b")).toBe("`````\na ```` b\n`````");
    expect(fence("x", "diff")).toBe("```diff\nx\n```");
  });

  it("OpenCode JSON: every message carries the session id and OpenCode's required fields; room-only fields and part types are left out", () => {
    const file = toOpencodeExport(record());
    expect(file.info).toMatchObject({ id: "ses_agentroom_s1", slug: "fix-it", title: "Fix it", projectID: "global", time: { created: T0, updated: T0 + 5000 } });
    const [user, answer] = file.messages;
    expect(user!.info).toMatchObject({ id: "msg_1", sessionID: "ses_agentroom_s1", agent: "build", model: { providerID: "anthropic", modelID: "claude" } });
    expect(answer!.info).toMatchObject({ parentID: "msg_1", providerID: "anthropic", modelID: "claude", mode: "build", cost: 0, sessionID: "ses_agentroom_s1" });
    expect(answer!.parts.map((p) => p.type)).toEqual(["reasoning", "text", "tool"]);
    for (const p of answer!.parts) expect(p).toMatchObject({ sessionID: "ses_agentroom_s1", messageID: "msg_2" });
    expect(JSON.stringify(file)).not.toContain("truncated");
  });

  it("credits a prompt by its text, a file name from the title, and formats by name", () => {
    const r = record();
    expect(r.prompts.msg_1?.by).toBe("dana");
    expect(r.prompts.msg_1?.startedAt).toBe(T0 + 900);
    expect(exportFileName({ id: "s1", title: "Fix it!" }, "md")).toBe("fix-it-s1.md");
    expect(exportFileName({ id: "s1", title: "" }, "json")).toBe("s1.json");
    expect(ExportFormatSchema.safeParse("pdf").success).toBe(false);
  });
});
