/**
 * A bare protocol socket for the fault, fuzz and security tests: it sends exactly the bytes it is
 * given (bad JSON, binary, oversized frames, frames of the wrong role), keeps every frame the
 * room sends, and lets a test wait for the one it expects. Unlike the room client it never
 * reconnects, resends or fixes anything, so what the test sees is what the room did.
 *
 * Also: an upgrade attempt that reports the HTTP status the Worker answered (401, 404, …).
 */
import http from "node:http";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";

export type Frame = { type: string } & Record<string, unknown>;

export class RawSocket {
  readonly ws: WebSocket;
  /** Every text frame received, parsed, in order (non-JSON frames are kept as `{type:"?raw"}`). */
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: { pred: (f: Frame) => boolean; from: number; resolve: (f: Frame) => void }[] = [];
  /** Index of the first frame not yet consumed by `take`. */
  private cursor = 0;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data, isBinary) => {
      let f: Frame;
      try {
        f = isBinary ? { type: "?binary" } : (JSON.parse(data.toString()) as Frame);
      } catch {
        f = { type: "?raw", text: data.toString() };
      }
      this.frames.push(f);
      const idx = this.frames.length - 1;
      this.waiters = this.waiters.filter((w) => {
        if (idx >= w.from && w.pred(f)) {
          w.resolve(f);
          return false;
        }
        return true;
      });
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    ws.on("error", () => {});
  }

  /** Keeps the frames of a socket opened some other way (a ticket's, with no token). */
  static wrap(ws: WebSocket): RawSocket {
    return new RawSocket(ws);
  }

  /** Opens `url` with the token as a subprotocol; rejects with the HTTP status when refused. */
  static open(url: string, token: string, timeoutMs = 10_000): Promise<RawSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ["agentroom", `t.${token}`], { handshakeTimeout: timeoutMs, maxPayload: 64 * 1024 * 1024 });
      const sock = new RawSocket(ws);
      ws.once("open", () => resolve(sock));
      ws.once("unexpected-response", (_req, res) => {
        reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
        res.resume();
      });
      ws.once("error", (e) => reject(e));
    });
  }

  send(data: string | Uint8Array): void {
    this.ws.send(data, { binary: typeof data !== "string" });
  }

  sendJson(frame: object): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** The first frame from now on (or from index `from`) matching `pred`. */
  waitFor(pred: (f: Frame) => boolean, timeoutMs = 10_000, from = this.frames.length): Promise<Frame> {
    for (let i = from; i < this.frames.length; i++) if (pred(this.frames[i]!)) return Promise.resolve(this.frames[i]!);
    return new Promise((resolve, reject) => {
      const waiter = { pred, from, resolve: (f: Frame) => (clearTimeout(timer), resolve(f)) };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching frame within ${timeoutMs} ms; last frames: ${JSON.stringify(this.frames.slice(-3)).slice(0, 600)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /**
   * The next `n` frames matching `pred` after those already taken, in order. Used to pair a
   * window of bad frames with their answers: the room answers one connection's frames in order.
   */
  async take(n: number, pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame[]> {
    const out: Frame[] = [];
    while (out.length < n) {
      const from = this.cursor;
      const f = await this.waitFor(pred, timeoutMs, from);
      const idx = this.frames.indexOf(f, from);
      this.cursor = idx + 1;
      out.push(f);
    }
    return out;
  }

  /** Skips everything received so far for `take`. */
  skipAll(): void {
    this.cursor = this.frames.length;
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once("close", () => resolve());
      this.ws.close();
      setTimeout(() => (this.ws.terminate(), resolve()), 2000).unref();
    });
  }
}

/**
 * Attempts a WebSocket upgrade with raw HTTP and returns the status and body the server
 * answered (101 means it was accepted; the socket is closed at once).
 */
export function tryUpgrade(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(url.replace(/^ws/, "http"));
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
        ...headers,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: "" });
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.setTimeout(10_000, () => req.destroy(new Error("upgrade timed out")));
    req.end();
  });
}
