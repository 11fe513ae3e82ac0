/**
 * The runner's side of one room whose agent speaks ACP (runner/acp/README in docs/architecture.md):
 * the room connection and its lease (room-link.ts), and behind it one ACP agent process for the
 * session (process.ts), driven as an ACP client.
 *
 *   room → agent: agent.prompt → session/set_mode (Build/Plan, where offered) + session/prompt,
 *                 one at a time as the room hands them out; agent.stop → session/cancel;
 *                 permission replies answer the agent's pending session/request_permission.
 *   agent → room: session/update → room events (map.ts), through the same outbox as OpenCode's.
 *
 * The agent's session id is kept in the room (`opencodeSessionId`); a later lease — a runner
 * restart, a takeover — resumes it with session/load where the agent offers it (the replayed
 * history is not mapped again: the room's log already holds it), else starts a new one.
 */
import { ClientSideConnection, ndJsonStream, type Client, type InitializeResponse, type RequestPermissionRequest, type RequestPermissionResponse, type SessionNotification, type SessionModeState } from "@agentclientprotocol/sdk";
import { randomBytes } from "node:crypto";
import type { AgentFrame, QueueItem, RoomToAgentFrame, SessionMeta, PermissionReply } from "../../shared/protocol.ts";
import type { MappedEvent } from "../event-map.ts";
import { resolveWorkspace, type WorkspaceConfig } from "../workspace.ts";
import { cloneRepository } from "../clone.ts";
import { promptMessageId } from "../ids.ts";
import { AgentProcess } from "./process.ts";
import { WorkspaceClient } from "./client-side.ts";
import { AcpTurn, commandText, userMessage } from "./map.ts";
import { agentEnv, modeFor, type AcpAgentSpec, type LaunchContext } from "./agents.ts";
import { RoomLink, type RoomLinkDeps } from "./room-link.ts";
import { readTurnRecord, writeTurnRecord } from "./turn-record.ts";

export interface AcpSessionDeps extends Omit<RoomLinkDeps, "onFrame" | "onLease"> {
  workspace: WorkspaceConfig;
  spec: AcpAgentSpec;
  launch: LaunchContext;
  /** What the session info says runs it (e.g. "Claude Code · scripted/demo"). */
  model: string;
  demo: boolean;
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : typeof e === "string" ? e : JSON.stringify(e));
/** A cancelled turn that the agent has not ended by then is ended by the runner (agent restarted). */
const CANCEL_GRACE_MS = 3_000;

interface Pending {
  resolve: (r: RequestPermissionResponse) => void;
  options: RequestPermissionRequest["options"];
}

export class AcpSessionAgent extends RoomLink {
  private readonly acp: AcpSessionDeps;
  private proc: AgentProcess | null = null;
  private conn: ClientSideConnection | null = null;
  private init: InitializeResponse | null = null;
  /** The agent process's environment (the variables its auth methods name). */
  private agentVars: Record<string, string> = {};
  private files: WorkspaceClient | null = null;
  private sessionId: string | undefined;
  private modes: SessionModeState | null = null;
  private directory: string | undefined;
  private ready: Promise<boolean> = Promise.resolve(false);
  /** Replaying history (session/load): updates are the room's already. */
  private loading = false;
  private turn: AcpTurn | null = null;
  private turnDone: Promise<void> = Promise.resolve();
  /**
   * Resolves `turnDone`: when session/prompt answers, and also when the agent dies or is restarted
   * (the SDK leaves a request to a closed connection unanswered).
   */
  private releaseTurn: () => void = () => {};
  private readonly started = new Map<string, string>();
  private readonly starting = new Map<string, Promise<AgentFrame & { type: "agent.prompt.started" | "agent.prompt.failed" }>>();
  private readonly permissions = new Map<string, Pending>();
  /** Updates whose kind this adapter does not know, by kind (logged once each). */
  private readonly unknownKinds = new Set<string>();

  constructor(deps: AcpSessionDeps) {
    super({ ...deps, onFrame: (f) => this.onFrame(f), onLease: (m, open) => this.onLease(m, open) });
    this.acp = deps;
  }

  get agentPid(): number | undefined {
    return this.proc?.exited ? undefined : this.proc?.pid;
  }

