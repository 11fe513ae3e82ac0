/**
 * Keeps every runner → room frame under the room's cap (`maxAgentFrameBytes`, 4 MiB) whatever
 * OpenCode sends: an `edit` with 2 MB old and new strings, or a session diff holding two versions
 * of a large file, would make one event bigger than any batch may be, and the room would refuse
 * the batch forever.
 *
 * A part too big for a batch goes as the part with each long string cut to its first piece, then
 * the rest of each string as `part.delta`s on that string's dotted path, each piece fitting a
 * batch; the room appends them as it appends streamed text, so the stored part is whole. The
 * pieces carry ids derived from the part's, so a part the room already applied is not extended
 * twice. Any other event too big (a session diff with two versions of a large file, a todo list)
 * has its long strings shortened: the room could not hold more in one value anyway.
 */
import type { EventBody } from "../shared/protocol.ts";
import type { Part } from "../shared/parts.ts";
import type { MappedEvent } from "./event-map.ts";
import { getPath, shorten, marksFor, type Json } from "../shared/deep-fields.ts";
import { splitToBytes, utf8Bytes } from "../shared/delta.ts";

/** The delta schema's limit on a field path. */
const MAX_FIELD = 64;

/** Characters of a long string kept in the part itself (over the room's 64 K inline limit, so the room marks it shortened). */
export const FIRST_PIECE_CHARS = 256 * 1024;

/** Bytes `e` takes in a frame, in UTF-8 as the room measures frames. */
const jsonBytes = (e: unknown): number => utf8Bytes(JSON.stringify(e));

/** `e` as one or more events whose JSON each fits `maxBytes` (UTF-8). */
export function fitEvent(e: MappedEvent, maxBytes: number): MappedEvent[] {
  if (jsonBytes(e) <= maxBytes) return [e];
  const b = e.body;
  if (b.type === "part.upsert") return splitPart(e, b.part as Json, maxBytes);
  return [{ ...e, body: shortenBody(b, maxBytes) }];
}

function splitPart(e: MappedEvent, part: Json, maxBytes: number): MappedEvent[] {
  const first = Math.min(FIRST_PIECE_CHARS, Math.floor(maxBytes / 8));
  const { value, cuts } = shorten(part, first, Number.POSITIVE_INFINITY);
  const pieces: MappedEvent[] = [];
  const tooDeep: typeof cuts = [];
  let n = 0;
  for (const cut of cuts) {
    if (cut.field.length > MAX_FIELD) {
      tooDeep.push(cut);
      continue;
    }
    const kept = String(getPath(value, cut.field));
    for (const delta of splitToBytes(cut.full.slice(kept.length), maxBytes / 2, maxBytes / 2)) {
      const body: EventBody = { type: "part.delta", messageID: String(part.messageID), partID: String(part.id), field: cut.field, delta };
      pieces.push(e.eid !== undefined ? { eid: `${e.eid}:${++n}`, body } : { body });
    }
  }
  const head = tooDeep.length ? { ...value, truncated: marksFor(tooDeep) } : value;
  return [{ ...e, body: { type: "part.upsert", part: head as Part } }, ...pieces];
}

/** A non-part event with its long strings shortened until it fits. */
function shortenBody(b: EventBody, maxBytes: number): EventBody {
  for (let chars = Math.floor(maxBytes / 8); chars >= 64; chars = Math.floor(chars / 4)) {
    const { value } = shorten(b as unknown as Json, chars, Number.POSITIVE_INFINITY);
    if (jsonBytes(value) <= maxBytes) return value as unknown as EventBody;
  }
  return b;
}
