/**
 * The runner's side of one room: holds the room's agent connection (and its lease), the OpenCode
 * session behind it, and the outbox of room events.
 *
 *   room → OpenCode: agent.prompt → session.promptAsync (agent build/plan) → agent.prompt.started;
 *                    agent.stop → session.abort; permission / question replies forwarded.
 *   OpenCode → room: events routed here by OpenCode session id, mapped (event-map.ts), batched.
 *
 * On every lease grant and after OpenCode's event stream was lost, the session is reconciled
 * (reconcile.ts): OpenCode's messages are reread and sent as full snapshots, a turn that died is
 * shown interrupted, and the status is set from what OpenCode says now.
 *
 * The room connection, lease, heartbeats and outbox are RoomLink's (acp/room-link.ts, shared with
 * ACP agents); reconciling (reconcile.ts) and event mapping (event-map.ts) are apart.
 */
import type { OpencodeClient } from "@opencode-ai/sdk/v2";
import { type AgentFrame, type EventBody, type QueueItem, type RoomToAgentFrame, UNTITLED_SESSION } from "../shared/protocol.ts";
import type { Part } from "../shared/parts.ts";
import { mapOpencodeEvent, PLACEHOLDER_TITLE, type MappedEvent, type OpencodeEvent } from "./event-map.ts";
import { RoomLink, errText } from "./acp/room-link.ts";
import { reconcile, type OpencodeMessage } from "./reconcile.ts";
import { resolveWorkspace, type WorkspaceConfig } from "./workspace.ts";
import { cloneRepository } from "./clone.ts";
import { isPromptFor, promptMessageId } from "./ids.ts";
import { setTimeout as sleep } from "node:timers/promises";

export type { AgentState } from "./acp/room-link.ts";

export interface SessionAgentDeps {
  roomId: string;
  /** ws(s)://host base of the Worker. */
  wsBase: string;
  token: () => Promise<string>;
  runnerId: string;
  /** Resolves to a ready OpenCode client (waits out a restart). */
  opencode: () => Promise<OpencodeClient>;
  workspace: WorkspaceConfig;
  /** "provider/model" and whether it is the scripted demo. */
  model: string;
  demo: boolean;
  /** Called when the OpenCode session id becomes known or changes, for routing. */
  onOpencodeSession: (agent: SessionAgent, ocSessionId: string) => void;
  onStateChange?: (agent: SessionAgent) => void;
  log: (msg: string) => void;
  flushMs?: number;
  /** Delay before the first connection attempt (lets a previous holder reconnect first). */
  startDelayMs?: number;
}

/** Tries to start one prompt before it is reported failed (OpenCode unreachable each time). */
const PROMPT_START_ATTEMPTS = 3;

export class SessionAgent extends RoomLink {
  ocSessionId: string | undefined;
  directory: string | undefined;
  /** Prompts started in this process (queue id → OpenCode message id). */
  readonly started = new Map<string, string>();
  /** Text seen streamed per part, until the part's final snapshot arrives. */
  readonly liveText = new Map<string, string>();
  /** Counts lease grants: work started under one grant stops when a newer one (or a loss) came. */
  private grants = 0;

  private readonly deps: SessionAgentDeps;
  /** Resolves once the OpenCode session exists for the current lease. */
  private ready: Promise<boolean> = Promise.resolve(false);
  /** OpenCode events that arrive while a reconcile reads the transcript. */
  private held: OpencodeEvent[] | null = null;
  private lastTitle: string | undefined;
  private busy = false;
  /** The last status event sent (JSON), to drop OpenCode's repeats. */
  private lastStatus = "";
  /** When this session's last OpenCode event arrived (ms). */
  private lastEventAt = 0;
  /** Permission/question requests sent to the room and not closed yet. */
  private readonly openRequests = new Set<string>();
  /** Assistant messages a reconcile marked interrupted (OpenCode itself never completes them). */
  private readonly interrupted = new Set<string>();
  private resyncChain: Promise<void> = Promise.resolve();
  /** Prompt starts under way, by queue id (see runPrompt). */
  private readonly promptStarts = new Map<string, ReturnType<SessionAgent["startPrompt"]>>();

  constructor(deps: SessionAgentDeps) {
    const { onStateChange } = deps;
    super({
      ...deps,
      onStateChange: onStateChange && (() => onStateChange(this)),
      onLease: (_meta, openRequests) => this.onLease(openRequests),
      onFrame: (f) => this.onFrame(f),
    });
    this.deps = deps;
  }

