/**
 * The runner lease and prompt dispatch: which agent connection holds the session, granting and
 * releasing it, and handing the queue's head to that runner when it is free. Its own module so the
 * room class only wires; the room is reached through `LeaseHost`.
 *
 * The lease record lives in `meta` and is written here only (grant, heartbeat, release); what
 * people see of it (the agent online, a prompt back in the queue) goes through the room's commit,
 * as events. The record itself is not an event on purpose: nobody sees it, it changes on every
 * heartbeat, and logging it would send every viewer a frame per heartbeat.
 */
import type { Connection } from "partyserver";
import { CLOSE_CODES, type QueueItem, type RoomEventBody } from "../../shared/protocol.ts";
import type { Limits } from "../../shared/limits.ts";
import type { ConnState } from "./conn-state.ts";
import { derivedStatus, type RoomStores } from "./apply.ts";
import { sendAgent, sendError } from "./send.ts";

/** What the lease needs of the room. */
export interface LeaseHost {
  readonly stores: RoomStores;
  readonly limits: Limits;
  /** The room's open agent connections. */
  agentConnections(): Iterable<Connection<ConnState>>;
  commit(bodies: readonly RoomEventBody[]): unknown;
  scheduleAlarm(): Promise<void>;
}

export class Lease {
  readonly #room: LeaseHost;
  constructor(room: LeaseHost) {
    this.#room = room;
  }

  /**
   * A person pressed Stop: the holder gets it now, and whoever holds the lease next gets it again
   * while the turn still runs. False when there is no runner and no turn to stop.
   *
   * A Stop sent to a holder whose socket just died (or pressed while the runner reconnects) never
   * reaches OpenCode, and the turn would run on after people saw "stopping…". So the Stop is kept
   * (`pendingStop` in meta: the room may hibernate while the runner is away) until a new prompt is
   * handed out; a Stop repeated to an idle OpenCode does nothing.
   */
  stop(by: string): boolean {
    const holder = this.holder();
    const running = this.#turnRuns();
    if (!holder && !running) return false;
    if (running) this.#room.stores.meta.set("pendingStop", by);
    if (holder) sendAgent(holder, { type: "agent.stop", by });
    return true;
  }

  /** The open runner connection holding the lease, if any. */
  holder(): Connection<ConnState> | undefined {
    const lease = this.#room.stores.meta.get("lease");
    if (!lease) return undefined;
    for (const c of this.#room.agentConnections()) {
      if (c.state?.leaseId === lease.leaseId) return c;
    }
    return undefined;
  }

  /** True when this connection is the one holding the lease. */
  holds(conn: Connection<ConnState>): boolean {
    const lease = this.#room.stores.meta.get("lease");
    return !!lease && conn.state?.leaseId !== undefined && conn.state.leaseId === lease.leaseId;
  }

