/**
 * Revocation, as the people on a revoked link feel it: N sockets are open with one share link; the
 * owner revokes it (`DELETE /api/sessions/:id/links/:linkId`); measured is the time from sending
 * that request until the last of the N sockets has the room's close frame (code 4411: from then
 * on the socket is closed to its client, which answers it) — and, apart, until the TCP connection
 * is gone, which also waits on the runtime's side of the closing handshake. Repeated `tries`
 * times, a new link each time, on one session.
 */
import WebSocket from "ws";
import { median } from "../lib/stats.ts";
import { createSession, isCaughtUp, protocols, roomUrl, type Agentroom } from "../systems/agentroom.ts";

export interface RevokeResult {
  sockets: number;
  tries: number;
  /** Revoke → the last socket's close frame (4411) received. */
  medianMs: number;
  maxMs: number;
  /** Every try's revoke → last close frame, ms. */
  samples: number[];
  /** Revoke → the last socket's TCP connection closed (the `close` event of `ws`). */
  tcpMedianMs: number;
  tcpMaxMs: number;
  /** Sockets closed with a code other than 4411 (should be 0). */
  wrongCodes: number;
}

async function share(ar: Agentroom, id: string, ownerToken: string): Promise<{ token: string; linkId: string }> {
  const res = await fetch(`${ar.base}/api/sessions/${id}/share`, {
    method: "POST",
    headers: { authorization: `Bearer ${ownerToken}`, "content-type": "application/json" },
    body: JSON.stringify({ role: "viewer", name: "to be revoked" }),
  });
  if (!res.ok) throw new Error(`share: ${res.status} ${await res.text()}`);
  return (await res.json()) as { token: string; linkId: string };
}

/**
 * Opens a socket and resolves once it is caught up. `closing` resolves when the server's close
 * frame has arrived (`ws` moves to CLOSING as it answers it; polled every millisecond), `closed`
 * with the close code once the connection is gone.
 */
function open(url: string, token: string): Promise<{ ws: WebSocket; closing: Promise<number>; closed: Promise<{ code: number; at: number }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols(token));
    const closed = new Promise<{ code: number; at: number }>((r) => ws.once("close", (code) => r({ code, at: performance.now() })));
    const closing = new Promise<number>((r) => {
      const poll = setInterval(() => {
        if (ws.readyState >= WebSocket.CLOSING) {
          clearInterval(poll);
          r(performance.now());
        }
      }, 1);
    });
    const t = setTimeout(() => reject(new Error("socket not ready in 30 s")), 30_000);
    ws.on("message", (d: Buffer) => {
      if (isCaughtUp(d.toString())) {
        clearTimeout(t);
        resolve({ ws, closing, closed });
      }
    });
    ws.once("error", reject);
  });
}

export async function revokeLatency(ar: Agentroom, opts: { sockets: number; tries: number }): Promise<RevokeResult> {
  const { id, ownerToken } = await createSession(ar, "revoke bench");
  const samples: number[] = [];
  const tcp: number[] = [];
  let wrongCodes = 0;
  for (let i = 0; i < opts.tries; i++) {
    const link = await share(ar, id, ownerToken);
    const socks = await Promise.all(Array.from({ length: opts.sockets }, () => open(roomUrl(ar.base, id), link.token)));
    const t0 = performance.now();
    const res = await fetch(`${ar.base}/api/sessions/${id}/links/${link.linkId}`, { method: "DELETE", headers: { authorization: `Bearer ${ownerToken}` } });
    if (!res.ok) throw new Error(`revoke: ${res.status} ${await res.text()}`);
    const frames = await Promise.all(socks.map((s) => s.closing));
    samples.push(Math.max(...frames) - t0);
    const closes = await Promise.all(socks.map((s) => s.closed));
    wrongCodes += closes.filter((c) => c.code !== 4411).length;
    tcp.push(Math.max(...closes.map((c) => c.at)) - t0);
  }
  return {
    sockets: opts.sockets,
    tries: opts.tries,
    medianMs: median(samples),
    maxMs: Math.max(...samples),
    samples,
    tcpMedianMs: median(tcp),
    tcpMaxMs: Math.max(...tcp),
    wrongCodes,
  };
}