  private send(events: EventBody[] | MappedEvent[]): void {
    const mapped = (events as (EventBody | MappedEvent)[]).map((e) => ("body" in e ? e : { body: e }));
    this.outbox.push(mapped);
  }

  // ───────────────────────────── the room's frames ─────────────────────────────

  /** The lease was granted (RoomLink took the connection live): get the OpenCode session ready and reconcile. */
  private async onLease(openRequests: string[]): Promise<void> {
    // What the room shows as open: the resync closes whatever OpenCode no longer has (after
    // this runner restarted, its own memory of open requests is empty).
    for (const id of openRequests) this.openRequests.add(id);
    this.grants++;
    // One prepare at a time: a lease granted again while the last prepare still creates the
    // OpenCode session (a connection dropped right after its grant) must find that session,
    // not make a second one.
    this.ready = this.ready.catch(() => false).then(() => this.prepareWithRetries());
    if (await this.ready) this.resync("lease granted");
  }

  private async onFrame(f: RoomToAgentFrame): Promise<void> {
    switch (f.type) {
      case "agent.prompt":
        return this.runPrompt(f.item);
      case "agent.stop":
        return this.abort(f.by);
      case "agent.permission.reply":
        return this.replyPermission(f.requestID, f.reply, f.message);
      case "agent.question.reply":
        return this.replyQuestion(f.requestID, f.answers);
    }
  }

  // ───────────────────────────── the OpenCode session ─────────────────────────────

  /** `prepare`, retried a few times over transient failures (OpenCode restarting or overloaded). */
  private async prepareWithRetries(): Promise<boolean> {
    const grant = this.grants;
    const stillMine = () => this.state === "held" && this.grants === grant;
    for (let attempt = 0; ; attempt++) {
      const r = await this.prepare(attempt >= 4, stillMine);
      if (r !== "retry") return r;
      await sleep(500 * 2 ** attempt);
      if (!stillMine()) return false;
    }
  }

  /** Makes sure the OpenCode session exists (creating it and the workspace on first use). */
  private async prepare(lastTry: boolean, stillMine: () => boolean): Promise<boolean | "retry"> {
    const meta = this.meta;
    if (!meta) return false;
    try {
      const oc = await this.deps.opencode();
      // The room's record, or the session this process made and the room has not heard of yet.
      const known = meta.opencodeSessionId ?? this.ocSessionId;
      if (known) {
        const directory = meta.workspace ?? this.directory;
        const got = await oc.session.get({ sessionID: known, ...(directory ? { directory } : {}) });
        const info = got.data as { id?: string; directory?: string; title?: string } | undefined;
        if (info?.id) {
          this.directory = info.directory ?? directory;
          this.bindOpencode(info.id);
          this.lastTitle = meta.title;
          return true;
        }
        // Only a definite "not found" means the session is elsewhere; anything else (a busy or
        // restarting OpenCode) is retried, never answered with a new session.
        const status = got.response?.status ?? 0;
        if (status !== 404 && status !== 400) throw new Error(`session.get answered ${status || "nothing"}: ${errText(got.error)}`);
        // The session lives in another runner's OpenCode (a takeover across machines or state
        // dirs): carry on in a new OpenCode session in the same workspace.
        this.send([
          {
            type: "session.error",
            name: "SessionMoved",
            error: "This runner cannot find the earlier OpenCode session; the conversation continues in a new one (the transcript above is kept).",
          },
        ]);
      }
      // A session made from a git URL works in its clone: the one this runner finds (a restart),
      // or a new one (the first start, or a takeover on a machine that never had it).
      const ws = meta.repository
        ? await cloneRepository(meta.repository, meta.id, this.deps.workspace)
        : resolveWorkspace(meta.directory ?? meta.workspace, meta.id, this.deps.workspace);
      // A clone can take minutes. If the lease was lost or granted again meanwhile (a reconnect
      // starts its own prepare), this one stops here rather than open a second OpenCode session.
      if (!stillMine()) return false;
      if (!ws.ok) {
        this.send([{ type: "session.error", name: ws.cloneFailed ? "CloneFailed" : "WorkspaceRefused", error: ws.error }]);
        this.deps.log(`room ${this.roomId}: ${ws.error}`);
        return false;
      }
      this.directory = ws.directory;
      // A title people gave at creation is kept; otherwise OpenCode's title model names it.
      const title = meta.title && !PLACEHOLDER_TITLE.test(meta.title) && meta.title !== UNTITLED_SESSION ? meta.title : undefined;
      const created = await oc.session.create({ directory: ws.directory, ...(title ? { title } : {}) });
      const id = (created.data as { id?: string } | undefined)?.id;
      if (!id) throw new Error(`session.create failed: ${errText(created.error)}`);
      this.bindOpencode(id);
      this.lastTitle = title;
      this.send([
        { type: "session.info", opencodeSessionId: id, model: this.deps.model, demo: this.deps.demo, workspace: ws.directory },
        { type: "status", status: "idle" },
      ]);
      this.outbox.flush();
      return true;
    } catch (e) {
      this.deps.log(`room ${this.roomId}: could not prepare the OpenCode session: ${errText(e)}`);
      if (!lastTry) return "retry";
      this.send([{ type: "session.error", name: "RunnerError", error: `The runner could not open the OpenCode session: ${errText(e)}` }]);
      return false;
    }
  }

