/**
 * Reconciling a room with OpenCode's transcript. OpenCode's event stream has no resume ids, so
 * after the runner (re)joins a room or loses the stream it rereads `session.messages` and sends
 * full snapshots; the room's upserts make that idempotent.
 *
 * A turn that was in flight when OpenCode died stays half-written in OpenCode's storage forever
 * (assistant message without `time.completed`, tool parts `pending`/`running`, text parts without
 * `time.end`, streamed text never saved). When the session is not busy, such a turn is repaired:
 * tools become `error: "interrupted"`, text gets an end time (and the text the runner saw streamed,
 * if it saw more than OpenCode saved), the message gets a completion time and an abort error. The
 * repaired parts are also written back to OpenCode (`part.update`), so both sides agree.
 */
import { MessageSchema, PartSchema, type Message, type Part } from "../shared/parts.ts";
import type { EventBody } from "../shared/protocol.ts";

export const INTERRUPTED = "interrupted";

export interface OpencodeMessage {
  info: unknown;
  parts: unknown[];
}

export interface ReconcileInput {
  messages: OpencodeMessage[];
  /** OpenCode reports the session busy (a turn is running right now). */
  busy: boolean;
  now: number;
  /** Text the runner saw streamed per part id (deltas not yet saved by OpenCode). */
  liveText?: ReadonlyMap<string, string>;
}

export interface ReconcileOutput {
  events: EventBody[];
  /** Parts to write back to OpenCode so its transcript matches what the room shows. */
  repairs: Part[];
  /** Messages whose turn was marked interrupted. */
  interrupted: string[];
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === "object" ? (v as Obj) : {});

function isStreamingText(p: Part): boolean {
  return (p.type === "text" || p.type === "reasoning") && typeof obj(p.time).end !== "number";
}

function toolStatus(p: Part): string | undefined {
  return p.type === "tool" ? (obj(p.state).status as string | undefined) : undefined;
}

/** The repaired form of a part left unfinished by a turn that is not running any more. */
export function repairPart(p: Part, now: number, live?: string): Part | null {
  const status = toolStatus(p);
  if (status === "pending" || status === "running") {
    const st = obj(p.state);
    const start = typeof obj(st.time).start === "number" ? (obj(st.time).start as number) : now;
    return {
      ...p,
      state: {
        status: "error",
        input: obj(st.input),
        ...(st.metadata ? { metadata: st.metadata } : {}),
        error: INTERRUPTED,
        time: { start, end: Math.max(start, now) },
      },
    };
  }
  if (isStreamingText(p)) {
    const text = typeof p.text === "string" ? p.text : "";
    const best = live !== undefined && live.length > text.length ? live : text;
    const time = obj(p.time);
    const start = typeof time.start === "number" ? time.start : now;
    return { ...p, text: best, time: { ...time, start, end: Math.max(start, now) } };
  }
  return null;
}

/** The latest time stamp among a message's parts (start/end/created), at least `from`. */
function latestTime(from: number, parts: unknown[]): number {
  let t = from;
  for (const p of parts) {
    const o = obj(p);
    for (const time of [obj(o.time), obj(obj(o.state).time)]) {
      for (const k of ["start", "end", "created"]) {
        const v = time[k];
        if (typeof v === "number" && v > t) t = v;
      }
    }
  }
  return t;
}

export function reconcile(input: ReconcileInput): ReconcileOutput {
  const out: ReconcileOutput = { events: [], repairs: [], interrupted: [] };
  // Only the newest assistant message can belong to a turn that is running now.
  let runningId: string | undefined;
  for (const raw of input.messages) {
    const i = obj(raw.info);
    if (i.role === "assistant" && typeof i.id === "string") runningId = i.id;
  }
  if (!input.busy) runningId = undefined;
  for (const raw of input.messages) {
    const m = MessageSchema.safeParse(raw.info);
    if (!m.success) continue;
    let info: Message = m.data;
    const running = info.id === runningId;
    const unfinished = info.role === "assistant" && info.time.completed === undefined && !running;
    const assistant = info.role === "assistant";
    const parts: Part[] = [];
    for (const rawPart of raw.parts) {
      const pr = PartSchema.safeParse(rawPart);
      if (!pr.success) continue;
      let part = pr.data;
      const live = input.liveText?.get(part.id);
      // A streaming text OpenCode has not saved yet and the runner never saw: the room's copy (from
      // deltas) is better than an empty one, so leave it alone; the part's final snapshot settles it.
      if (assistant && isStreamingText(part) && !part.text && !live) continue;
      if (assistant && !running) {
        const fixed = repairPart(part, input.now, live);
        if (fixed) {
          out.repairs.push(fixed);
          part = fixed;
        }
      } else if (assistant && isStreamingText(part) && live !== undefined && live.length > String(part.text ?? "").length) {
        // Still streaming: OpenCode saves the text only when the part ends; the runner has more.
        part = { ...part, text: live };
      }
      parts.push(part);
    }
    if (unfinished) {
      info = {
        ...info,
        // From the repaired parts, so the message never completes before a part it holds ends;
        // deterministic, so a second reconcile (reading the written-back parts) sends the same.
        time: { ...info.time, completed: latestTime(info.time.created, parts) },
        error: info.error ?? { name: "MessageAbortedError", data: { message: "Interrupted: the agent stopped in the middle of this turn" } },
      };
      out.interrupted.push(info.id);
    }
    out.events.push({ type: "message.upsert", message: info });
    for (const part of parts) out.events.push({ type: "part.upsert", part });
  }
  return out;
}

/** A short fingerprint of an event's content, to skip resending snapshots the room already has. */
export function contentKey(body: EventBody): string | null {
  if (body.type === "message.upsert") return `m:${body.message.id}`;
  if (body.type === "part.upsert") return `p:${body.part.id}`;
  return null;
}
