/**
 * A stand-in runner for worker-only fault and fuzz tests: it joins a room as the agent over a bare
 * socket, streams a transcript (messages, text deltas, tool parts) in `agent.batch` frames, waits
 * for each `agent.ack`, and keeps its own record of what the transcript must be. That record is
 * built independently of the room and of shared/transcript.ts, so comparing a viewer's transcript
 * with it checks both. (The full-stack fault tests use the real runner and OpenCode instead.)
 */
import type { AgentFrame, EventBody } from "../../shared/protocol.ts";
import type { Message, MessageWithParts, Part } from "../../shared/parts.ts";
import { RawSocket, type Frame } from "./raw-socket.ts";

export type AgentBatch = Extract<AgentFrame, { type: "agent.batch" }>;

export class SyntheticAgent {
  readonly sock: RawSocket;
  /** Batches the room acknowledged (not as duplicates), in order. */
  readonly applied: AgentBatch[] = [];
  /** Highest seq the room acknowledged. */
  ackedSeq = 0;
  private readonly messages = new Map<string, { info: Message; parts: Map<string, Part> }>();
  private batchCounter = 0;
  private readonly prefix: string;
  private readonly heartbeat: ReturnType<typeof setInterval>;

  private constructor(sock: RawSocket, prefix: string, leaseMs: number) {
    this.sock = sock;
    this.prefix = prefix;
    // Renew the lease as a runner does, or the room expires it mid-test.
    this.heartbeat = setInterval(() => {
      if (!sock.closed) sock.sendJson({ type: "agent.heartbeat", runnerId: prefix });
    }, Math.max(1000, leaseMs / 3));
    this.heartbeat.unref();
  }

  /** Connects with an agent token and waits for the lease. */
  static async join(roomUrl: string, agentToken: string, prefix = "syn"): Promise<SyntheticAgent> {
    const sock = await RawSocket.open(roomUrl, agentToken);
    const lease = await sock.waitFor((f) => f.type === "agent.lease", 10_000, 0);
    if (lease.granted !== true) {
      await sock.close();
      throw new Error(`lease not granted: ${JSON.stringify(lease)}`);
    }
    return new SyntheticAgent(sock, prefix, Number(lease.leaseMs) || 30_000);
  }

  /** Sends one batch and waits for its ack; updates the expected transcript once acked. */
  async send(bodies: EventBody[], timeoutMs = 10_000): Promise<Frame> {
    const batchId = `${this.prefix}-b${++this.batchCounter}`;
    const batch: AgentBatch = {
      type: "agent.batch",
      batchId,
      events: bodies.map((body, i) => ({ eid: `${batchId}-e${i}`, body })),
    };
    const from = this.sock.frames.length;
    this.sock.sendJson(batch);
    const ack = await this.sock.waitFor(
      (f) => (f.type === "agent.ack" && f.batchId === batchId) || (f.type === "error" && f.ref === batchId),
      timeoutMs,
      from,
    );
    if (ack.type === "error") throw new Error(`batch ${batchId} refused: ${ack.code} ${ack.message}`);
    if (ack.duplicate) throw new Error(`fresh batch ${batchId} acked as duplicate`);
    this.applied.push(batch);
    this.ackedSeq = Math.max(this.ackedSeq, Number(ack.seq));
    for (const b of bodies) this.model(b);
    return ack;
  }

  private model(b: EventBody): void {
    if (b.type === "message.upsert") {
      const m = this.messages.get(b.message.id);
      this.messages.set(b.message.id, { info: b.message, parts: m?.parts ?? new Map() });
    } else if (b.type === "part.upsert") {
      this.messages.get(b.part.messageID)?.parts.set(b.part.id, b.part);
    } else if (b.type === "part.delta") {
      const part = this.messages.get(b.messageID)?.parts.get(b.partID);
      if (part) {
        const cur = (part as Record<string, unknown>)[b.field];
        this.messages.get(b.messageID)!.parts.set(b.partID, { ...part, [b.field]: (typeof cur === "string" ? cur : "") + b.delta });
      }
    } else if (b.type === "message.remove") {
      this.messages.delete(b.messageID);
    } else if (b.type === "part.remove") {
      this.messages.get(b.messageID)?.parts.delete(b.partID);
    }
  }

  /** What every viewer's messages must equal (any order; compare through normalizeMessages). */
  expectedMessages(): MessageWithParts[] {
    return [...this.messages.values()].map((m) => ({ info: m.info, parts: [...m.parts.values()] }));
  }

  /**
   * Streams one assistant message: a text part grown by `deltas` deltas of a few words, sent
   * `perBatch` to a batch, then a completed tool part and the final snapshots. `pause` runs
   * between batches (the fuzz test interleaves its bad frames there).
   */
  async streamMessage(
    n: number,
    opts: { deltas: number; perBatch?: number; pause?: () => Promise<void> },
  ): Promise<{ messageID: string; text: string }> {
    const messageID = `${this.prefix}_msg_${String(n).padStart(4, "0")}`;
    const partID = `${messageID}_p1`;
    const created = 1_700_000_000_000 + n;
    await this.send([
      { type: "status", status: "busy" },
      { type: "message.upsert", message: { id: messageID, role: "assistant", time: { created } } },
      { type: "part.upsert", part: { id: partID, messageID, type: "text", text: "" } },
    ]);
    let text = "";
    const perBatch = opts.perBatch ?? 5;
    for (let i = 0; i < opts.deltas; i += perBatch) {
      const bodies: EventBody[] = [];
      for (let k = i; k < Math.min(opts.deltas, i + perBatch); k++) {
        const delta = `w${n}.${k} `;
        text += delta;
        bodies.push({ type: "part.delta", messageID, partID, field: "text", delta });
      }
      await this.send(bodies);
      if (opts.pause) await opts.pause();
    }
    await this.send([
      { type: "part.upsert", part: { id: partID, messageID, type: "text", text, time: { start: created, end: created + 1 } } },
      {
        type: "part.upsert",
        part: {
          id: `${messageID}_p2`,
          messageID,
          type: "tool",
          callID: `call_${n}`,
          tool: "bash",
          state: { status: "completed", input: { command: "echo hi" }, output: "hi\n", title: "echo hi", metadata: {}, time: { start: created, end: created + 2 } },
        },
      },
      { type: "message.upsert", message: { id: messageID, role: "assistant", time: { created, completed: created + 3 }, finish: "stop" } },
      { type: "status", status: "idle" },
    ]);
    return { messageID, text };
  }

  close(): Promise<void> {
    clearInterval(this.heartbeat);
    return this.sock.close();
  }
}
