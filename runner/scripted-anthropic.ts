/**
 * The scripted model's Anthropic Messages shape (`POST /v1/messages`, streamed), so the real
 * Claude Code (through claude-code-acp) runs the same canned runs as OpenCode does, offline.
 *
 * The run is chosen as for chat completions (`turnActions` in scripted-turn.ts): from the last user
 * message's own words, the step being the number of assistant turns after it. Tool names are
 * matched case-insensitively by their last segment (`mcp__acp__Write` is `write`), and the canned
 * arguments are given Claude Code's field names (`file_path`).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { chunkText, userWords, type Action } from "./scripted-model.ts";
import { longPieces, toollessAnswer, turnActions } from "./scripted-turn.ts";
import { setTimeout as sleep } from "node:timers/promises";

type Block = { type?: string; text?: string; content?: unknown; tool_use_id?: string };
interface AnthropicRequest {
  model?: string;
  system?: string | Block[];
  messages?: { role: string; content: string | Block[] }[];
  tools?: { name?: string }[];
  stream?: boolean;
}

const textOf = (c: string | Block[] | unknown): string =>
  typeof c === "string" ? c : Array.isArray(c) ? (c as Block[]).map((b) => (b.type === "text" ? (b.text ?? "") : b.type === "tool_result" ? textOf(b.content) : "")).join("\n") : "";
/** `mcp__acp__Write` → `write`. */
const shortName = (n: string) => (n.split("__").at(-1) ?? n).toLowerCase();

/** Canned tool arguments in Claude Code's field names. */
function argsFor(tool: string, args: Record<string, unknown>): Record<string, unknown> {
  if (tool === "write") return { file_path: args.filePath, content: args.content };
  // Claude Code's Bash tool (through claude-code-acp) requires a timeout.
  if (tool === "bash") return { ...args, timeout: 120_000 };
  if (tool === "todowrite") return { todos: (args.todos as { content: string; status: string }[]).map((t) => ({ ...t, activeForm: t.content })) };
  return args;
}

export async function serveAnthropicMessages(req: AnthropicRequest, res: ServerResponse, opts: { chunkDelayMs: number; slowChunkDelayMs: number; slowChunks: number; requestId: number }): Promise<void> {
  const messages = req.messages ?? [];
  const tools = new Map((req.tools ?? []).map((t) => [shortName(t.name ?? ""), t.name ?? ""]));
  const lastUserIdx = messages.findLastIndex((m) => m.role === "user" && (typeof m.content === "string" || m.content.some((b) => b.type === "text")));
  const lastUser = lastUserIdx >= 0 ? textOf((messages[lastUserIdx]!.content as Block[]).filter?.((b) => b.type === "text") ?? messages[lastUserIdx]!.content) : "";
  const after = messages.slice(lastUserIdx + 1);
  const step = after.filter((m) => m.role === "assistant").length;
  const toolResults = after.flatMap((m) => (Array.isArray(m.content) ? m.content.filter((b) => b.type === "tool_result").map((b) => textOf(b.content)) : []));
  const system = typeof req.system === "string" ? req.system : textOf(req.system ?? []);
  let actions: Action[];
  if (tools.size === 0) actions = toollessAnswer(system, userWords(lastUser));
  else {
    actions = turnActions(
      {
        prompt: userWords(lastUser.replace(/<system-reminder>[\s\S]*?<\/system-reminder>/g, "")),
        tools: new Set(tools.keys()),
        directory: system.match(/Working directory: (\S+)/)?.[1],
        toolResults,
        slowChunkDelayMs: opts.slowChunkDelayMs,
        slowChunks: opts.slowChunks,
      },
      step,
    ).actions;
  }
  const first = actions[0];
  if (first?.kind === "error") {
    res.writeHead(first.status, { "content-type": "application/json" });
    res.end(JSON.stringify({ type: "error", error: { type: "invalid_request_error", message: first.message } }));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  let gone = false;
  res.on("close", () => (gone = true));
  const send = (event: string, data: Record<string, unknown>) => {
    if (!gone) res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
  };
  const id = `msg_scripted_${opts.requestId}`;
  send("message_start", { message: { id, type: "message", role: "assistant", model: req.model ?? "demo", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 120, output_tokens: 1 } } });
  let index = 0;
  let usedTool = false;
  const block = async (start: Record<string, unknown>, deltas: Record<string, unknown>[], delayMs: number) => {
    send("content_block_start", { index, content_block: start });
    for (const d of deltas) {
      if (gone) return;
      await sleep(delayMs);
      send("content_block_delta", { index, delta: d });
    }
    send("content_block_stop", { index });
    index++;
  };
  for (const a of actions) {
    if (gone) return;
    if (a.kind === "text") await block({ type: "text", text: "" }, chunkText(a.text).map((t) => ({ type: "text_delta", text: t })), a.delayMs ?? opts.chunkDelayMs);
    else if (a.kind === "reasoning") await block({ type: "thinking", thinking: "", signature: "" }, [...chunkText(a.text).map((t) => ({ type: "thinking_delta", thinking: t })), { type: "signature_delta", signature: "scripted" }], opts.chunkDelayMs);
    else if (a.kind === "long") {
      await block({ type: "text", text: "" }, longPieces(a.chunks).map((t) => ({ type: "text_delta", text: t })), a.delayMs);
    } else if (a.kind === "tool") {
      const name = tools.get(a.name) ?? a.name;
      const json = JSON.stringify(argsFor(a.name, a.args));
      const pieces = json.match(/[\s\S]{1,64}/g) ?? [];
      await block({ type: "tool_use", id: `toolu_${opts.requestId}_${index}`, name, input: {} }, pieces.map((p) => ({ type: "input_json_delta", partial_json: p })), 2);
      usedTool = true;
    } else if (a.kind === "stream-error") {
      send("error", { error: { type: "api_error", message: a.message } });
      res.end();
      return;
    }
  }
  send("message_delta", { delta: { stop_reason: usedTool ? "tool_use" : "end_turn", stop_sequence: null }, usage: { output_tokens: 60 } });
  send("message_stop", {});
  res.end();
}

/** Reads and answers one `POST …/messages` request. */
export async function handleAnthropic(req: IncomingMessage, res: ServerResponse, body: string, opts: Parameters<typeof serveAnthropicMessages>[2]): Promise<void> {
  let parsed: AnthropicRequest;
  try {
    parsed = JSON.parse(body) as AnthropicRequest;
  } catch {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify({ type: "error", error: { type: "invalid_request_error", message: "body is not JSON" } }));
    return;
  }
  if (parsed.stream === false) {
    // Claude Code's side requests (quota checks, topic detection) can be plain: one text block.
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: `msg_scripted_${opts.requestId}`, type: "message", role: "assistant", model: parsed.model ?? "demo", content: [{ type: "text", text: "ok" }], stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } }));
    return;
  }
  void req;
  await serveAnthropicMessages(parsed, res, opts);
}
