/**
 * A relay's own tail of the session's events, as the room sent them live (consecutive deltas may
 * already be merged into one event covering `fromSeq..seq`). Rejoining viewers are replayed from
 * here, so a relay asks the room only for what it no longer (or never) had.
 */
import type { RoomEvent } from "../../shared/protocol.ts";
import { isChatEvent, scrubbed } from "../../shared/chat.ts";

const firstSeqOf = (e: RoomEvent): number => e.fromSeq ?? e.seq;

export class RelayTail {
  #events: RoomEvent[] = [];
  /** The seq the tail starts after: events (start, seq] are all here. */
  #start = 0;
  #seq = 0;
  readonly #keep: number;

  constructor(keep: number) {
    this.#keep = keep;
  }

  /** The newest seq the relay holds (its cursor with the room). */
  get seq(): number {
    return this.#seq;
  }

  /** Starts over at `seq` with nothing held before it (after a snapshot from the room). */
  reset(seq: number): void {
    this.#events = [];
    this.#start = seq;
    this.#seq = seq;
  }

  /**
   * Appends events that follow the tail; those the tail already holds are skipped. False when they
   * do not follow (a gap): the caller starts over from a snapshot.
   */
  append(events: readonly RoomEvent[]): boolean {
    for (const e of events) {
      if (e.seq <= this.#seq) continue;
      if (firstSeqOf(e) !== this.#seq + 1) return false;
      this.#events.push(e);
      this.#seq = e.seq;
      if (e.type === "chat.delete") this.#scrubChat(e.id);
    }
    const excess = this.#events.length - this.#keep;
    if (excess > 0) {
      this.#start = this.#events[excess - 1]!.seq;
      this.#events.splice(0, excess);
    }
    return true;
  }

  /**
   * A deleted chat message keeps no text here either: the room scrubs its own log the same way,
   * so a viewer replayed from a relay's tail never receives text its author took back.
   */
  #scrubChat(id: string): void {
    this.#events = this.#events.map((ev) => {
      if (!isChatEvent(ev)) return ev;
      const about = ev.type === "chat.add" ? ev.message.id : ev.type === "chat.edit" ? ev.id : undefined;
      return about === id ? (scrubbed(ev) as RoomEvent) : ev;
    });
  }

  /**
   * The events after `cursor`, or undefined when the tail cannot say exactly what follows it: the
   * cursor is older than the tail, newer than it, or inside an event merged from several seqs.
   */
  after(cursor: number): RoomEvent[] | undefined {
    if (cursor < this.#start || cursor > this.#seq) return undefined;
    if (cursor === this.#seq) return [];
    // Binary search for the first event ending after the cursor.
    let lo = 0;
    let hi = this.#events.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#events[mid]!.seq > cursor) hi = mid;
      else lo = mid + 1;
    }
    const first = this.#events[lo]!;
    if (firstSeqOf(first) !== cursor + 1) return undefined;
    return this.#events.slice(lo);
  }
}
