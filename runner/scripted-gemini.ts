/**
 * The scripted model's Gemini API shape, so the real Gemini CLI (`gemini --acp`) runs the same
 * canned runs as OpenCode does, offline (`GOOGLE_GEMINI_BASE_URL` pointed here, any API key):
 *
 *   POST /v1beta/models/{model}:streamGenerateContent?alt=sse   a turn: text, thought and functionCall parts
 *   POST /v1beta/models/{model}:generateContent                 side requests (with model "auto", the
 *        router's complexity check before every turn; next-speaker and loop checks): JSON shaped by
 *        the request's responseJsonSchema, else plain text
 *   POST /v1beta/models/{model}:countTokens                     an estimate
 *
 * The run is chosen as for chat completions (runner/scripted-turn.ts): from the last user text
 * (Gemini CLI's `<session_context>` block removed), the step being the number of model turns after
 * it. Gemini CLI's tool names map to the canned runs' (`write_file` is `write`, `run_shell_command`
 * is `bash`), and the canned arguments take its field names (`file_path`).
 */
import type { ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { userWords, type Action } from "./scripted-model.ts";
import { longPieces, textPieces, toollessAnswer, turnActions } from "./scripted-turn.ts";

interface Part {
  text?: string;
  thought?: boolean;
  functionCall?: { name?: string; args?: Record<string, unknown> };
  functionResponse?: { name?: string; response?: Record<string, unknown> };
}
interface Content {
  role?: string;
  parts?: Part[];
}
type Schema = { type?: string; properties?: Record<string, Schema>; enum?: unknown[]; minimum?: number };
export interface GeminiRequest {
  contents?: Content[];
  systemInstruction?: Content;
  tools?: { functionDeclarations?: { name?: string }[] }[];
  generationConfig?: { responseJsonSchema?: Schema; responseSchema?: Schema };
}

export interface GeminiServeOptions {
  chunkDelayMs: number;
  slowChunkDelayMs: number;
  slowChunks: number;
  requestId: number;
}

/** Gemini CLI's tool → the canned runs' tool. */
const ALIASES: Record<string, string> = { write_file: "write", run_shell_command: "bash", write_todos: "todowrite", ask_user: "question" };
const SESSION_CONTEXT = /<session_context>[\s\S]*?<\/session_context>/g;

const texts = (c: Content | undefined): string => (c?.parts ?? []).filter((p) => typeof p.text === "string" && !p.thought).map((p) => p.text!).join("\n");
const isUserText = (c: Content) => c.role === "user" && (c.parts ?? []).some((p) => typeof p.text === "string") && !(c.parts ?? []).some((p) => p.functionResponse);

function responseText(r: Record<string, unknown> | undefined): string {
  if (!r) return "";
  const v = r.output ?? r.error ?? r.content;
  return typeof v === "string" ? v : JSON.stringify(r);
}

/** Canned tool arguments in Gemini CLI's field names. */
function argsFor(tool: string, args: Record<string, unknown>): Record<string, unknown> {
  if (tool === "write") return { file_path: args.filePath, content: args.content };
  if (tool === "todowrite") return { todos: (args.todos as { content: string; status: string }[]).map((t) => ({ description: t.content, status: t.status })) };
  return args;
}

/**
 * A value the schema accepts. Enums answer "user" where offered: the next-speaker check must hand
 * the turn back, not ask the model to go on. Numbers are 1 (the router's complexity score runs
 * 1-100), but a confidence is 0 (the loop check's: no loop).
 */
export function sampleFor(schema: Schema | undefined, key = ""): unknown {
  if (!schema) return null;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum.includes("user") ? "user" : schema.enum[0];
  switch (String(schema.type ?? "").toLowerCase()) {
    case "object":
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, sampleFor(v, k)]));
    case "array":
      return [];
    case "integer":
    case "number":
      return /confidence/i.test(key) ? 0 : (schema.minimum ?? 1);
    case "boolean":
      return false;
    default:
      return "scripted";
  }
}

/** The canned run's actions for this request, and the tool names it may call (canned → Gemini CLI's). */
export function geminiActions(req: GeminiRequest, opts: GeminiServeOptions): { actions: Action[]; tools: Map<string, string>; script: string } {
  const contents = req.contents ?? [];
  const tools = new Map<string, string>();
  for (const t of req.tools ?? []) for (const f of t.functionDeclarations ?? []) if (f.name) tools.set(ALIASES[f.name] ?? f.name, f.name);
  const lastUserIdx = contents.findLastIndex(isUserText);
  const lastUser = userWords(texts(contents[lastUserIdx]).replace(SESSION_CONTEXT, ""));
  if (tools.size === 0) {
    return { actions: toollessAnswer(texts(req.systemInstruction), lastUser), tools, script: "plain" };
  }
  const after = contents.slice(lastUserIdx + 1);
  const directory = contents
    .map(texts)
    .join("\n")
    .match(/Workspace Directories:\*\*\s*\n\s*- (\S+)/)?.[1];
  const { plan, actions } = turnActions(
    {
      prompt: lastUser,
      tools: new Set(tools.keys()),
      directory,
      toolResults: after.flatMap((c) => (c.parts ?? []).filter((p) => p.functionResponse).map((p) => responseText(p.functionResponse!.response))),
      slowChunkDelayMs: opts.slowChunkDelayMs,
      slowChunks: opts.slowChunks,
    },
    after.filter((c) => c.role === "model").length,
  );
  return { actions, tools, script: plan.name };
}