  private bindOpencode(id: string): void {
    this.ocSessionId = id;
    this.deps.onOpencodeSession(this, id);
  }

  private dir(): { directory?: string } {
    return this.directory ? { directory: this.directory } : {};
  }

  /**
   * Runs a prompt the room handed over, once. The room hands the same item again when a new lease
   * comes before it heard "started" — and under a flaky network that can be while the first start
   * still waits for OpenCode to settle (seconds). Two starts at once would each find no message
   * for the item and prompt OpenCode twice (seen: a fourth user turn for three prompts), so a
   * second hand-over of an item waits for the first start and repeats its answer.
   */
  private async runPrompt(item: QueueItem): Promise<void> {
    const inFlight = this.promptStarts.get(item.id);
    if (inFlight) {
      this.outbox.sendInOrder(await inFlight);
      return;
    }
    const start = this.startPrompt(item);
    this.promptStarts.set(item.id, start);
    try {
      this.outbox.sendInOrder(await start);
    } finally {
      this.promptStarts.delete(item.id);
    }
  }

  /**
   * Starts the item's turn in OpenCode unless it already has one, and says which: started (with
   * its message id) or failed. Never throws: a prompt the room dispatched must get an answer, or
   * the queue waits on it until the next lease.
   */
  private async startPrompt(item: QueueItem): Promise<AgentFrame & { type: "agent.prompt.started" | "agent.prompt.failed" }> {
    const failed = (error: string) => ({ type: "agent.prompt.failed" as const, queueId: item.id, error });
    const started = (messageID: string) => ({ type: "agent.prompt.started" as const, queueId: item.id, messageID });
    if (!(await this.ready) || !this.ocSessionId) return failed("the agent has no OpenCode session (see the session error)");
    const sessionID = this.ocSessionId;
    for (let attempt = 1; ; attempt++) {
      try {
        const oc = await this.deps.opencode();
        // Already run (by this process, or one before it): its OpenCode message id carries the queue id (ids.ts).
        const known = this.started.get(item.id) ?? (await this.findPromptMessage(oc, sessionID, item.id));
        if (known) {
          this.started.set(item.id, known);
          return started(known);
        }
        await this.settled(oc, sessionID);
        const messageID = promptMessageId(item.id);
        this.started.set(item.id, messageID);
        const res = await oc.session.promptAsync({
          sessionID,
          ...this.dir(),
          messageID,
          agent: item.mode === "plan" ? "plan" : "build",
          parts: [{ type: "text", text: item.text }],
        });
        if (res.error || (res.response && !res.response.ok)) {
          this.started.delete(item.id);
          return failed(`OpenCode refused the prompt: ${errText(res.error ?? res.response?.status)}`);
        }
        this.deps.log(`room ${this.roomId}: prompt ${item.id} started as ${messageID} (${item.mode})`);
        return started(messageID);
      } catch (e) {
        // OpenCode unreachable mid-start. If the prompt got in anyway, its message says so.
        const known = await this.deps
          .opencode()
          .then((oc) => this.findPromptMessage(oc, sessionID, item.id))
          .catch(() => undefined);
        if (known) return started(known);
        this.started.delete(item.id);
        this.deps.log(`room ${this.roomId}: prompt ${item.id} could not start (attempt ${attempt}): ${errText(e)}`);
        // A restart of OpenCode passes in seconds: try again before telling people it failed.
        if (attempt >= PROMPT_START_ATTEMPTS) return failed(`The runner could not start the prompt: ${errText(e)}`);
        await sleep(1_000 * attempt);
      }
    }
  }

  /** The OpenCode message made for queue item `queueId` among the session's latest, if any. */
  private async findPromptMessage(oc: OpencodeClient, sessionID: string, queueId: string): Promise<string | undefined> {
    const recent = await oc.session.messages({ sessionID, ...this.dir(), limit: 20 });
    return (recent.data ?? []).find((m) => m.info.role === "user" && isPromptFor(m.info.id, queueId))?.info.id;
  }