  /** A runner connected: grant it the lease, or refuse it (archived; another runner holds it). */
  join(conn: Connection<ConnState>, runnerId: string | undefined): void {
    const { meta, requests } = this.#room.stores;
    const session = meta.session();
    if (session.archived) {
      sendAgent(conn, { type: "agent.lease", granted: false, session, leaseMs: 0 });
      sendError(conn, "archived", "this session is archived");
      conn.close(CLOSE_CODES.archived, "archived");
      return;
    }
    const now = Date.now();
    const lease = meta.get("lease");
    const holder = this.holder();
    // The same runner reconnecting (same `?runner=` id) takes its lease over at once: its old
    // socket is dead even if the server has not noticed yet. Every agent token is equally
    // trusted, so this only decides between runners, never lets anyone else in.
    const sameClient = runnerId !== undefined && lease?.runnerId === runnerId;
    if (lease && holder && holder !== conn && !sameClient && lease.expiresAt > now) {
      sendAgent(conn, { type: "agent.lease", granted: false, session, leaseMs: lease.expiresAt - now });
      sendError(conn, "lease_held", "another runner holds this session");
      conn.close(CLOSE_CODES.leaseHeld, "lease held");
      return;
    }
    if (holder && holder !== conn) holder.close(CLOSE_CODES.leaseExpired, "lease taken over");
    const leaseId = crypto.randomUUID();
    conn.setState({ ...conn.state!, leaseId });
    meta.set("lease", { connId: conn.id, leaseId, ...(runnerId ? { runnerId } : {}), expiresAt: now + this.#room.limits.agentLeaseMs });
    this.#commitAgent(true);
    const openRequests = [...requests.open("permission"), ...requests.open("question"), ...requests.answeredNotClosed()].map((r) => r.id);
    sendAgent(conn, { type: "agent.lease", granted: true, session: meta.session(), leaseMs: this.#room.limits.agentLeaseMs, openRequests });
    // Replies given while no runner held the session still reach OpenCode.
    for (const r of requests.answeredNotClosed()) {
      const a = r.answer as { reply?: "once" | "always" | "reject"; message?: string; answers?: string[][] | null };
      if (r.kind === "permission" && a.reply) {
        sendAgent(conn, { type: "agent.permission.reply", requestID: r.id, reply: a.reply, message: a.message });
      } else if (r.kind === "question") {
        sendAgent(conn, { type: "agent.question.reply", requestID: r.id, answers: a.answers ?? null });
      }
    }
    // A Stop for a turn that still runs may never have reached the runner (see `stop`).
    const pendingStop = meta.get("pendingStop");
    if (pendingStop) {
      if (this.#turnRuns()) sendAgent(conn, { type: "agent.stop", by: pendingStop });
      else meta.set("pendingStop", null);
    }
    void this.#room.scheduleAlarm();
    this.dispatch();
  }

  /** A turn is under way: the runner reported it busy (or retrying), or a prompt is out to it. */
  #turnRuns(): boolean {
    const { meta, queue } = this.#room.stores;
    return (meta.get("rawStatus") ?? "idle") !== "idle" || queue.dispatched() !== undefined;
  }

  /** The holder's heartbeat: the lease runs for another `agentLeaseMs` from `now`. */
  renew(runnerId: string, now: number): void {
    const meta = this.#room.stores.meta;
    const lease = meta.get("lease");
    if (!lease) return;
    meta.set("lease", { ...lease, runnerId, expiresAt: now + this.#room.limits.agentLeaseMs });
    void this.#room.scheduleAlarm();
  }

  /** The alarm: a lease not renewed in time is closed and released. */
  expireIfDue(now: number): void {
    const lease = this.#room.stores.meta.get("lease");
    if (!lease || lease.expiresAt > now) return;
    this.holder()?.close(CLOSE_CODES.leaseExpired, "lease expired");
    this.release();
  }

  /** The holder is gone (closed, expired, archived): no runner holds the session. */
  release(): void {
    this.#room.stores.meta.set("lease", null);
    this.#commitAgent(false);
  }

  /**
   * A lease granted or released: a prompt handed to a runner that vanished goes back to the queue
   * (runners treat agent.prompt idempotently by item id), and the agent shows online or not.
   */
  #commitAgent(online: boolean): void {
    const { meta, queue } = this.#room.stores;
    const bodies: RoomEventBody[] = [];
    const stuck = queue.dispatched();
    if (stuck) bodies.push({ type: "queue.update", item: { ...stuck, state: "queued" } });
    if (meta.session().agentOnline !== online) bodies.push({ type: "agent.presence", online });
    if (bodies.length) this.#room.commit(bodies);
  }

  /** Hands the queue's head to the agent when it is online, idle, unblocked and nothing is out. */
  dispatch(): void {
    const { meta, queue } = this.#room.stores;
    const agent = this.holder();
    if (!agent) return;
    if (meta.session().archived) return;
    if (queue.dispatched()) return;
    if (derivedStatus(this.#room.stores) !== "idle") return;
    const head = queue.head();
    if (!head) return;
    // A new turn: a Stop pressed for an earlier one is done with.
    if (meta.get("pendingStop")) meta.set("pendingStop", null);
    const item: QueueItem = { ...head, state: "dispatched" };
    this.#room.commit([{ type: "queue.update", item }]);
    sendAgent(agent, { type: "agent.prompt", item });
  }
}
