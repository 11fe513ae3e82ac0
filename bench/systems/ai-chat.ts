/**
 * The AIChatAgent baseline (bench/baselines/ai-chat). The mock model inside the object paces the
 * deltas and stamps them, so the "agent" here is only the client that submits the chat request.
 */
import type { FanoutRoom } from "../lib/fanout.ts";
import { closeSocket, connect, toWs, uid } from "./ws-util.ts";

export const AI_CHAT_CONFIG = "bench/baselines/ai-chat/wrangler.jsonc";

export function aiChatRoom(base: string): FanoutRoom {
  const url = `${toWs(base)}/agents/bench-chat/${uid("chat")}`;
  return {
    viewer: () => ({ url }),
    // The Agent greets every connection (identity, state, messages) before anything else.
    isReady: () => true,
    async startAgent() {
      const ws = await connect({ url });
      return {
        async stream(count, rate, pad) {
          const body = { messages: [{ id: uid("u"), role: "user", parts: [{ type: "text", text: "bench" }] }], count, rate, pad };
          ws.send(JSON.stringify({ type: "cf_agent_use_chat_request", id: uid("req"), init: { method: "POST", body: JSON.stringify(body) } }));
          // The model streams on its own schedule; the load generator drains afterwards.
          await new Promise((r) => setTimeout(r, (count / rate) * 1000));
        },
        close: () => closeSocket(ws),
      };
    },
  };
}
