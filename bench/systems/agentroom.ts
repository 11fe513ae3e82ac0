/**
 * agentroom as a benchmark target: sessions made through the HTTP API, tokens minted with the
 * deployment's secret (local runs make one up) or given on the command line, an agent that speaks
 * the runner's protocol (`agent.batch` → `agent.ack`), viewers that connect like the room client.
 */
import type WebSocket from "ws";
import { signToken } from "../../shared/token.ts";
import type { FanoutAgent, FanoutRoom } from "../lib/fanout.ts";
import { closeSocket, connect, toWs, uid } from "./ws-util.ts";

export const AGENTROOM_CONFIG = "wrangler.jsonc";

/** How the bench gets tokens: a secret to mint them, or ready-made operator and agent tokens. */
export type Credentials = { secret: string } | { operatorToken: string; agentToken: string };

export type Agentroom = {
  base: string;
  creds: Credentials;
  /** Where viewers connect when not `base` (the relay tier: the relays' own Worker). */
  viewerBase?: string;
};

const TTL = 24 * 3600;

async function operatorToken(c: Credentials): Promise<string> {
  return "secret" in c ? signToken(c.secret, { sid: "*", role: "owner", name: "bench", ttlSeconds: TTL }) : c.operatorToken;
}

async function agentToken(c: Credentials): Promise<string> {
  return "secret" in c ? signToken(c.secret, { sid: "*", role: "agent", name: "bench-agent", ttlSeconds: TTL }) : c.agentToken;
}

export async function createSession(ar: Agentroom, title = "bench"): Promise<{ id: string; ownerToken: string }> {
  const res = await fetch(`${ar.base}/api/sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${await operatorToken(ar.creds)}`, "content-type": "application/json" },
    body: JSON.stringify({ title }),
  });
  if (!res.ok) throw new Error(`create session: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; ownerToken: string };
}

export async function viewerToken(ar: Agentroom, sessionId: string, ownerToken: string): Promise<string> {
  if ("secret" in ar.creds) return signToken(ar.creds.secret, { sid: sessionId, role: "viewer", name: "viewer", ttlSeconds: TTL });
  const res = await fetch(`${ar.base}/api/sessions/${sessionId}/share`, {
    method: "POST",
    headers: { authorization: `Bearer ${ownerToken}`, "content-type": "application/json" },
    body: JSON.stringify({ role: "viewer", name: "viewer" }),
  });
  if (!res.ok) throw new Error(`share: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

export const roomUrl = (base: string, sessionId: string, cursor?: number): string =>
  `${toWs(base)}/parties/session-room/${sessionId}${cursor === undefined ? "" : `?cursor=${cursor}`}`;

export const protocols = (token: string): string[] => ["agentroom", `t.${token}`];

export const isCaughtUp = (text: string): boolean => text.startsWith('{"type":"caught-up"');

/** The runner's side of the protocol, reduced to what the benchmarks need. */
export class BenchAgent {
  readonly ws: WebSocket;
  /** Highest seq the room acknowledged. */
  seq = 0;
  #sent = 0;
  #acked = 0;
  #waiters: Array<{ n: number; resolve: () => void }> = [];
  #prefix = uid("b");

  #lease: (granted: boolean) => void = () => {};
  readonly leased = new Promise<boolean>((r) => (this.#lease = r));

  private constructor(ws: WebSocket) {
    this.ws = ws;
  }

  #onFrame(text: string): void {
    {
      if (text.startsWith('{"type":"agent.lease"')) return this.#lease((JSON.parse(text) as { granted: boolean }).granted);
      if (!text.startsWith('{"type":"agent.ack"')) {
        if (text.startsWith('{"type":"error"')) console.error("agent got", text.slice(0, 300));
        return;
      }
      const ack = JSON.parse(text) as { seq: number };
      this.#acked++;
      if (ack.seq > this.seq) this.seq = ack.seq;
      this.#waiters = this.#waiters.filter((w) => (w.n <= this.#acked ? (w.resolve(), false) : true));
    }
  }

  static async join(ar: Agentroom, sessionId: string): Promise<BenchAgent> {
    let agent: BenchAgent | undefined;
    const early: string[] = [];
    const ws = await connect({ url: roomUrl(ar.base, sessionId), protocols: protocols(await agentToken(ar.creds)) }, 30_000, (d) =>
      agent ? agent.#onFrame(d.toString()) : early.push(d.toString()),
    );
    agent = new BenchAgent(ws);
    for (const t of early) agent.#onFrame(t);
    const granted = await Promise.race([agent.leased, new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
    if (!granted) throw new Error("agent lease refused");
    return agent;
  }

  /** Sends one batch of event bodies without waiting; returns its number. */
  send(events: unknown[]): number {
    this.ws.send(JSON.stringify({ type: "agent.batch", batchId: `${this.#prefix}-${this.#sent}`, events: events.map((body) => ({ body })) }));
    return ++this.#sent;
  }

  unacked(): number {
    return this.#sent - this.#acked;
  }

  /** Resolves once every batch sent so far is acknowledged. */
  settled(): Promise<void> {
    const n = this.#sent;
    if (this.#acked >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  close(): Promise<void> {
    return closeSocket(this.ws);
  }
}

export const assistantMessage = (id: string, created = Date.now()) => ({
  type: "message.upsert",
  message: { id, role: "assistant", time: { created } },
});
export const textPart = (messageID: string, id: string, text = "") => ({
  type: "part.upsert",
  part: { id, messageID, type: "text", text },
});
export const delta = (messageID: string, partID: string, text: string) => ({
  type: "part.delta",
  messageID,
  partID,
  field: "text",
  delta: text,
});

/** A session (fresh unless given) whose agent streams every delta as its own batch to one text part. */
export async function agentroomRoom(ar: Agentroom, session?: { id: string; ownerToken: string }): Promise<FanoutRoom> {
  const s = session ?? (await createSession(ar));
  const token = await viewerToken(ar, s.id, s.ownerToken);
  return {
    viewer: () => ({ url: roomUrl(ar.viewerBase ?? ar.base, s.id), protocols: protocols(token) }),
    isReady: isCaughtUp,
    async startAgent(): Promise<FanoutAgent> {
      const agent = await BenchAgent.join(ar, s.id);
      agent.send([assistantMessage("m1"), textPart("m1", "p1")]);
      await agent.settled();
      return {
        send: (_i, text) => void agent.send([delta("m1", "p1", text)]),
        unacked: () => agent.unacked(),
        seq: () => agent.seq,
        close: () => agent.close(),
      };
    },
  };
}
