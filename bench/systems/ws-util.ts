/** Small WebSocket helpers shared by the benchmark's system adapters. */
import type WebSocket from "ws";
import { openSocket, type Endpoint } from "../lib/fanout.ts";

export const toWs = (base: string): string => base.replace(/^http/, "ws");

/**
 * Opens a socket and resolves once it is open (rejects on error or after `timeoutMs`).
 * `onMessage` is attached before the upgrade completes: the first frames can arrive in the same
 * packet as the 101 response, before a listener attached after `open` would see them.
 */
export function connect(ep: Endpoint, timeoutMs = 30_000, onMessage?: (data: Buffer) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = openSocket(ep);
    if (onMessage) ws.on("message", onMessage);
    const t = setTimeout(() => reject(new Error(`connect timeout: ${ep.url}`)), timeoutMs);
    ws.once("open", () => {
      clearTimeout(t);
      resolve(ws);
    });
    ws.on("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** Resolves with the first text frame on `ws` that `match` accepts. */
export function waitFrame<T>(ws: WebSocket, match: (text: string) => T | undefined, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      ws.off("message", on);
      reject(new Error("timed out waiting for a frame"));
    }, timeoutMs);
    const on = (data: Buffer) => {
      const r = match(data.toString());
      if (r === undefined) return;
      clearTimeout(t);
      ws.off("message", on);
      resolve(r);
    };
    ws.on("message", on);
  });
}

export function closeSocket(ws: WebSocket): Promise<void> {
  return new Promise((r) => {
    if (ws.readyState === ws.CLOSED) return r();
    const t = setTimeout(() => (ws.terminate(), r()), 2_000);
    ws.once("close", () => (clearTimeout(t), r()));
    ws.close();
  });
}

export const uid = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