const errorBody = (status: number, message: string) => ({ error: { code: status, message, status: status === 400 ? "INVALID_ARGUMENT" : "INTERNAL" } });

/** Streams one turn as `alt=sse` chunks; the last chunk carries finishReason and usage. */
export async function streamGemini(req: GeminiRequest, model: string, res: ServerResponse, opts: GeminiServeOptions): Promise<void> {
  const { actions, tools } = geminiActions(req, opts);
  const first = actions[0];
  if (first?.kind === "error") {
    res.writeHead(first.status, { "content-type": "application/json" });
    res.end(JSON.stringify(errorBody(first.status, first.message)));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  res.flushHeaders();
  let gone = false;
  res.on("close", () => (gone = true));
  const responseId = `scripted-${opts.requestId}`;
  let outChars = 0;
  // One chunk is held back so the finish reason rides on the last one with content (a chunk with
  // no parts is not a valid Gemini response).
  let held: Part[] | null = null;
  const write = (parts: Part[], finish?: boolean) => {
    if (gone) return;
    const usage = { promptTokenCount: 120, candidatesTokenCount: Math.max(1, Math.ceil(outChars / 4)), totalTokenCount: 120 + Math.ceil(outChars / 4) };
    const candidate = { content: { role: "model", parts }, index: 0, ...(finish ? { finishReason: "STOP" } : {}) };
    res.write(`data: ${JSON.stringify({ candidates: [candidate], ...(finish ? { usageMetadata: usage } : {}), modelVersion: model, responseId })}\n\n`);
  };
  const push = async (parts: Part[], delayMs: number): Promise<boolean> => {
    await sleep(delayMs);
    if (gone) return false;
    if (held) write(held);
    held = parts;
    for (const p of parts) outChars += p.text?.length ?? 0;
    return true;
  };
  for (const a of actions) {
    if (a.kind === "text") {
      for (const t of textPieces(a.text, a.units)) if (!(await push([{ text: t }], a.delayMs ?? opts.chunkDelayMs))) return;
    } else if (a.kind === "reasoning") {
      for (const t of textPieces(a.text)) if (!(await push([{ text: t, thought: true }], opts.chunkDelayMs))) return;
    } else if (a.kind === "long") {
      for (const t of longPieces(a.chunks)) if (!(await push([{ text: t }], a.delayMs))) return;
    } else if (a.kind === "tool") {
      if (!(await push([{ functionCall: { name: tools.get(a.name) ?? a.name, args: argsFor(a.name, a.args) } }], opts.chunkDelayMs))) return;
    } else if (a.kind === "stream-error") {
      if (held) write(held);
      if (!gone) res.write(`data: ${JSON.stringify(errorBody(500, a.message))}\n\n`);
      res.end();
      return;
    }
  }
  write(held ?? [{ text: "" }], true);
  res.end();
}

/** Answers one `POST /v1beta/models/{model}:{method}`. */
export async function handleGemini(path: string, body: string, res: ServerResponse, opts: GeminiServeOptions): Promise<void> {
  const m = path.match(/\/models\/([^/:]+):(\w+)$/);
  const send = (status: number, obj: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(obj));
  };
  if (!m) {
    send(404, errorBody(404, `no route ${path}`));
    return;
  }
  const [, model, method] = m as unknown as [string, string, string];
  let req: GeminiRequest;
  try {
    req = JSON.parse(body) as GeminiRequest;
  } catch {
    send(400, errorBody(400, "body is not JSON"));
    return;
  }
  if (method === "streamGenerateContent") {
    return streamGemini(req, model, res, opts);
  }
  if (method === "countTokens") {
    send(200, { totalTokens: Math.ceil(body.length / 4) });
    return;
  }
  if (method === "generateContent") {
    const schema = req.generationConfig?.responseJsonSchema ?? req.generationConfig?.responseSchema;
    const text = schema ? JSON.stringify(sampleFor(schema)) : "ok";
    send(200, { candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }], usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 1, totalTokenCount: 11 }, modelVersion: model });
    return;
  }
  send(404, errorBody(404, `the scripted model does not implement ${method}`));
}
