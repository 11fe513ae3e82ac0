/**
 * Every frame a socket sends, before it reaches a handler: the size cap, the rate limits (people,
 * runners, and chat's own bucket), parsing against the shared schemas, and routing to the
 * runner's handler (room/agent-frames.ts), people's (room/commands.ts) or a relay's report. An
 * error answers a bad frame with its `ref` and changes nothing. The room's `onMessage` calls
 * `handle` and then runs a live turn if one is due.
 */
import type { Connection, WSMessage } from "partyserver";
import { AgentFrameSchema, ClientFrameSchema, parseFrame } from "../../shared/protocol.ts";
import type { Limits } from "../../shared/limits.ts";
import type { ConnState } from "./conn-state.ts";
import { handleAgentFrame, type AgentHost } from "./agent-frames.ts";
import { handleClientFrame, type CommandHost } from "./commands.ts";
import { RefusedEvent } from "./apply.ts";
import { RateLimiter } from "./rate.ts";
import { utf8Bytes } from "../../shared/delta.ts";
import { sendError } from "./send.ts";

/** Agents send batches at the flush rate; they get a much larger bucket than people. */
const AGENT_RATE_MULTIPLIER = 50;

/** What routing a frame needs of the room: the handlers' hosts, plus a relay's report. */
export interface FrameHost extends AgentHost, CommandHost {
  readonly limits: Limits;
}

export class FrameGate {
  readonly #room: FrameHost;
  /** Opens the room's storage; false when the room was never created. */
  readonly #open: () => boolean;
  readonly #relayReport: (conn: Connection<ConnState>, text: string | ArrayBuffer) => void;
  readonly #peopleRate: RateLimiter;
  readonly #agentRate: RateLimiter;
  readonly #chatRate: RateLimiter;

  constructor(room: FrameHost, open: () => boolean, relayReport: (conn: Connection<ConnState>, text: string | ArrayBuffer) => void) {
    this.#room = room;
    this.#open = open;
    this.#relayReport = relayReport;
    const limits = room.limits;
    this.#chatRate = new RateLimiter(limits.chatRatePerSecond, limits.chatBurst);
    this.#peopleRate = new RateLimiter(limits.rateFramesPerSecond, limits.rateBurst);
    this.#agentRate = new RateLimiter(limits.rateFramesPerSecond * AGENT_RATE_MULTIPLIER, limits.rateBurst * AGENT_RATE_MULTIPLIER);
  }

  /** Takes one token from this connection's chat bucket. */
  takeChat(connId: string, now: number): boolean {
    return this.#chatRate.take(connId, now);
  }

  /** A connection closed: its buckets go. */
  forget(connId: string): void {
    this.#peopleRate.forget(connId);
    this.#agentRate.forget(connId);
    this.#chatRate.forget(connId);
  }

  /** One frame from `conn`: checked, parsed and handled, or answered with an error. */
  handle(conn: Connection<ConnState>, raw: WSMessage): void {
    let ref: string | undefined;
    try {
      const st = conn.state;
      if (!st || !this.#open()) {
        sendError(conn, "forbidden", "connection has no role");
        return;
      }
      const limits = this.#room.limits;
      const now = Date.now();
      const isAgent = st.role === "agent";
      const max = isAgent ? limits.maxAgentFrameBytes : limits.maxClientFrameBytes;
      if (frameBytes(raw, max) > max) {
        sendError(conn, "frame_too_large", `frames are limited to ${max} bytes`);
        return;
      }
      if (!(isAgent ? this.#agentRate : this.#peopleRate).take(conn.id, now)) {
        sendError(conn, "rate_limited", "too many frames; slow down");
        return;
      }
      const text = typeof raw === "string" ? raw : new ArrayBuffer(0);
      if (st.relay) {
        this.#relayReport(conn, text);
        return;
      }
      if (isAgent) {
        const parsed = parseFrame(AgentFrameSchema, text);
        if (!parsed.ok) {
          sendError(conn, parsed.code, parsed.message, parsed.ref ?? batchIdOf(text));
          return;
        }
        // Errors answering a batch carry its batchId as `ref`, so the runner knows which one failed.
        if (parsed.frame.type === "agent.batch") ref = parsed.frame.batchId;
        handleAgentFrame(this.#room, conn, parsed.frame, now, typeof text === "string" ? text : "");
      } else {
        const parsed = parseFrame(ClientFrameSchema, text);
        if (!parsed.ok) {
          sendError(conn, parsed.code, parsed.message, parsed.ref);
          return;
        }
        ref = parsed.frame.ref;
        handleClientFrame(this.#room, conn, st, parsed.frame, now);
      }
    } catch (e) {
      if (e instanceof RefusedEvent) {
        sendError(conn, "bad_frame", `${e.message}; nothing was applied`, ref);
        return;
      }
      console.error("frame handler failed", e);
      sendError(conn, "internal", "the room could not process this frame; nothing changed", ref);
    }
  }
}

/** The batchId of a refused agent frame, when it has one, for the error's `ref`. */
function batchIdOf(text: string | ArrayBuffer): string | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const v = JSON.parse(text) as { batchId?: unknown };
    return typeof v?.batchId === "string" ? v.batchId.slice(0, 128) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A frame's size in UTF-8 bytes, as the cap is stated. Counting bytes costs a pass over the text,
 * so it is done only when the UTF-16 length cannot settle it (each unit is 1 to 3 bytes).
 */
function frameBytes(raw: WSMessage, max: number): number {
  if (typeof raw !== "string") return raw.byteLength;
  if (raw.length > max || raw.length * 3 <= max) return raw.length;
  return utf8Bytes(raw);
}
