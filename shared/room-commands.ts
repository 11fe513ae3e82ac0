/**
 * A room client's commands in flight: each frame carries a `ref` the room answers (`ack` or
 * `error`), and the promise the caller holds settles then. Prompts and chat messages are durable:
 * kept across drops and resent under the same id on every open (the room drops a duplicate), and
 * prompts are saved to the prompt store so a reload sends them too. Other commands fail on a drop
 * or after a timeout: a stop or a permission reply sent minutes later could hit another turn.
 */
import type { ClientFrame, ErrorCode } from "./protocol.ts";
import type { ConnectionState } from "./connection-types.ts";
import { RoomCommandError, randomId, type CommandErrorCode, type UnsentPrompt, type UnsentPromptStore } from "./room-client-types.ts";

export interface PendingCommand {
  ref: string;
  frame: string;
  /** Prompts survive reconnects and are resent; other commands fail on a drop. */
  durable: boolean;
  kind: ClientFrame["type"];
  resolve: (value: unknown) => void;
  reject: (err: RoomCommandError) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/** The part of the connection commands go through. */
export interface CommandLink {
  readonly state: ConnectionState;
  readonly isOpen: boolean;
  send(data: string): boolean;
}

export interface PendingCommandsOptions {
  /** The connection, looked up when a command is sent (the client builds it after this). */
  link: () => CommandLink;
  /** Reject a non-durable command that gets no answer in this time. Default 15 s. */
  commandTimeoutMs?: number;
  promptStore?: UnsentPromptStore;
  /** Base delay before resending a durable frame the room refused as rate-limited (jittered up to 2x). */
  rateRetryMs: number;
}

export class PendingCommands {
  private readonly pending = new Map<string, PendingCommand>();
  private refCounter = 0;
  private readonly refPrefix = randomId("r").slice(0, 9) + "-";

  private readonly opts: PendingCommandsOptions;

  constructor(opts: PendingCommandsOptions) {
    this.opts = opts;
  }

  nextRef(): string {
    return this.refPrefix + (++this.refCounter).toString(36);
  }

  get(ref: string): PendingCommand | undefined {
    return this.pending.get(ref);
  }

  /** Sends `frame` and resolves with the room's answer to its ref. */
  send<T>(frame: ClientFrame, durable = false): Promise<T> {
    const conn = this.opts.link();
    return new Promise<T>((resolve, reject) => {
      const s = conn.state;
      if (s.status === "closed") {
        reject(new RoomCommandError("closed", `not connected: ${s.message}`));
        return;
      }
      const text = JSON.stringify(frame);
      const ref = frame.ref as string;
      if (!durable && !conn.isOpen) {
        // A stop or a permission reply sent minutes later could hit a different turn: refuse now.
        reject(new RoomCommandError("disconnected", "not connected to the room; try again when connected", ref));
        return;
      }
      const p: PendingCommand = {
        ref,
        frame: text,
        durable,
        kind: frame.type,
        resolve: resolve as (v: unknown) => void,
        reject,
      };
      if (!durable) {
        const ms = this.opts.commandTimeoutMs ?? 15_000;
        p.timer = setTimeout(() => {
          this.pending.delete(ref);
          reject(new RoomCommandError("timeout", `no answer from the room within ${ms} ms`, ref));
        }, ms);
      }
      this.pending.set(ref, p);
      conn.send(text); // a durable one not sent now goes out on the next open
    });
  }

  /** Settles the command with this ref; false when none is waiting (unasked, or timed out). */
  settle(ref: string | undefined, ok: boolean, value: unknown, code?: ErrorCode, message?: string): boolean {
    if (ref === undefined) return false;
    const p = this.pending.get(ref);
    if (!p) return false;
    this.pending.delete(ref);
    clearTimeout(p.timer);
    if (p.durable) this.savePrompts();
    if (ok) p.resolve(value);
    else p.reject(new RoomCommandError(code ?? "internal", message ?? "failed", ref));
    return true;
  }

  fail(which: (p: PendingCommand) => boolean, code: CommandErrorCode, message: string): void {
    for (const p of [...this.pending.values()]) {
      if (!which(p)) continue;
      this.pending.delete(p.ref);
      clearTimeout(p.timer);
      p.reject(new RoomCommandError(code, message, p.ref));
    }
  }

  /** On every open: prompts typed while away, and ones whose ack the drop swallowed (same ids, the room dedups). */
  resendDurable(): void {
    const conn = this.opts.link();
    for (const p of this.pending.values()) if (p.durable) conn.send(p.frame);
  }

  /**
   * The room refused a frame only because this connection sent too many: a durable prompt is
   * kept and sent again a little later (a reconnect may resend many at once), never dropped.
   */
  resendLater(p: PendingCommand): void {
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      if (this.pending.get(p.ref) === p) this.opts.link().send(p.frame);
    }, this.opts.rateRetryMs * (1 + Math.random()));
  }

  /** Prompts not yet acknowledged by the room (typed offline, or in flight). */
  get unsentPrompts(): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.durable && p.kind === "prompt") n++;
    return n;
  }

  /** The prompts not yet acknowledged, oldest first. */
  unsentPromptList(): UnsentPrompt[] {
    const out: UnsentPrompt[] = [];
    for (const p of this.pending.values()) {
      if (!p.durable || p.kind !== "prompt") continue;
      const f = JSON.parse(p.frame) as Extract<ClientFrame, { type: "prompt" }>;
      out.push({ id: f.id, text: f.text, ...(f.mode ? { mode: f.mode } : {}) });
    }
    return out;
  }

  savePrompts(): void {
    this.opts.promptStore?.save(this.unsentPromptList());
  }

  /** Prompts a previous page left unsent: pending again, sent on the next open. */
  restorePrompts(): void {
    for (const p of this.opts.promptStore?.load() ?? []) {
      const ref = this.nextRef();
      const frame: ClientFrame = { type: "prompt", ref, id: p.id, text: p.text, ...(p.mode ? { mode: p.mode } : {}) };
      this.pending.set(ref, { ref, frame: JSON.stringify(frame), durable: true, kind: "prompt", resolve: noop, reject: noop });
    }
  }
}

function noop(): void {}