  override async stop(flush = true): Promise<void> {
    await super.stop(flush);
    await this.shutdownAgent();
  }

  // ───────────────────────────── room → agent ─────────────────────────────

  private async onLease(meta: SessionMeta, openRequests: string[]): Promise<void> {
    this.ready = this.ready.catch(() => false).then(() => this.prepare(meta));
    if (!(await this.ready)) return;
    // Requests a dead agent (or runner) took with it: nobody can answer them any more.
    for (const id of openRequests) if (!this.permissions.has(id)) this.sendInOrder({ type: "agent.request.closed", requestID: id });
    // A turn the last runner left unfinished is shown interrupted.
    const left = readTurnRecord(this.acp.launch.stateDir, this.roomId);
    if (left && !this.turn) {
      const t = new AcpTurn(left.messageID, undefined, left.created);
      this.push(t.end({ error: "The runner stopped during this turn; it was interrupted." }));
      writeTurnRecord(this.acp.launch.stateDir, this.roomId, null);
    }
    if (!this.turn) this.push([{ body: { type: "status", status: "idle" } }]);
    this.flush();
    // (The same word as the OpenCode path's log: tools wait for it to know the session is held.)
    this.acp.log(`room ${this.roomId}: reconciled (lease granted): ${this.acp.spec.id} session ${this.sessionId}`);
  }

  private async onFrame(f: RoomToAgentFrame): Promise<void> {
    switch (f.type) {
      case "agent.prompt":
        return this.runPrompt(f.item);
      case "agent.stop":
        return this.cancel(f.by);
      case "agent.permission.reply":
        return this.replyPermission(f.requestID, f.reply);
      case "agent.question.reply":
        // ACP has no questions: an answer to one this adapter never asked only closes it.
        this.sendInOrder({ type: "agent.request.closed", requestID: f.requestID });
        return;
      default:
        return;
    }
  }

  // ───────────────────────────── the agent process ─────────────────────────────

  /** Starts the agent (if needed) and opens or loads the session. False: it could not. */
  private async prepare(meta: SessionMeta): Promise<boolean> {
    try {
      if (!this.directory) {
        const ws = meta.repository ? await cloneRepository(meta.repository, meta.id, this.acp.workspace) : resolveWorkspace(meta.directory ?? meta.workspace, meta.id, this.acp.workspace);
        if (!ws.ok) {
          this.push([{ body: { type: "session.error", name: ws.cloneFailed ? "CloneFailed" : "WorkspaceRefused", error: ws.error } }]);
          return false;
        }
        this.directory = ws.directory;
      }
      if (this.conn && this.sessionId && !this.proc?.exited) return true;
      await this.startAgent(this.directory);
      const known = meta.opencodeSessionId ?? this.sessionId;
      const conn = this.conn!;
      const mcpServers: never[] = [];
      if (known && this.init?.agentCapabilities?.loadSession) {
        this.loading = true;
        try {
          const r = await this.authed(() => conn.loadSession({ sessionId: known, cwd: this.directory!, mcpServers }));
          this.sessionId = known;
          this.modes = r?.modes ?? null;
          this.acp.log(`room ${this.roomId}: ${this.acp.spec.id} session ${known} loaded`);
          return true;
        } catch (e) {
          this.acp.log(`room ${this.roomId}: session/load ${known} failed (${errText(e)}); starting a new session`);
        } finally {
          this.loading = false;
        }
      }
      const r = await this.authed(() => conn.newSession({ cwd: this.directory!, mcpServers }));
      this.sessionId = r.sessionId;
      this.modes = r.modes ?? null;
      if (known) {
        this.push([{ body: { type: "session.error", name: "SessionMoved", error: "The agent cannot resume its earlier session; the conversation continues in a new one (the transcript above is kept)." } }]);
      }
      this.push([{ body: { type: "session.info", opencodeSessionId: r.sessionId, model: this.acp.model, demo: this.acp.demo, workspace: this.directory } }]);
      this.acp.log(`room ${this.roomId}: ${this.acp.spec.id} session ${r.sessionId} (modes: ${this.modes?.availableModes.map((m) => m.id).join(", ") || "none"})`);
      return true;
    } catch (e) {
      const tail = this.proc?.stderr().trim().split("\n").slice(-5).join("\n");
      this.acp.log(`room ${this.roomId}: could not start ${this.acp.spec.id}: ${errText(e)}${tail ? `\n${tail}` : ""}`);
      this.push([{ body: { type: "session.error", name: "AgentStartFailed", error: `The runner could not start ${this.acp.spec.label}: ${errText(e)}` } }]);
      await this.shutdownAgent();
      return false;
    }
  }

