/**
 * The scripted model's canned runs: which run a prompt's keywords pick (`planFor`), and each run
 * as the steps an assistant turn streams (text, reasoning, tool calls, errors). The HTTP side that
 * plays them in each provider's wire format is runner/scripted-model.ts (OpenAI), scripted-
 * anthropic.ts and scripted-gemini.ts; runner/scripted-turn.ts picks the step of a conversation.
 */
import { secretsPlan } from "./scripted-secrets.ts";

/** The user's own words: OpenCode appends `<system-reminder>` blocks (plan mode etc.) we must not read keywords from. */
export function userWords(text: string): string {
  return text.replace(/<system-reminder>[\s\S]*?<\/system-reminder>/g, "").trim();
}

// ───────────────────────────── scripts ─────────────────────────────

export type Action =
  /** `units`: stream in raw pieces of this many UTF-16 units, so characters split across chunks. */
  | { kind: "text"; text: string; delayMs?: number; units?: number }
  | { kind: "reasoning"; text: string }
  | { kind: "tool"; name: string; args: Record<string, unknown> }
  | { kind: "error"; status: number; message: string }
  | { kind: "stream-error"; message: string }
  | { kind: "long"; chunks: number; delayMs: number };

/** One assistant turn: what to stream, and how it finishes. */
export interface Step {
  actions: Action[];
}

export interface Plan {
  name: string;
  steps: Step[];
}

export interface PlanContext {
  prompt: string;
  /** Tool names offered in the request. */
  tools: Set<string>;
  /** From OpenCode's system prompt ("Working directory: …"), when present. */
  directory?: string;
  /** Content of tool results after the last user message, in order. */
  toolResults: string[];
  slowChunkDelayMs: number;
  slowChunks: number;
}

const DEFAULT_MARKDOWN = [
  "Here is a **scripted** answer from the demo model (no real LLM is involved).\n\n",
  "It streams Markdown token by token, with a list:\n\n",
  "- one\n- two\n- three\n\n",
  "and a code block:\n\n",
  "```ts\nexport function greet(name: string): string {\n  return `Hello, ${name}!`;\n}\n```\n\n",
  "Try prompts containing *write*, *bash*, *think*, *todo*, *question*, *slow* or *error* to see the other scripts.",
];

/** Splits text into small chunks the way a tokenizer-ish stream would (words with their spaces). */
export function chunkText(text: string): string[] {
  const out = text.match(/\s*\S+|\s+/g);
  return out ?? [];
}

function fileNameIn(prompt: string): string {
  const m = prompt.match(/\b([\w-]+\.(?:txt|md|js|ts|py|json|sh|html|css))\b/);
  return m?.[1] ?? "hello.txt";
}