  /**
   * Waits until OpenCode has really finished the previous turn. It reports `idle` (and the room
   * hands out the next prompt) a moment before it completes the last message and leaves its loop;
   * a prompt that lands in that gap gets its user message but is never answered. So: not busy, the
   * newest assistant message completed (or marked interrupted by us), and quiet for a moment.
   */
  private async settled(oc: OpencodeClient, sessionID: string, timeoutMs = 15_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (Date.now() - this.lastEventAt >= 250) {
        const [status, recent] = await Promise.all([
          oc.session.status({ ...this.dir() }),
          oc.session.messages({ sessionID, ...this.dir(), limit: 2 }),
        ]);
        const st = (status.data as Record<string, { type?: string }> | undefined)?.[sessionID]?.type;
        const last = [...(recent.data ?? [])].reverse().find((m) => m.info.role === "assistant");
        const done = !last || (last.info.time as { completed?: number }).completed !== undefined || this.interrupted.has(last.info.id);
        if ((st === undefined || st === "idle") && done && Date.now() - this.lastEventAt >= 250) return;
      }
      await sleep(100);
    }
    this.deps.log(`room ${this.roomId}: OpenCode did not settle within ${timeoutMs} ms; prompting anyway`);
  }

  private async abort(by: string): Promise<void> {
    // A Stop can come with the lease (the room repeats one a dropped connection may have lost),
    // before a restarted runner knows its OpenCode session.
    await this.ready;
    if (!this.ocSessionId) return;
    const oc = await this.deps.opencode();
    const t0 = performance.now();
    await oc.session.abort({ sessionID: this.ocSessionId, ...this.dir() });
    this.deps.log(`room ${this.roomId}: stop by ${by} took ${(performance.now() - t0).toFixed(0)} ms`);
  }

  private async replyPermission(requestID: string, reply: "once" | "always" | "reject", message?: string): Promise<void> {
    const oc = await this.deps.opencode();
    const res = await oc.permission.reply({ requestID, ...this.dir(), reply, ...(message ? { message } : {}) });
    // Unknown to OpenCode (answered already, or lost with a restarted OpenCode): close it in the room.
    if (res.error || !res.response?.ok) this.outbox.sendInOrder({ type: "agent.request.closed", requestID });
  }

  private async replyQuestion(requestID: string, answers: string[][] | null): Promise<void> {
    const oc = await this.deps.opencode();
    const res = answers === null ? await oc.question.reject({ requestID, ...this.dir() }) : await oc.question.reply({ requestID, ...this.dir(), answers });
    if (res.error || !res.response?.ok) this.outbox.sendInOrder({ type: "agent.request.closed", requestID });
  }

  // ───────────────────────────── OpenCode → room ─────────────────────────────

  /** An OpenCode event for this session. */
  onOpencodeEvent(ev: OpencodeEvent): void {
    if (this.held) {
      this.held.push(ev);
      return;
    }
    this.apply(ev);
  }

  private apply(ev: OpencodeEvent): void {
    this.lastEventAt = Date.now();
    const m = mapOpencodeEvent(ev);
    // OpenCode repeats itself (`session.status` idle, then `session.idle`, then idle again):
    // one status event per change is enough for the room's log.
    const events = m.events.filter((e) => {
      if (e.body.type !== "status") return true;
      const key = JSON.stringify(e.body);
      if (key === this.lastStatus) return false;
      this.lastStatus = key;
      return true;
    });
    for (const e of events) this.track(e.body);
    if (events.length) this.outbox.push(events.map((e) => this.tagQueue(e)));
    if (m.title && m.title !== this.lastTitle) {
      this.lastTitle = m.title;
      this.send([{ type: "session.info", title: m.title }]);
    }
    for (const id of m.closed) {
      this.openRequests.delete(id);
      this.outbox.sendInOrder({ type: "agent.request.closed", requestID: id });
    }
  }

  /** Keeps what a reconcile needs: streamed text per part, and whether a turn runs. */
  private track(b: EventBody): void {
    if (b.type === "part.delta" && b.field === "text") {
      this.liveText.set(b.partID, (this.liveText.get(b.partID) ?? "") + b.delta);
    } else if (b.type === "part.upsert") {
      const t = (b.part as { time?: { end?: number } }).time;
      if (typeof b.part.text === "string" && t?.end === undefined) this.liveText.set(b.part.id, b.part.text);
      else this.liveText.delete(b.part.id);
    } else if (b.type === "permission.asked" || b.type === "question.asked") {
      this.openRequests.add(b.request.id);
    } else if (b.type === "status") {
      this.busy = b.status !== "idle";
      if (!this.busy) this.liveText.clear();
    }
  }

  /** A user message made for a queue item says so (`queueId`), so the room can link the two. */
  private tagQueue(e: MappedEvent): MappedEvent {
    if (e.body.type !== "message.upsert" || e.body.message.role !== "user") return e;
    const id = e.body.message.id;
    for (const [queueId, messageID] of this.started) {
      if (messageID === id) return { ...e, body: { ...e.body, message: { ...e.body.message, queueId } } };
    }
    return e;
  }

  /** Rereads OpenCode's transcript and sends it whole. Serialized: one reconcile at a time. */
  resync(reason: string): void {
    this.resyncChain = this.resyncChain.then(() => this.doResync(reason)).catch((e) => this.deps.log(`room ${this.roomId}: resync failed: ${errText(e)}`));
  }

  private async doResync(reason: string): Promise<void> {
    if (this.state !== "held" || !this.ocSessionId || !(await this.ready)) return;
    const sessionID = this.ocSessionId;
    this.held = [];
    try {
      const oc = await this.deps.opencode();
      const [messages, status, permissions, questions, todos] = await Promise.all([
        oc.session.messages({ sessionID, ...this.dir() }),
        oc.session.status({ ...this.dir() }),
        oc.permission.list({ ...this.dir() }),
        oc.question.list({ ...this.dir() }),
        oc.session.todo({ sessionID, ...this.dir() }),
      ]);
      if (messages.error || !messages.data) throw new Error(`session.messages failed: ${errText(messages.error)}`);
      const st = (status.data as Record<string, { type?: string }> | undefined)?.[sessionID];
      const busy = st?.type === "busy" || st?.type === "retry";
      const out = reconcile({ messages: messages.data as OpencodeMessage[], busy, now: Date.now(), liveText: this.liveText });
      const events: MappedEvent[] = out.events.map((body) => this.tagQueue({ body }));
      const pending = new Set<string>();
      for (const p of (permissions.data ?? []) as { id?: string; sessionID?: string }[]) {
        if (p.sessionID !== sessionID) continue;
        if (p.id) pending.add(p.id);
        events.push(...mapOpencodeEvent({ type: "permission.asked", properties: p as Record<string, unknown> }).events);
      }
      for (const q of (questions.data ?? []) as { id?: string; sessionID?: string }[]) {
        if (q.sessionID !== sessionID) continue;
        if (q.id) pending.add(q.id);
        events.push(...mapOpencodeEvent({ type: "question.asked", properties: q as Record<string, unknown> }).events);
      }
      // Requests a dead OpenCode took with it: nobody can answer them any more.
      const gone = [...this.openRequests].filter((id) => !pending.has(id));
      if (Array.isArray(todos.data)) events.push(...mapOpencodeEvent({ type: "todo.updated", properties: { sessionID, todos: todos.data } }).events);
      events.push({ body: st?.type === "retry" ? { type: "status", status: "retry" } : { type: "status", status: busy ? "busy" : "idle" } });
      this.busy = busy;
      this.lastStatus = JSON.stringify(events[events.length - 1]!.body);
      for (const id of out.interrupted) this.interrupted.add(id);
      this.resyncs++;
      for (const e of events) this.track(e.body);
      this.outbox.push(events);
      for (const id of gone) {
        this.openRequests.delete(id);
        this.outbox.sendInOrder({ type: "agent.request.closed", requestID: id });
      }
      this.outbox.flush();
      this.deps.log(
        `room ${this.roomId}: reconciled (${reason}): ${messages.data.length} messages, ${out.events.length} snapshots, ${out.interrupted.length} interrupted, busy=${busy}`,
      );
      void this.writeRepairs(sessionID, out.repairs);
    } finally {
      const held = this.held ?? [];
      this.held = null;
      for (const ev of held) this.apply(ev);
    }
  }

  /** Writes repaired parts back to OpenCode so both transcripts agree; failures only logged. */
  private async writeRepairs(sessionID: string, parts: Part[]): Promise<void> {
    if (!parts.length) return;
    const oc = await this.deps.opencode();
    for (const part of parts) {
      const res = await oc.part.update({ sessionID, messageID: part.messageID, partID: part.id, ...this.dir(), part: part as never });
      if (res.error) this.deps.log(`room ${this.roomId}: could not repair part ${part.id}: ${errText(res.error)}`);
      await sleep(0);
    }
  }
}
