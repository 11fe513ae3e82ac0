/** The naive baseline (bench/baselines/naive): one frame per event, whole message rewritten per delta. */
import type { FanoutRoom } from "../lib/fanout.ts";
import { closeSocket, connect, toWs, uid } from "./ws-util.ts";

export const NAIVE_CONFIG = "bench/baselines/naive/wrangler.jsonc";

export function naiveRoom(base: string): FanoutRoom {
  const url = `${toWs(base)}/parties/naive-room/${uid("naive")}`;
  return {
    viewer: () => ({ url }),
    isReady: (text) => text.startsWith('{"type":"snapshot"'),
    async startAgent() {
      const ws = await connect({ url: `${url}?role=agent` });
      ws.send(JSON.stringify({ type: "message", message: { id: "m1", role: "assistant", parts: [{ id: "p1", type: "text", text: "" }] } }));
      return {
        send: (_i, delta) => ws.send(JSON.stringify({ type: "delta", messageID: "m1", partID: "p1", delta })),
        close: () => closeSocket(ws),
      };
    },
  };
}
