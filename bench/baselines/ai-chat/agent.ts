/**
 * Baseline 2: Cloudflare's `AIChatAgent`, used the documented way (`streamText(...)
 * .toUIMessageStreamResponse()` from `onChatMessage`), with a mock language model instead of a
 * provider so no network is involved. Every connected client receives the response stream, as
 * AIChatAgent broadcasts it.
 *
 * The mock model emits `count` text deltas at `rate` per second. Each delta carries the same marker
 * the other systems' agents send, `~<index>@<epoch ms>~`, stamped when the model emits it, so the
 * load generator measures model → viewer latency and loss exactly as for agentroom.
 */
import { AIChatAgent } from "@cloudflare/ai-chat";
import { streamText, type LanguageModel } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { setTimeout as sleep } from "node:timers/promises";

type StreamPart =
  | { type: "stream-start"; warnings: [] }
  | { type: "text-start"; id: string }
  | { type: "text-delta"; id: string; delta: string }
  | { type: "text-end"; id: string }
  | {
      type: "finish";
      finishReason: { unified: "stop"; raw: string };
      usage: {
        inputTokens: { total: number; noCache: number; cacheRead: number; cacheWrite: number };
        outputTokens: { total: number; text: number; reasoning: number };
      };
    };


/** A paced token stream: delta i is due at start + i / rate seconds; late deltas go out at once. */
function pacedTokens(count: number, rate: number, pad: string): ReadableStream<StreamPart> {
  let i = -1;
  let start = 0;
  return new ReadableStream<StreamPart>({
    async pull(controller) {
      if (i === -1) {
        controller.enqueue({ type: "stream-start", warnings: [] });
        controller.enqueue({ type: "text-start", id: "t1" });
        start = Date.now();
        i = 0;
        return;
      }
      if (i >= count) {
        controller.enqueue({ type: "text-end", id: "t1" });
        controller.enqueue({
          type: "finish",
          finishReason: { unified: "stop", raw: "stop" },
          usage: {
            inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
            outputTokens: { total: count, text: count, reasoning: 0 },
          },
        });
        controller.close();
        return;
      }
      const due = start + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      controller.enqueue({ type: "text-delta", id: "t1", delta: `~${i}@${Date.now()}~${pad}` });
      i++;
    },
  });
}

export class BenchChat extends AIChatAgent {
  override async onChatMessage(
    _onFinish: unknown,
    options?: { body?: Record<string, unknown> },
  ): Promise<Response> {
    const body = options?.body ?? {};
    const count = Math.max(1, Math.min(1_000_000, Number(body.count) || 100));
    const rate = Math.max(1, Math.min(10_000, Number(body.rate) || 100));
    const pad = typeof body.pad === "string" ? body.pad.slice(0, 1000) : " ";
    const model = new MockLanguageModelV3({
      doStream: async () => ({ stream: pacedTokens(count, rate, pad) }),
    }) as unknown as LanguageModel;
    return streamText({ model, prompt: "bench" }).toUIMessageStreamResponse();
  }
}
