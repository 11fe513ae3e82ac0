/** The floor (bench/baselines/floor): the agent's bytes forwarded unchanged to every viewer. */
import type { FanoutRoom } from "../lib/fanout.ts";
import { closeSocket, connect, toWs, uid } from "./ws-util.ts";

export const FLOOR_CONFIG = "bench/baselines/floor/wrangler.jsonc";

export function floorRoom(base: string): FanoutRoom {
  const url = `${toWs(base)}/floor/${uid("floor")}`;
  return {
    viewer: () => ({ url }),
    isReady: (text) => text === "ready",
    async startAgent() {
      const ws = await connect({ url: `${url}?role=agent` });
      return {
        send: (_i, delta) => ws.send(delta),
        close: () => closeSocket(ws),
      };
    },
  };
}
