/**
 * Where the Worker sends a new viewer of this session: the room itself while its audience is
 * small, then relays, each filled to its capacity before the next is used (`relayAfterViewers`,
 * `relayCapacity`, `maxRelays`). The counts are the room's people and the relays' reports; a
 * viewer sent somewhere is counted there at once (pending), since its join or the relay's next
 * report comes a little later and a burst of joins must not all see the same stale count.
 */
import type { Limits } from "../../shared/limits.ts";

/** How long a viewer sent to the room counts as pending if its join never arrives. */
const PENDING_MS = 2_000;

export type Route = { to: "room" } | { to: "relay"; index: number } | { to: "full" };

export class RelayRouter {
  readonly #limits: Pick<Limits, "relayAfterViewers" | "relayCapacity" | "maxRelays">;
  #pendingRoom: number[] = [];
  /**
   * Per relay: when each viewer sent to it was sent, oldest first, until its report says it
   * joined (reports count joins since the relay started, so a report sent before the latest
   * viewers arrived does not forget them), or until PENDING_MS passed.
   */
  #pendingRelay = new Map<number, { sent: number[]; joinsSeen: number }>();

  constructor(limits: Pick<Limits, "relayAfterViewers" | "relayCapacity" | "maxRelays">) {
    this.#limits = limits;
  }

  /** `roomViewers`: people on the room itself; `relayCounts`: each relay's last report. */
  route(roomViewers: number, relayCounts: ReadonlyMap<number, number>, now: number): Route {
    while (this.#pendingRoom.length && this.#pendingRoom[0]! < now - PENDING_MS) this.#pendingRoom.shift();
    if (roomViewers + this.#pendingRoom.length < this.#limits.relayAfterViewers) {
      this.#pendingRoom.push(now);
      return { to: "room" };
    }
    for (let index = 0; index < this.#limits.maxRelays; index++) {
      let p = this.#pendingRelay.get(index);
      while (p?.sent.length && p.sent[0]! < now - PENDING_MS) p.sent.shift();
      if ((relayCounts.get(index) ?? 0) + (p?.sent.length ?? 0) < this.#limits.relayCapacity) {
        if (!p) this.#pendingRelay.set(index, (p = { sent: [], joinsSeen: 0 }));
        p.sent.push(now);
        return { to: "relay", index };
      }
    }
    return { to: "full" };
  }

  /** A person joined the room: one pending room place is taken. */
  joinedRoom(): void {
    this.#pendingRoom.shift();
  }

  /** A relay reported: `joins` viewers have joined it since it started; that many are no longer pending. */
  reported(index: number, joins: number): void {
    const p = this.#pendingRelay.get(index);
    if (!p) return;
    const fresh = joins >= p.joinsSeen ? joins - p.joinsSeen : joins;
    p.joinsSeen = joins;
    p.sent.splice(0, fresh);
  }

  /** A relay's link closed (it retired or died): a new instance starts counting from zero. */
  forget(index: number): void {
    this.#pendingRelay.delete(index);
  }
}
