/**
 * The scripted model's OpenAI Responses shape (`POST /v1/responses`, streamed), so the real Codex
 * (through codex-acp) runs the same canned runs as OpenCode does, offline. Codex refuses
 * `wire_api = "chat"`, so chat completions are not enough for it.
 *
 * The run is chosen as for chat completions (runner/scripted-turn.ts): from the last user message
 * Codex's own context blocks (`<environment_context>` …) excluded, the step being the number of
 * model responses after it (a response is a run of message/reasoning/call items; tool outputs
 * separate them). Codex's tools map to the canned runs': `exec_command` (or `shell_command`) is
 * `bash`, `apply_patch` is `write` (an Add File patch), `update_plan` is `todowrite`. A shell call
 * asks for `require_escalated`, so Codex waits for approval in its default (`auto`) mode too.
 *
 * Stream events, as Codex reads them: response.created, response.output_item.added, then
 * response.output_text.delta / response.reasoning_summary_text.delta / response.custom_tool_call_input.delta
 * / response.function_call_arguments.delta, response.output_item.done (the whole item, which is
 * what Codex keeps), and response.completed (or response.failed).
 */
import type { ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { userWords, type Action } from "./scripted-model.ts";
import { longPieces, textPieces, turnActions } from "./scripted-turn.ts";

type ContentPart = { type?: string; text?: string };
export interface ResponseItem {
  type?: string;
  role?: string;
  content?: string | ContentPart[];
  name?: string;
  call_id?: string;
  output?: unknown;
}
export interface ResponsesRequest {
  model?: string;
  instructions?: string;
  input?: string | ResponseItem[];
  tools?: { type?: string; name?: string }[];
  stream?: boolean;
}

export interface OpenAIServeOptions {
  chunkDelayMs: number;
  slowChunkDelayMs: number;
  slowChunks: number;
  requestId: number;
}

/** Codex's tool → the canned runs' tool. */
const ALIASES: Record<string, string> = { exec_command: "bash", shell_command: "bash", apply_patch: "write", update_plan: "todowrite" };
/** Context Codex sends as user messages: not the user's words. */
const CONTEXT_BLOCK = /^\s*<(environment_context|user_instructions|turn_aborted|user_shell_command|permissions instructions|collaboration_mode)\b/;
const MODEL_ITEMS = new Set(["message", "reasoning", "function_call", "custom_tool_call", "local_shell_call", "web_search_call"]);

const textOf = (c: ResponseItem["content"] | unknown): string =>
  typeof c === "string" ? c : Array.isArray(c) ? (c as ContentPart[]).map((p) => (typeof p?.text === "string" ? p.text : "")).join("\n") : "";
const isUserPrompt = (i: ResponseItem) => i.type === "message" && i.role === "user" && !CONTEXT_BLOCK.test(textOf(i.content));
const isModelItem = (i: ResponseItem) => MODEL_ITEMS.has(i.type ?? "") && (i.type !== "message" || i.role === "assistant");
const outputText = (o: unknown): string => (typeof o === "string" ? o : textOf((o as { content?: unknown } | null)?.content ?? o));

/** A new file as an apply_patch Add File hunk. */
export function addFilePatch(path: string, content: string): string {
  const lines = content.replace(/\n$/, "").split("\n");
  return `*** Begin Patch\n*** Add File: ${path}\n${lines.map((l) => `+${l}`).join("\n")}\n*** End Patch\n`;
}

type Call = { kind: "function"; name: string; arguments: string } | { kind: "custom"; name: string; input: string };

/** A canned tool call in Codex's tool and argument shapes. */
function callFor(a: Extract<Action, { kind: "tool" }>, tools: Map<string, { name: string; type: string }>): Call {
  const t = tools.get(a.name) ?? { name: a.name, type: "function" };
  const args = a.args;
  let fn: Record<string, unknown> = args;
  if (a.name === "bash") {
    const command = String(args.command);
    fn = t.name === "exec_command" ? { cmd: command, sandbox_permissions: "require_escalated", justification: `Run \`${command}\`?` } : { command, sandbox_permissions: "require_escalated", justification: `Run \`${command}\`?` };
  } else if (a.name === "write") {
    const patch = addFilePatch(String(args.filePath), String(args.content));
    if (t.type === "custom") return { kind: "custom", name: t.name, input: patch };
    fn = { input: patch };
  } else if (a.name === "todowrite") {
    fn = { plan: (args.todos as { content: string; status: string }[]).map((x) => ({ step: x.content, status: x.status })) };
  }
  return { kind: "function", name: t.name, arguments: JSON.stringify(fn) };
}

/** The canned run's actions for this request, and the tools it may call (canned → Codex's). */
export function responsesActions(req: ResponsesRequest, opts: OpenAIServeOptions): { actions: Action[]; tools: Map<string, { name: string; type: string }>; script: string; step: number } {
  const input: ResponseItem[] = typeof req.input === "string" ? [{ type: "message", role: "user", content: req.input }] : (req.input ?? []);
  const tools = new Map<string, { name: string; type: string }>();
  for (const t of req.tools ?? []) if (t.name && ALIASES[t.name] && !tools.has(ALIASES[t.name]!)) tools.set(ALIASES[t.name]!, { name: t.name, type: t.type ?? "function" });
  const lastUserIdx = input.findLastIndex(isUserPrompt);
  const after = input.slice(lastUserIdx + 1);
  let step = 0;
  after.forEach((item, i) => {
    if (isModelItem(item) && !(i > 0 && isModelItem(after[i - 1]!))) step++;
  });
  const { plan, actions } = turnActions(
    {
      prompt: userWords(lastUserIdx >= 0 ? textOf(input[lastUserIdx]!.content) : ""),
      tools: new Set(tools.keys()),
      directory: input.map((i) => textOf(i.content)).join("\n").match(/<cwd>([^<]+)<\/cwd>/)?.[1],
      toolResults: after.filter((i) => i.type === "function_call_output" || i.type === "custom_tool_call_output").map((i) => outputText(i.output)),
      slowChunkDelayMs: opts.slowChunkDelayMs,
      slowChunks: opts.slowChunks,
    },
    step,
  );
  return { actions, tools, script: plan.name, step };
}

const errorBody = (type: string, message: string, code: string) => ({ error: { type, message, code, param: null } });

/** Streams one response as Responses API SSE events. */
export async function streamResponses(req: ResponsesRequest, res: ServerResponse, opts: OpenAIServeOptions): Promise<void> {
  const { actions, tools } = responsesActions(req, opts);
  const first = actions[0];
  if (first?.kind === "error") {
    res.writeHead(first.status, { "content-type": "application/json" });
    res.end(JSON.stringify(errorBody("invalid_request_error", first.message, "scripted_error")));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  res.flushHeaders();
  let gone = false;
  res.on("close", () => (gone = true));
  let seq = 0;
  const send = (type: string, data: Record<string, unknown>): boolean => {
    if (gone) return false;
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`);
    return true;
  };
  const id = `resp_scripted_${opts.requestId}`;
  const model = req.model ?? "demo";
  const response = (status: string, output: unknown[], extra: Record<string, unknown> = {}) => ({ id, object: "response", created_at: Math.floor(Date.now() / 1000), status, model, output, ...extra });
  const output: Record<string, unknown>[] = [];
  let outChars = 0;
  send("response.created", { response: response("in_progress", []) });

  /** One output item: added, its deltas (each after a pause), done. */
  const item = async (added: Record<string, unknown>, deltaType: string, deltas: string[], delayMs: number, done: Record<string, unknown>, extra: (i: number) => Record<string, unknown> = () => ({})): Promise<boolean> => {
    const output_index = output.length;
    if (!send("response.output_item.added", { output_index, item: added })) return false;
    for (const d of deltas) {
      await sleep(delayMs);
      if (!send(deltaType, { item_id: added.id, output_index, delta: d, ...extra(output_index) })) return false;
      outChars += d.length;
    }
    output.push(done);
    return send("response.output_item.done", { output_index, item: done });
  };
  const message = async (pieces: string[], delayMs: number): Promise<boolean> => {
    const mid = `msg_${opts.requestId}_${output.length}`;
    const text = pieces.join("");
    return item({ type: "message", id: mid, role: "assistant", status: "in_progress", content: [] }, "response.output_text.delta", pieces, delayMs, { type: "message", id: mid, role: "assistant", status: "completed", content: [{ type: "output_text", text, annotations: [] }] }, () => ({ content_index: 0 }));
  };

  // Consecutive text actions are one message, as a model writes them.
  let pending: { pieces: string[]; delayMs: number } | null = null;
  const flush = async (): Promise<boolean> => {
    const p = pending;
    pending = null;
    return p ? message(p.pieces, p.delayMs) : true;
  };
  for (const a of actions) {
    if (a.kind === "text" || a.kind === "long") {
      const pieces = a.kind === "text" ? textPieces(a.text, a.units) : longPieces(a.chunks);
      const delayMs = a.kind === "text" ? (a.delayMs ?? opts.chunkDelayMs) : a.delayMs;
      if (pending && pending.delayMs === delayMs) pending.pieces.push(...pieces);
      else {
        if (!(await flush())) return;
        pending = { pieces, delayMs };
      }
      continue;
    }
    if (!(await flush())) return;
    if (a.kind === "reasoning") {
      const rid = `rs_${opts.requestId}_${output.length}`;
      const pieces = textPieces(a.text);
      const ok = await item({ type: "reasoning", id: rid, summary: [] }, "response.reasoning_summary_text.delta", pieces, opts.chunkDelayMs, { type: "reasoning", id: rid, summary: [{ type: "summary_text", text: pieces.join("") }] }, () => ({ summary_index: 0 }));
      if (!ok) return;
    } else if (a.kind === "tool") {
      const call = callFor(a, tools);
      const call_id = `call_${opts.requestId}_${output.length}`;
      const fid = `fc_${opts.requestId}_${output.length}`;
      const body = call.kind === "custom" ? call.input : call.arguments;
      const pieces = body.match(/[\s\S]{1,64}/g) ?? [];
      const ok =
        call.kind === "custom"
          ? await item({ type: "custom_tool_call", id: fid, call_id, name: call.name, input: "", status: "in_progress" }, "response.custom_tool_call_input.delta", pieces, 2, { type: "custom_tool_call", id: fid, call_id, name: call.name, input: call.input, status: "completed" })
          : await item({ type: "function_call", id: fid, call_id, name: call.name, arguments: "", status: "in_progress" }, "response.function_call_arguments.delta", pieces, 2, { type: "function_call", id: fid, call_id, name: call.name, arguments: call.arguments, status: "completed" });
      if (!ok) return;
    } else if (a.kind === "stream-error") {
      send("response.failed", { response: response("failed", output, { error: { code: "server_error", message: a.message } }) });
      res.end();
      return;
    }
  }
  if (!(await flush())) return;
  const outTokens = Math.max(1, Math.ceil(outChars / 4));
  send("response.completed", { response: response("completed", output, { usage: { input_tokens: 120, input_tokens_details: { cached_tokens: 0 }, output_tokens: outTokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 120 + outTokens } }) });
  res.end();
}

/** Answers one `POST /v1/responses`. */
export async function handleResponses(body: string, res: ServerResponse, opts: OpenAIServeOptions): Promise<void> {
  let req: ResponsesRequest;
  try {
    req = JSON.parse(body) as ResponsesRequest;
  } catch {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify(errorBody("invalid_request_error", "body is not JSON", "invalid_json")));
    return;
  }
  if (req.stream === false) {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify(errorBody("invalid_request_error", "the scripted model streams Responses only (stream: true)", "stream_required")));
    return;
  }
  await streamResponses(req, res, opts);
}
