/**
 * Offsets of a session's HTTP event stream (Durable Streams read side, docs/protocol.md): a
 * position between events, written as the last seq it covers, zero-padded so offsets sort as
 * text in the same order as seqs. `-1` is the start, `now` the head. Readers treat them as
 * opaque; the terminal viewer and the tests only hand them back.
 */
import { z } from "zod";
import { RoomEventSchema, SnapshotSchema, type RoomEvent, type Snapshot } from "./protocol.ts";
import type { ApplyResult, Transcript } from "./transcript.ts";

/** Digits of an offset: seqs are SQLite integers, far below 10^16. */
export const OFFSET_DIGITS = 16;

export const START_OFFSET = "-1";
export const NOW_OFFSET = "now";

const OFFSET_RE = /^\d{16}$/;

/** The offset after the event with this seq (0: before the first event). */
export function offsetOf(seq: number): string {
  return String(seq).padStart(OFFSET_DIGITS, "0");
}

/** The seq an offset stands after; null for anything that is not an offset of ours. */
export function seqOf(offset: string): number | null {
  if (!OFFSET_RE.test(offset)) return null;
  const n = Number(offset);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * One item of the stream: a room event (the WebSocket's, seq and all), or — first, for a reader
 * from `-1` once the log no longer reaches back to seq 1 — the WebSocket's snapshot frame.
 */
export const StreamItemSchema = z.union([z.object({ type: z.literal("snapshot"), snapshot: SnapshotSchema }), RoomEventSchema]);
export type StreamItem = { type: "snapshot"; snapshot: Snapshot } | RoomEvent;

/** Folds one item into a transcript (the same reducer the app uses); "gap" means read from `-1` again. */
export function applyStreamItem(t: Transcript, item: StreamItem): ApplyResult {
  if (item.type === "snapshot" && "snapshot" in item) {
    t.loadSnapshot(item.snapshot);
    return "applied";
  }
  return t.applyEvent(item as RoomEvent, { contiguous: true });
}