function commandIn(prompt: string, file: string | undefined): string {
  const m = prompt.match(/`([^`]+)`/);
  if (m?.[1]) return m[1];
  return file ? `cat ${file} && ls -la` : "echo hello from bash && ls -la";
}

/** Reads `key=N` directives in a prompt (e.g. `chunks=400 delay=10`). */
function directive(prompt: string, key: string): number | undefined {
  const m = prompt.match(new RegExp(`\\b${key}=(\\d+)\\b`));
  return m?.[1] ? Number(m[1]) : undefined;
}

export function planFor(ctx: PlanContext): Plan {
  const p = ctx.prompt.toLowerCase();
  if (/\berror\b/.test(p)) {
    if (/\bmid-?stream\b|\bstream error\b/.test(p)) {
      return {
        name: "stream-error",
        steps: [{ actions: [{ kind: "text", text: "Starting an answer that will fail halfway…" }, { kind: "stream-error", message: "Scripted provider error mid-stream" }] }],
      };
    }
    return { name: "error", steps: [{ actions: [{ kind: "error", status: 400, message: "Scripted provider error: the demo model was asked to fail." }] }] };
  }
  if (/\b(slow|long)\b/.test(p)) {
    const chunks = directive(p, "chunks") ?? ctx.slowChunks;
    const delayMs = directive(p, "delay") ?? ctx.slowChunkDelayMs;
    return { name: "long", steps: [{ actions: [{ kind: "long", chunks, delayMs }] }] };
  }

  if (/\bsecrets\b/.test(p) && ctx.tools.has("bash")) return secretsPlan(ctx);
  if (/\bemoji\b/.test(p)) {
    // Emoji, ZWJ sequences, skin tones, flags and combining marks, streamed 3 UTF-16 units at a
    // time: most chunks end between the halves of a surrogate pair, as real providers' do.
    const count = directive(p, "chunks") ?? 200;
    const delayMs = directive(p, "delay") ?? ctx.slowChunkDelayMs;
    const units = directive(p, "units") ?? 3;
    return { name: "emoji", steps: [{ actions: [{ kind: "text", text: emojiText(count * units), delayMs, units }] }] };
  }

  const steps: Step[] = [];
  const intro: Action[] = [];
  if (/\b(think|reason|reasoning)\b/.test(p)) {
    intro.push({ kind: "reasoning", text: "The user wants to see reasoning. I will think step by step, briefly, and then answer." });
  }
  const file = fileNameIn(ctx.prompt);
  const abs = ctx.directory ? `${ctx.directory.replace(/\/$/, "")}/${file}` : file;
  const wantsWrite = /\bwrite\b/.test(p) && ctx.tools.has("write");
  if (/\btodos?\b/.test(p) && ctx.tools.has("todowrite")) {
    steps.push({
      actions: [
        ...intro.splice(0),
        { kind: "text", text: "Let me plan this with a todo list." },
        {
          kind: "tool",
          name: "todowrite",
          args: {
            todos: [
              { content: "Read the task", status: "completed", priority: "high" },
              { content: "Do the work", status: "in_progress", priority: "high" },
              { content: "Report back", status: "pending", priority: "medium" },
            ],
          },
        },
      ],
    });
  }
  if (wantsWrite) {
    steps.push({
      actions: [
        ...intro.splice(0),
        { kind: "text", text: `I'll create \`${file}\`.` },
        { kind: "tool", name: "write", args: { filePath: abs, content: writeContent(file, directive(p, "size")) } },
      ],
    });
  }
  if (/\bbash\b/.test(p) && ctx.tools.has("bash")) {
    steps.push({
      actions: [
        ...intro.splice(0),
        { kind: "text", text: "Now I'll run a shell command." },
        { kind: "tool", name: "bash", args: { command: commandIn(ctx.prompt, wantsWrite ? file : undefined), description: "Show the workspace" } },
      ],
    });
  }
  if (/\b(question|ask me)\b/.test(p) && ctx.tools.has("question")) {
    steps.push({
      actions: [
        ...intro.splice(0),
        {
          kind: "tool",
          name: "question",
          args: {
            questions: [
              {
                question: "Which colour should the button be?",
                header: "Colour",
                options: [
                  { label: "Blue", description: "Calm" },
                  { label: "Red", description: "Loud" },
                ],
              },
            ],
          },
        },
      ],
    });
  }
  if (steps.length === 0) {
    steps.push({ actions: [...intro.splice(0), ...DEFAULT_MARKDOWN.map((text) => ({ kind: "text" as const, text }))] });
    return { name: intro.length ? "reasoning" : "default", steps };
  }
  return { name: "tools", steps: [...steps, { actions: [] }] };
}

/** The closing text after the tools ran: it quotes the last tool result so rejections are visible. */
export function closingText(toolResults: string[]): string {
  const last = toolResults.at(-1) ?? "";
  const quoted = last.length > 400 ? last.slice(0, 400) + "…" : last;
  return `Done. The last tool reported:\n\n\`\`\`\n${quoted.replace(/```/g, "'''")}\n\`\`\`\n`;
}

export function titleFor(prompt: string): string {
  const words = userWords(prompt)
    .replace(/[`*_#>]/g, "")
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 6);
  const t = words.join(" ") || "Demo session";
  return t.charAt(0).toUpperCase() + t.slice(1);
}

const EMOJI_WORDS = ["🧑🏽‍🚀", "launch", "👩‍👩‍👧‍👦", "family", "👋🏿", "café", "e\u0301", "🇫🇷", "🇯🇵", "naïve", "😀", "𝔘nicode", "👍🏻", "Z\u0351\u0362"];

/** What the write script writes: a greeting, or (`size=N` in the prompt) about N characters of varied lines. */
export function writeContent(file: string, size?: number): string {
  const head = `Hello from the scripted model.\nThis file is ${file}.\n`;
  if (!size) return head;
  const lines = [head];
  let n = head.length;
  for (let i = 0; n < size; i++) {
    const line = `${i} ${"The quick brown fox jumps over the lazy dog. ".repeat(1 + (i % 5))}é 世界 🧑🏽\n`;
    lines.push(line);
    n += line.length;
  }
  return lines.join("");
}

/** About `units` UTF-16 units of text dense with multi-unit characters. */
export function emojiText(units: number): string {
  let out = "";
  for (let i = 0; out.length < units; i++) out += EMOJI_WORDS[i % EMOJI_WORDS.length] + (i % 9 === 8 ? "\n\n" : " ");
  return out;
}

export const LONG_WORDS =
  "the agent keeps writing a long and patient answer so that somebody can press stop while it streams one small chunk after another".split(" ");

// ───────────────────────────── the server ─────────────────────────────