  /**
   * A session call, retried once after `authenticate` when the agent says authentication is
   * required (-32000) and offers a method whose variables its environment holds (codex-acp with a
   * real OPENAI_API_KEY: it lists the variable but will not read it until told to).
   */
  private async authed<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      if ((e as { code?: unknown } | null)?.code !== -32000 || !this.conn) throw e;
      const method = (this.init?.authMethods ?? []).find((m) => {
        const vars = (m as { vars?: { name?: unknown }[] }).vars;
        return Array.isArray(vars) && vars.length > 0 && vars.every((v) => typeof v?.name === "string" && Boolean(this.agentVars[v.name]));
      });
      if (!method) throw e;
      await this.conn.authenticate({ methodId: method.id });
      this.acp.log(`room ${this.roomId}: ${this.acp.spec.id} authenticated (${method.id})`);
      return call();
    }
  }

  private async startAgent(cwd: string): Promise<void> {
    await this.shutdownAgent();
    const spec = this.acp.spec;
    this.agentVars = agentEnv(spec, this.acp.launch);
    const files = new WorkspaceClient(cwd, { missingReadsEmpty: spec.preset === "gemini" });
    const proc = new AgentProcess({
      command: spec.command,
      args: spec.args,
      cwd,
      env: this.agentVars,
      log: this.acp.log,
      onExit: (code, signal) => this.onAgentExit(proc, code, signal),
    });
    this.proc = proc;
    this.files = files;
    files.onTerminalOutput = (id) => {
      if (this.turn) this.push(this.turn.refreshTerminal(id));
    };
    const client: Client = {
      sessionUpdate: async (n) => this.onUpdate(n),
      requestPermission: (p) => this.askPermission(p),
      readTextFile: (p) => files.readTextFile(p),
      writeTextFile: (p) => files.writeTextFile(p),
      createTerminal: (p) => files.createTerminal(p),
      terminalOutput: (p) => files.terminalOutput(p),
      waitForTerminalExit: (p) => files.waitForTerminalExit(p),
      killTerminal: (p) => files.killTerminal(p),
      releaseTerminal: (p) => files.releaseTerminal(p),
    };
    this.conn = new ClientSideConnection(() => client, ndJsonStream(proc.input, proc.output));
    const t0 = performance.now();
    this.init = await Promise.race([
      this.conn.initialize({ protocolVersion: 1, clientCapabilities: { fs: { readTextFile: true, writeTextFile: true }, terminal: true } }),
      new Promise<never>((_, reject) => proc.child.once("exit", (c) => reject(new Error(`${spec.command} exited (code ${c}) before initialize: ${proc.stderr().slice(-500)}`)))),
    ]);
    this.acp.log(`room ${this.roomId}: ${spec.id} (pid ${proc.pid}) initialized in ${Math.round(performance.now() - t0)} ms: ${this.init.agentInfo?.name ?? "?"} ${this.init.agentInfo?.version ?? ""}, protocol ${this.init.protocolVersion}, load=${Boolean(this.init.agentCapabilities?.loadSession)}`);
  }

  private onAgentExit(proc: AgentProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.proc !== proc) return;
    this.acp.log(`room ${this.roomId}: ${this.acp.spec.id} exited (code ${code}, signal ${signal})`);
    this.conn = null;
    this.files?.close();
    for (const p of this.permissions.values()) p.resolve({ outcome: { outcome: "cancelled" } });
    this.closeAllPermissions();
    this.releaseTurn();
    if (this.turn) {
      this.finishTurn({ error: `${this.acp.spec.label} exited (code ${code}, signal ${signal}): ${proc.stderr().trim().split("\n").slice(-3).join(" ").slice(0, 500)}` });
    }
    // The next lease or prompt starts it again (and loads the session where it can).
    this.ready = Promise.resolve(false);
  }

  private async shutdownAgent(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    this.conn = null;
    this.files?.close();
    this.files = null;
    if (proc) await proc.stop();
  }

  // ───────────────────────────── prompts ─────────────────────────────

  /**
   * Runs a prompt the room handed over, once: the room hands an item again when a new lease comes
   * before it heard "started" (a reconnect while the agent starts can take seconds), and a second
   * hand-over waits for the first start and repeats its answer.
   */
  private async runPrompt(item: QueueItem): Promise<void> {
    const known = this.started.get(item.id);
    if (known) {
      this.sendInOrder({ type: "agent.prompt.started", queueId: item.id, messageID: known });
      return;
    }
    const inflight = this.starting.get(item.id);
    if (inflight) {
      this.sendInOrder(await inflight);
      return;
    }
    const start = this.startPrompt(item);
    this.starting.set(item.id, start);
    try {
      this.sendInOrder(await start);
    } finally {
      this.starting.delete(item.id);
    }
  }

  /** Starts the item's turn (session/prompt runs on in the background); never throws. */
  private async startPrompt(item: QueueItem): Promise<AgentFrame & { type: "agent.prompt.started" | "agent.prompt.failed" }> {
    // One turn at a time: the room hands the next prompt once it saw idle, but the agent's
    // answer to the last session/prompt may still be on its way.
    await this.turnDone;
    if (!(await this.ready) || !this.conn) {
      if (this.meta) this.ready = this.prepare(this.meta);
      if (!(await this.ready) || !this.conn) return { type: "agent.prompt.failed", queueId: item.id, error: `${this.acp.spec.label} is not running (see the session error)` };
    }
    const conn = this.conn;
    const sessionId = this.sessionId!;
    const wanted = this.modes ? modeFor(item.mode, this.modes.availableModes) : undefined;
    if (wanted && wanted !== this.modes?.currentModeId) {
      try {
        await conn.setSessionMode({ sessionId, modeId: wanted });
        this.modes = { ...this.modes!, currentModeId: wanted };
      } catch (e) {
        this.acp.log(`room ${this.roomId}: session/set_mode ${wanted} failed: ${errText(e)}`);
      }
    }
    const userID = promptMessageId(item.id);
    this.started.set(item.id, userID);
    const turn = new AcpTurn(promptMessageId(`${item.id}:answer`), sessionId);
    turn.terminalOutput = (id) => this.files?.output(id);
    this.turn = turn;
    writeTurnRecord(this.acp.launch.stateDir, this.roomId, { messageID: turn.messageID, created: Date.now() });
    this.push([...userMessage(userID, item.text, item.id), { body: { type: "status", status: "busy" } }, ...turn.begin(item.mode)]);
    let done!: () => void;
    this.turnDone = new Promise((r) => (done = r));
    this.releaseTurn = done;
    this.acp.log(`room ${this.roomId}: prompt ${item.id} → session/prompt (${item.mode}${wanted ? `, mode ${wanted}` : ""})`);
    conn
      .prompt({ sessionId, prompt: [{ type: "text", text: item.text }] })
      .then((r) => this.finishTurn(r.stopReason, turn))
      .catch((e) => this.finishTurn({ error: errText(e) }, turn))
      .finally(done);
    return { type: "agent.prompt.started", queueId: item.id, messageID: userID };
  }

  private finishTurn(stop: Parameters<AcpTurn["end"]>[0], turn: AcpTurn | null = this.turn): void {
    if (!turn || turn.ended) return;
    const events = turn.end(stop);
    if (typeof stop === "object") events.push({ body: { type: "session.error", name: "AgentError", error: stop.error.slice(0, 4_000) } });
    if (this.turn === turn) {
      this.turn = null;
      writeTurnRecord(this.acp.launch.stateDir, this.roomId, null);
      events.push({ body: { type: "status", status: "idle" } });
    }
    this.push(events);
    this.flush();
  }

  private async cancel(by: string): Promise<void> {
    const turn = this.turn;
    if (!turn || !this.conn || !this.sessionId) return;
    const t0 = performance.now();
    // The spec: the client answers every pending permission request `cancelled` on a cancel.
    for (const p of this.permissions.values()) p.resolve({ outcome: { outcome: "cancelled" } });
    this.closeAllPermissions();
    await this.conn.cancel({ sessionId: this.sessionId });
    const ended = await Promise.race([this.turnDone.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), CANCEL_GRACE_MS))]);
    if (!ended) {
      this.acp.log(`room ${this.roomId}: ${this.acp.spec.id} did not end the turn within ${CANCEL_GRACE_MS} ms of session/cancel; restarting it`);
      this.finishTurn("cancelled", turn);
      this.releaseTurn();
      await this.shutdownAgent();
      this.ready = Promise.resolve(false);
    }
    this.acp.log(`room ${this.roomId}: stop by ${by} took ${(performance.now() - t0).toFixed(0)} ms`);
  }

  // ───────────────────────────── agent → room ─────────────────────────────

  private onUpdate(n: SessionNotification): void {
    if (n.sessionId !== this.sessionId || this.loading) return;
    const u = n.update;
    if (u.sessionUpdate === "current_mode_update" && this.modes) this.modes = { ...this.modes, currentModeId: u.currentModeId };
    // Plans can come between turns; everything else belongs to the running turn.
    const turn = this.turn ?? (u.sessionUpdate === "plan" ? new AcpTurn("plan", this.sessionId) : null);
    if (!turn) return;
    const { events, known } = turn.update(u);
    if (!known && !this.unknownKinds.has(String(u.sessionUpdate))) {
      this.unknownKinds.add(String(u.sessionUpdate));
      this.acp.log(`room ${this.roomId}: skipped an ACP update of unknown kind ${JSON.stringify(u.sessionUpdate).slice(0, 80)}`);
    }
    this.push(events);
  }

  private askPermission(p: RequestPermissionRequest): Promise<RequestPermissionResponse> {
    if (p.sessionId !== this.sessionId) return Promise.resolve({ outcome: { outcome: "cancelled" } });
    const id = `per_${randomBytes(8).toString("hex")}`;
    const tc = p.toolCall;
    const command = commandText(tc.rawInput);
    const title = tc.title ?? (command ? `Run: ${command}` : "Permission");
    this.push([
      {
        eid: `perm:${id}`,
        body: {
          type: "permission.asked",
          request: {
            id,
            // Claude Code's requests carry no kind: the command, or the tool the call was shown as.
            permission: tc.kind === "execute" || command ? "bash" : tc.kind === "edit" ? "edit" : (tc.kind ?? this.turn?.toolName(tc.toolCallId) ?? "tool"),
            title: title.slice(0, 500),
            patterns: command ? [command] : (tc.locations ?? []).map((l) => l.path),
            metadata: { ...(command ? { command } : {}), options: p.options.map((o) => ({ id: o.optionId, name: o.name, kind: o.kind })) },
            ...(this.turn ? { messageID: this.turn.messageID } : {}),
            callID: tc.toolCallId,
            createdAt: Date.now(),
          },
        },
      },
    ]);
    this.flush();
    return new Promise((resolve) => this.permissions.set(id, { resolve, options: p.options }));
  }

  /** The first answer wins: a request already answered (or gone with its agent) only closes. */
  private replyPermission(requestID: string, reply: PermissionReply): void {
    const p = this.permissions.get(requestID);
    this.permissions.delete(requestID);
    if (p) {
      const prefs = reply === "once" ? ["allow_once", "allow_always"] : reply === "always" ? ["allow_always", "allow_once"] : ["reject_once", "reject_always"];
      const option = prefs.map((k) => p.options.find((o) => o.kind === k)).find(Boolean);
      p.resolve(option ? { outcome: { outcome: "selected", optionId: option.optionId } } : { outcome: { outcome: "cancelled" } });
    }
    this.sendInOrder({ type: "agent.request.closed", requestID });
  }

  private closeAllPermissions(): void {
    for (const id of this.permissions.keys()) this.sendInOrder({ type: "agent.request.closed", requestID: id });
    this.permissions.clear();
  }

  private push(events: MappedEvent[]): void {
    if (events.length) this.outbox.push(events);
  }

  private sendInOrder(f: AgentFrame): void {
    this.outbox.sendInOrder(f);
  }

  private flush(): void {
    this.outbox.flush();
  }
}
