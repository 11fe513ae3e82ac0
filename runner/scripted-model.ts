/**
 * The scripted model: an OpenAI-compatible streaming endpoint that plays canned agent runs, so the
 * real OpenCode binary can run real tools with no network. It is the model `npm start` uses when no
 * provider key is configured (labelled `demo` in the session's metadata) and the fixture every
 * runner test uses.
 *
 *   POST /v1/chat/completions   streaming (SSE) or plain chat completions
 *   GET  /v1/models             the one model it offers
 *   GET  /_scripted/chunks      per-chunk send timestamps (for chain-latency measurement)
 *   GET  /_scripted/requests    a summary of every request seen
 *   POST /_scripted/reset       forget recorded chunks and requests
 *
 * Which run it plays depends on keywords in the last user message (see `planFor`). The plan is
 * recomputed from the conversation on every request — the step is the number of assistant turns
 * after the last user message — so the model keeps no per-session state and a restarted OpenCode
 * that resends a conversation gets the same answer.
 *
 * Library: `startScriptedModel({port: 0})`; CLI: `node runner/scripted-model.ts [--port N]`.
 *
 * The canned runs themselves are runner/scripted-runs.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { LONG_WORDS, chunkText, closingText, planFor, titleFor, userWords, type Action } from "./scripted-runs.ts";

// The runs' vocabulary, for the other providers' shapes and the tests that import it from here.
export { LONG_WORDS, chunkText, closingText, emojiText, planFor, titleFor, userWords, writeContent } from "./scripted-runs.ts";
export type { Action, Plan, PlanContext, Step } from "./scripted-runs.ts";

export const SCRIPTED_MODEL_ID = "demo";
export const SCRIPTED_PROVIDER_ID = "scripted";

export interface ScriptedModelOptions {
  port?: number;
  host?: string;
  /** Pause between streamed chunks of ordinary scripts, ms. */
  chunkDelayMs?: number;
  /** Pause between chunks of the long answer ("slow"/"long"), ms; a prompt may override it. */
  slowChunkDelayMs?: number;
  /** Chunks in the long answer; a prompt may override it with `chunks=N`. */
  slowChunks?: number;
  /** Keep at most this many chunk records (oldest dropped). */
  maxChunkRecords?: number;
}

/** One streamed text/reasoning chunk as the model sent it. */
export interface ChunkRecord {
  requestId: number;
  index: number;
  kind: "text" | "reasoning";
  /** The chunk's text. */
  text: string;
  /** Length of this kind's text in this response after the chunk: viewers match on it. */
  endOffset: number;
  /** Wall-clock send time in ms (performance.timeOrigin + performance.now(), sub-ms). */
  t: number;
}

export interface RequestRecord {
  id: number;
  kind: "title" | "plain" | "script";
  script?: string;
  step?: number;
  prompt: string;
  tools: number;
  t: number;
}

export interface ScriptedModel {
  url: string;
  /** Base URL OpenCode's provider config takes (`…/v1`). */
  baseURL: string;
  port: number;
  chunks(): ChunkRecord[];
  requests(): RequestRecord[];
  reset(): void;
  close(): Promise<void>;
}

// ───────────────────────────── request shape (the parts we read) ─────────────────────────────

type ContentPart = { type?: string; text?: string };
interface ChatMessage {
  role: string;
  content?: string | ContentPart[] | null;
  tool_calls?: { id?: string; function?: { name?: string; arguments?: string } }[];
  tool_call_id?: string;
}
interface ChatRequest {
  model?: string;
  messages?: ChatMessage[];
  tools?: { type?: string; function?: { name?: string } }[];
  stream?: boolean;
}

export const nowMs = (): number => performance.timeOrigin + performance.now();

function textOf(content: ChatMessage["content"]): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p) => (typeof p?.text === "string" ? p.text : "")).join("\n");
}

interface Emitter {
  /** Sends one SSE data line; false if the client went away. */
  send(obj: unknown): boolean;
  closed(): boolean;
}

/** A pause between chunks; none at 0 (the fastest runs stay on one tick). */
const pause = (ms: number): Promise<unknown> | undefined => (ms > 0 ? sleep(ms) : undefined);

