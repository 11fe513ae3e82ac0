/** Times one viewer's join: socket opened → `caught-up` received, with every byte it was sent. */
import { nowMs } from "./stats.ts";
import { openSocket, type Endpoint } from "./fanout.ts";

export type JoinResult = {
  /** Socket created → caught-up frame received (ms). */
  ms: number;
  /** Socket created → first frame (ms): upgrade, token check and the room's welcome. */
  firstFrameMs: number;
  bytes: number;
  frames: number;
  catchup: "replay" | "snapshot" | "unknown";
  /** The frames themselves, when asked for (to parse a snapshot). */
  texts?: string[];
};

export function timeJoin(ep: Endpoint, opts: { keep?: boolean; timeoutMs?: number } = {}): Promise<JoinResult> {
  return new Promise((resolve, reject) => {
    const start = nowMs();
    const ws = openSocket(ep);
    let bytes = 0;
    let frames = 0;
    let firstFrameMs = 0;
    let catchup: JoinResult["catchup"] = "unknown";
    const texts: string[] = [];
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("join timed out"));
    }, opts.timeoutMs ?? 60_000);
    ws.on("message", (data: Buffer) => {
      const t = nowMs();
      if (frames === 0) firstFrameMs = t - start;
      frames++;
      bytes += data.length;
      const text = data.toString();
      if (opts.keep) texts.push(text);
      if (text.startsWith('{"type":"welcome"')) catchup = text.includes('"catchup":"replay"') ? "replay" : "snapshot";
      if (text.startsWith('{"type":"caught-up"')) {
        clearTimeout(timer);
        ws.close();
        resolve({ ms: t - start, firstFrameMs, bytes, frames, catchup, texts: opts.keep ? texts : undefined });
      }
    });
    ws.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
