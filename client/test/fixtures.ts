/** Fixture parts and messages shaped per shared/parts.ts, for component tests and the demo page. */
import type { Message, Part } from "../../shared/parts.ts";

let n = 0;
const pid = () => `p${String(++n).padStart(4, "0")}`;

export const MSG = "m0001";

export function textPart(text: string, extra: Partial<Part> = {}): Part {
  return { id: pid(), messageID: MSG, type: "text", text, ...extra } as Part;
}

export function toolPart(tool: string, state: Record<string, unknown>, extra: Partial<Part> = {}): Part {
  return { id: pid(), messageID: MSG, type: "tool", callID: `call_${n}`, tool, state, ...extra } as Part;
}

export const T0 = 1_763_000_000_000;

export const parts = {
  text: () => textPart("Here is **bold** and `code`.\n\n```ts\nconst x: number = 1;\n```\n\n- one\n- two"),
  reasoning: (): Part => ({ id: pid(), messageID: MSG, type: "reasoning", text: "Let me think about *this*.", time: { start: T0, end: T0 + 2300 } }) as Part,
  toolPending: () => toolPart("bash", { status: "pending", input: {}, raw: "" }),
  toolRunning: () => toolPart("bash", { status: "running", input: { command: "npm test", description: "Run the tests" }, time: { start: Date.now() - 5_000 } }),
  toolCompleted: (output = "ok\n") =>
    toolPart("bash", {
      status: "completed",
      input: { command: "ls -la", description: "List files" },
      output,
      title: "List files",
      metadata: {},
      time: { start: T0, end: T0 + 1200 },
    }),
  toolError: () =>
    toolPart("read", { status: "error", input: { filePath: "/repo/missing.ts" }, error: "File not found: /repo/missing.ts", time: { start: T0, end: T0 + 40 } }),
  edit: () =>
    toolPart("edit", {
      status: "completed",
      input: { filePath: "/repo/src/add.ts", oldString: "return a - b;", newString: "return a + b;" },
      output: "Edit applied.",
      title: "src/add.ts",
      metadata: {},
      time: { start: T0, end: T0 + 300 },
    }),
  write: () =>
    toolPart("write", {
      status: "completed",
      input: { filePath: "/repo/hello.txt", content: "hello\nworld\n" },
      output: "",
      title: "hello.txt",
      metadata: {},
      time: { start: T0, end: T0 + 100 },
    }),
  stepFinish: (): Part =>
    ({ id: pid(), messageID: MSG, type: "step-finish", reason: "stop", cost: 0.0123, tokens: { input: 1200, output: 340, reasoning: 0, cache: { read: 5000, write: 0 } } }) as Part,
  file: (): Part => ({ id: pid(), messageID: MSG, type: "file", mime: "text/plain", filename: "notes.txt", url: "file:///repo/notes.txt" }) as Part,
  patch: (): Part => ({ id: pid(), messageID: MSG, type: "patch", hash: "abc123", files: ["src/a.ts", "src/b.ts"] }) as Part,
  agent: (): Part => ({ id: pid(), messageID: MSG, type: "agent", name: "plan" }) as Part,
  subtask: (): Part => ({ id: pid(), messageID: MSG, type: "subtask", prompt: "Find the bug", description: "Investigate failing test", agent: "general" }) as Part,
  retry: (): Part =>
    ({ id: pid(), messageID: MSG, type: "retry", attempt: 2, error: { name: "APIError", data: { message: "rate limited" } }, time: { created: T0 } }) as Part,
  compaction: (): Part => ({ id: pid(), messageID: MSG, type: "compaction", auto: true }) as Part,
  unknown: (): Part => ({ id: pid(), messageID: MSG, type: "hologram", beam: { color: "blue" } }) as Part,
};

export function assistantInfo(id = MSG, extra: Partial<Message> = {}): Message {
  return { id, role: "assistant", time: { created: T0, completed: T0 + 5000 }, agent: "build", modelID: "demo", ...extra } as Message;
}

export function userInfo(id: string): Message {
  return { id, role: "user", time: { created: T0 } } as Message;
}