export async function startScriptedModel(options: ScriptedModelOptions = {}): Promise<ScriptedModel> {
  const chunkDelayMs = options.chunkDelayMs ?? 15;
  const slowChunkDelayMs = options.slowChunkDelayMs ?? 40;
  const slowChunks = options.slowChunks ?? 250;
  const maxChunkRecords = options.maxChunkRecords ?? 200_000;
  let chunkRecords: ChunkRecord[] = [];
  let requestRecords: RequestRecord[] = [];
  let nextRequestId = 1;

  const record = (r: ChunkRecord): void => {
    chunkRecords.push(r);
    if (chunkRecords.length > maxChunkRecords) chunkRecords = chunkRecords.slice(-Math.floor(maxChunkRecords / 2));
  };

  async function streamCompletion(req: ChatRequest, res: ServerResponse, requestId: number): Promise<void> {
    const messages = req.messages ?? [];
    const toolNames = new Set((req.tools ?? []).map((t) => t.function?.name ?? "").filter(Boolean));
    const lastUserIdx = messages.map((m) => m.role).lastIndexOf("user");
    const lastUser = lastUserIdx >= 0 ? textOf(messages[lastUserIdx]?.content) : "";
    const system = messages.filter((m) => m.role === "system").map((m) => textOf(m.content)).join("\n");
    const after = lastUserIdx >= 0 ? messages.slice(lastUserIdx + 1) : [];
    const step = after.filter((m) => m.role === "assistant").length;
    const toolResults = after.filter((m) => m.role === "tool").map((m) => textOf(m.content));
    const created = Math.floor(Date.now() / 1000);
    const id = `chatcmpl-scripted-${requestId}`;
    const model = req.model ?? SCRIPTED_MODEL_ID;

    const isTitle = /title generator/i.test(system);
    let actions: Action[];
    let kind: RequestRecord["kind"] = "script";
    let scriptName: string | undefined;
    if (isTitle) {
      kind = "title";
      actions = [{ kind: "text", text: titleFor(lastUser.replace(/^[\s\S]*?:\s*\n/, "")) }];
    } else if (toolNames.size === 0) {
      kind = "plain";
      actions = [{ kind: "text", text: "Summary: a scripted demo conversation." }];
    } else {
      const plan = planFor({
        prompt: userWords(lastUser),
        tools: toolNames,
        directory: system.match(/Working directory: (\S+)/)?.[1],
        toolResults,
        slowChunkDelayMs,
        slowChunks,
      });
      scriptName = plan.name;
      const s = plan.steps[Math.min(step, plan.steps.length - 1)];
      actions = s && s.actions.length ? s.actions : [{ kind: "text", text: closingText(toolResults) }];
      if (step >= plan.steps.length) actions = [{ kind: "text", text: closingText(toolResults) }];
    }
    requestRecords.push({ id: requestId, kind, script: scriptName, step, prompt: userWords(lastUser).slice(0, 200), tools: toolNames.size, t: nowMs() });
    if (requestRecords.length > 10_000) requestRecords = requestRecords.slice(-5_000);

    const first = actions[0];
    if (first?.kind === "error") {
      res.writeHead(first.status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: first.message, type: "invalid_request_error", code: "scripted_error" } }));
      return;
    }

    if (!req.stream) {
      // Plain (non-streaming) completion: text only; OpenCode streams, so this exists for tools like curl.
      const text = actions.map((a) => (a.kind === "text" ? a.text : "")).join("");
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id,
          object: "chat.completion",
          created,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
          usage: { prompt_tokens: 10, completion_tokens: text.length, total_tokens: 10 + text.length },
        }),
      );
      return;
    }

    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.flushHeaders();
    let gone = false;
    res.on("close", () => {
      gone = true;
    });
    const em: Emitter = {
      send(obj) {
        if (gone) return false;
        res.write(`data: ${JSON.stringify(obj)}\n\n`);
        return true;
      },
      closed: () => gone,
    };
    const delta = (d: Record<string, unknown>, finish: string | null = null) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices: [{ index: 0, delta: d, finish_reason: finish }],
    });

    em.send(delta({ role: "assistant", content: "" }));
    let index = 0;
    let textLen = 0;
    let reasoningLen = 0;
    let completionChars = 0;
    let toolIndex = 0;
    const sendText = async (text: string, kindOf: "text" | "reasoning", delayMs: number, units?: number): Promise<boolean> => {
      const pieces = units ? Array.from({ length: Math.ceil(text.length / units) }, (_, i) => text.slice(i * units, (i + 1) * units)) : chunkText(text);
      for (const piece of pieces) {
        if (em.closed()) return false;
        await pause(delayMs);
        if (em.closed()) return false;
        if (kindOf === "text") textLen += piece.length;
        else reasoningLen += piece.length;
        completionChars += piece.length;
        record({ requestId, index: index++, kind: kindOf, text: piece, endOffset: kindOf === "text" ? textLen : reasoningLen, t: nowMs() });
        em.send(delta(kindOf === "text" ? { content: piece } : { reasoning_content: piece }));
      }
      return true;
    };

    for (const a of actions) {
      if (em.closed()) return;
      if (a.kind === "text") {
        if (!(await sendText(a.text, "text", a.delayMs ?? chunkDelayMs, a.units))) return;
      } else if (a.kind === "reasoning") {
        if (!(await sendText(a.text, "reasoning", chunkDelayMs))) return;
      } else if (a.kind === "long") {
        for (let i = 0; i < a.chunks; i++) {
          const word = LONG_WORDS[i % LONG_WORDS.length] ?? "word";
          const piece = (i % 12 === 11 ? ".\n\n" : " ") + word;
          if (!(await sendText(i === 0 ? "Streaming a long answer:" + piece : piece, "text", a.delayMs))) return;
        }
      } else if (a.kind === "tool") {
        await pause(chunkDelayMs);
        const callId = `call_${requestId}_${toolIndex}`;
        const args = JSON.stringify(a.args);
        em.send(delta({ tool_calls: [{ index: toolIndex, id: callId, type: "function", function: { name: a.name, arguments: "" } }] }));
        // Arguments arrive in pieces, as real providers send them (large ones in at most ~200).
        const step = Math.max(24, Math.ceil(args.length / 200));
        for (let i = 0; i < args.length; i += step) {
          await pause(Math.min(chunkDelayMs, 5));
          if (em.closed()) return;
          em.send(delta({ tool_calls: [{ index: toolIndex, function: { arguments: args.slice(i, i + step) } }] }));
        }
        toolIndex++;
      } else if (a.kind === "stream-error") {
        await pause(chunkDelayMs);
        em.send({ error: { message: a.message, type: "server_error", code: "scripted_stream_error" } });
        res.end();
        return;
      }
    }
    em.send(delta({}, toolIndex > 0 ? "tool_calls" : "stop"));
    const completion = Math.max(1, Math.ceil(completionChars / 4));
    em.send({ id, object: "chat.completion.chunk", created, model, choices: [], usage: { prompt_tokens: 120, completion_tokens: completion, total_tokens: 120 + completion } });
    if (!em.closed()) res.write("data: [DONE]\n\n");
    res.end();
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    return Buffer.concat(parts).toString("utf8");
  }

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname.replace(/\/+$/, "");
    void (async () => {
      try {
        if (req.method === "GET" && path.endsWith("/models")) {
          return json(res, 200, { object: "list", data: [{ id: SCRIPTED_MODEL_ID, object: "model", created: 0, owned_by: "agentroom" }] });
        }
        if (req.method === "POST" && path.endsWith("/chat/completions")) {
          let body: ChatRequest;
          try {
            body = JSON.parse(await readBody(req)) as ChatRequest;
          } catch {
            return json(res, 400, { error: { message: "body is not JSON", type: "invalid_request_error" } });
          }
          return await streamCompletion(body, res, nextRequestId++);
        }
        if (req.method === "POST" && path.endsWith("/v1/messages")) {
          // Anthropic Messages (Claude Code): runner/scripted-anthropic.ts.
          const { handleAnthropic } = await import("./scripted-anthropic.ts");
          const requestId = nextRequestId++;
          requestRecords.push({ id: requestId, kind: "script", script: "anthropic", step: 0, prompt: "", tools: 0, t: nowMs() });
          return await handleAnthropic(req, res, await readBody(req), { chunkDelayMs, slowChunkDelayMs, slowChunks, requestId });
        }
        if (req.method === "POST" && path.startsWith("/v1beta/models/")) {
          // Gemini API (Gemini CLI): runner/scripted-gemini.ts.
          const { handleGemini } = await import("./scripted-gemini.ts");
          const requestId = nextRequestId++;
          requestRecords.push({ id: requestId, kind: "script", script: `gemini ${path.split(":").at(-1)}`, step: 0, prompt: "", tools: 0, t: nowMs() });
          return await handleGemini(path, await readBody(req), res, { chunkDelayMs, slowChunkDelayMs, slowChunks, requestId });
        }
        if (req.method === "POST" && path.endsWith("/v1/responses")) {
          // OpenAI Responses (Codex): runner/scripted-openai.ts.
          const { handleResponses } = await import("./scripted-openai.ts");
          const requestId = nextRequestId++;
          requestRecords.push({ id: requestId, kind: "script", script: "responses", step: 0, prompt: "", tools: 0, t: nowMs() });
          return await handleResponses(await readBody(req), res, { chunkDelayMs, slowChunkDelayMs, slowChunks, requestId });
        }
        if (req.method === "GET" && path === "/_scripted/chunks") {
          const since = Number(url.searchParams.get("requestId") ?? "0");
          return json(res, 200, chunkRecords.filter((c) => c.requestId >= since));
        }
        if (req.method === "GET" && path === "/_scripted/requests") return json(res, 200, requestRecords);
        if (req.method === "POST" && path === "/_scripted/reset") {
          chunkRecords = [];
          requestRecords = [];
          return json(res, 200, { ok: true });
        }
        json(res, 404, { error: { message: `no route ${req.method} ${path}`, type: "not_found" } });
      } catch (e) {
        if (!res.headersSent) json(res, 500, { error: { message: String(e), type: "server_error" } });
        else res.end();
      }
    })();
  });
  // Long answers keep sockets open; do not let Node's default timeouts cut them.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${options.host ?? "127.0.0.1"}:${port}`;
  return {
    url,
    baseURL: `${url}/v1`,
    port,
    chunks: () => chunkRecords.slice(),
    requests: () => requestRecords.slice(),
    reset: () => {
      chunkRecords = [];
      requestRecords = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// CLI: `node runner/scripted-model.ts --port 4010 --delay 15`
if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const m = await startScriptedModel({
    port: Number(arg("port") ?? process.env.SCRIPTED_MODEL_PORT ?? 0),
    chunkDelayMs: arg("delay") ? Number(arg("delay")) : undefined,
  });
  console.log(`scripted model listening on ${m.baseURL}`);
  const stop = (): void => void m.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
