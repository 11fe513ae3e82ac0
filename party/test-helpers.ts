/**
 * Helpers for the workerd tests: tokens, sessions and WebSocket clients through the real Worker
 * (`exports.default.fetch`), so every test goes through auth and routing as production does.
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { signToken } from "../shared/token.ts";
import type { Role } from "../shared/protocol.ts";

export const SECRET = "test-secret-for-workerd-tests";
const BASE = "http://room.test";

export const worker = (): Fetcher => (exports as unknown as { default: Fetcher }).default;

export const token = (sid: string, role: Role, name: string = role, ttlSeconds = 3600, secret = SECRET) =>
  signToken(secret, { sid, role, name, ttlSeconds });

export const operator = () => token("*", "owner", "operator");
export const runner = () => token("*", "agent", "runner");

export async function api(
  path: string,
  init: Omit<RequestInit, "body"> & { token?: string; body?: unknown } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set("authorization", `Bearer ${init.token}`);
  let body: BodyInit | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    headers.set("content-type", "application/json");
  }
  const { token: _t, body: _b, ...rest } = init;
  return worker().fetch(`${BASE}${path}`, { ...rest, headers, body });
}

export async function createSession(body: Record<string, unknown> = {}): Promise<{ id: string; ownerToken: string }> {
  const res = await api("/api/sessions", { method: "POST", token: await operator(), body });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; ownerToken: string };
}

/** The largest frame any test client received in this file (bytes, frame type, test). */
export const largestFrame = { bytes: 0, type: "", test: "" };

/** A WebSocket client that records every frame it receives, and the size of each (UTF-8 bytes). */
export class TestClient {
  frames: Record<string, unknown>[] = [];
  frameBytes: number[] = [];
  closed: { code: number; reason: string } | undefined;
  #waiters: (() => void)[] = [];
  readonly ws: WebSocket;
  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.accept();
    ws.addEventListener("message", (e) => {
      const raw = String(e.data);
      const frame = JSON.parse(raw) as Record<string, unknown>;
      const bytes = new TextEncoder().encode(raw).length;
      this.frames.push(frame);
      this.frameBytes.push(bytes);
      if (bytes > largestFrame.bytes) Object.assign(largestFrame, { bytes, type: String(frame.type), test: expect.getState().currentTestName ?? "" });
      this.#wake();
    });
    ws.addEventListener("close", (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.#wake();
    });
  }
  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }
  ofType<T = Record<string, unknown>>(type: string): T[] {
    return this.frames.filter((f) => f.type === type) as T[];
  }
  /** Waits until a received frame matches (looking at frames from `from` on). */
  async waitFor<T = Record<string, unknown>>(pred: (f: Record<string, unknown>) => boolean, timeoutMs = 5000, from = 0): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.frames.slice(from).find(pred);
      if (hit) return hit as T;
      if (Date.now() > deadline) throw new Error(`timed out; frames: ${JSON.stringify(this.frames).slice(-2000)}`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  async waitType<T = Record<string, unknown>>(type: string, from = 0): Promise<T> {
    return this.waitFor<T>((f) => f.type === type, 5000, from);
  }
  /** Sends a frame and waits for the ack or error carrying its ref. */
  async request(frame: Record<string, unknown> & { ref: string }): Promise<Record<string, unknown>> {
    const from = this.frames.length;
    this.send(frame);
    return this.waitFor((f) => (f.type === "ack" || f.type === "error" || f.type === "history" || f.type === "chat.history") && f.ref === frame.ref, 5000, from);
  }
  close(): void {
    try {
      this.ws.close(1000, "done");
    } catch {
      // closed
    }
  }
}

/** Opens a room socket through the Worker; returns the HTTP response when it is not a 101. */
export async function connect(
  sessionId: string,
  tok: string,
  opts: { cursor?: number; via?: "subprotocol" | "query"; query?: Record<string, string> } = {},
): Promise<TestClient> {
  const res = await connectRaw(sessionId, tok, opts);
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status} ${await res.text()}`);
  return new TestClient(res.webSocket);
}

export async function connectRaw(
  sessionId: string,
  tok: string,
  opts: { cursor?: number; via?: "subprotocol" | "query"; query?: Record<string, string> } = {},
): Promise<Response> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(opts.query ?? {})) q.set(k, v);
  if (opts.cursor !== undefined) q.set("cursor", String(opts.cursor));
  const headers = new Headers({ Upgrade: "websocket" });
  if (opts.via === "query") q.set("token", tok);
  else headers.set("Sec-WebSocket-Protocol", `agentroom, t.${tok}`);
  const qs = q.toString();
  return worker().fetch(`${BASE}/parties/session-room/${sessionId}${qs ? "?" + qs : ""}`, { headers });
}

/** An agent connection that holds the lease. */
export async function connectAgent(sessionId: string): Promise<TestClient> {
  const c = await connect(sessionId, await runner());
  await c.waitFor((f) => f.type === "agent.lease" && f.granted === true);
  return c;
}

let batchN = 0;
/** Sends an agent batch and waits for its ack. */
export async function batch(agent: TestClient, events: unknown[], batchId = `b${++batchN}-${Math.random()}`): Promise<Record<string, unknown>> {
  const from = agent.frames.length;
  agent.send({ type: "agent.batch", batchId, events: events.map((body) => ({ body })) });
  return agent.waitFor((f) => f.type === "agent.ack" && f.batchId === batchId, 5000, from);
}

export const msg = (id: string, role: "user" | "assistant" = "assistant", completed?: number) => ({
  type: "message.upsert",
  message: { id, role, time: { created: 1, ...(completed !== undefined ? { completed } : {}) } },
});
export const textPart = (messageID: string, id: string, text = "") => ({
  type: "part.upsert",
  part: { id, messageID, type: "text", text },
});
export const delta = (messageID: string, partID: string, d: string) => ({ type: "part.delta", messageID, partID, field: "text", delta: d });

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
