/**
 * Who is in the room, kept in memory and updated on connect, close and typing.
 *
 * Reading it back from the sockets' attachments (`getConnections`) deserializes every one of them:
 * ~20 ms for 1,000 people, on every presence frame. The attachments stay the durable copy: after
 * hibernation this roster is empty and is rebuilt from them once.
 */
import type { PresenceUser, Role } from "../../shared/protocol.ts";

/**
 * People listed by name in one presence frame; `total` counts everyone. The app shows a handful of
 * avatars and "+N", so listing a big room in full would only make every presence frame (one send
 * per person) heavier: 200 listed was ~12 KB × 1,000 recipients.
 */
export const PRESENCE_LISTED = 50;

/** Who is listed first when the room is bigger than the list: typists, then those who can act. */
const ROLE_RANK: Record<Role, number> = { owner: 0, driver: 1, approver: 2, agent: 3, viewer: 4 };

export class PresenceRoster {
  #users: Map<string, PresenceUser> | undefined;

  /** Fills the roster from the attachments the first time it is needed in this instance. */
  ensure(load: () => Iterable<PresenceUser>): void {
    if (this.#users) return;
    this.#users = new Map();
    for (const u of load()) this.#users.set(u.id, u);
  }

  /** Adds or replaces a person (no-op until the roster is loaded: loading will read them). */
  set(user: PresenceUser): void {
    this.#users?.set(user.id, user);
  }

  remove(id: string): void {
    this.#users?.delete(id);
  }

  clear(): void {
    this.#users = undefined;
  }

  /**
   * The frame's content: at most `listed` people, typists and actors first, and the total. `more`
   * are the relays' reports (each lists a few of its viewers and counts all of them).
   */
  frame(listed = PRESENCE_LISTED, more: readonly { count: number; users: readonly PresenceUser[] }[] = []): { users: PresenceUser[]; total: number } {
    const all = [...(this.#users?.values() ?? [])];
    let total = all.length;
    for (const m of more) {
      all.push(...m.users);
      total += m.count;
    }
    if (all.length > listed) {
      all.sort((a, b) => Number(!!b.typing) - Number(!!a.typing) || ROLE_RANK[a.role] - ROLE_RANK[b.role]);
    }
    return { users: all.slice(0, listed), total };
  }
}
