/**
 * An ACP agent as a child process of the runner: JSON-RPC over its stdin/stdout, its stderr kept
 * (the tail) for the log. Each agent runs in its own process group, so the shells and helpers it
 * starts go with it; every agent still alive when the runner exits — however it exits, short of
 * SIGKILL — is killed by group from a synchronous `exit` hook. After a SIGKILL of the runner the
 * agents see their stdin close and end themselves (every ACP agent tried here does).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { Readable, Writable } from "node:stream";

const live = new Set<ChildProcess>();
let hooked = false;

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      /* gone */
    }
  }
}

/** Kills every agent process still running (synchronous: safe in `exit` handlers). */
export function killAllAgentsNow(): void {
  for (const c of live) killGroup(c, "SIGKILL");
  live.clear();
}

/** Kills `child`'s process group if it still runs when the runner exits. */
export function trackChild(child: ChildProcess): void {
  hookExit();
  live.add(child);
  child.once("exit", () => live.delete(child));
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAllAgentsNow);
}

export interface AgentProcessOptions {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  log: (msg: string) => void;
  /** Called once when the process ends (for any reason). */
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

export class AgentProcess {
  readonly child: ChildProcess;
  /** Web streams for the ACP SDK's `ndJsonStream`. */
  readonly input: WritableStream<Uint8Array>;
  readonly output: ReadableStream<Uint8Array>;
  exited = false;
  private stderrTail = "";
  private readonly exitedPromise: Promise<void>;

  constructor(o: AgentProcessOptions) {
    hookExit();
    this.child = spawn(o.command, o.args, { cwd: o.cwd, env: o.env, stdio: ["pipe", "pipe", "pipe"], detached: true });
    live.add(this.child);
    this.exitedPromise = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exited = true;
        live.delete(this.child);
        o.onExit?.(code, signal);
        resolve();
      });
      this.child.once("error", (e) => {
        o.log(`agent process ${o.command}: ${e.message}`);
        this.exited = true;
        live.delete(this.child);
        o.onExit?.(null, null);
        resolve();
      });
    });
    this.child.stderr!.setEncoding("utf8");
    this.child.stderr!.on("data", (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-4_000);
    });
    // A write after the agent died must not throw out of the runner.
    this.child.stdin!.on("error", () => {});
    this.input = Writable.toWeb(this.child.stdin!) as WritableStream<Uint8Array>;
    this.output = Readable.toWeb(this.child.stdout!) as ReadableStream<Uint8Array>;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  stderr(): string {
    return this.stderrTail;
  }

  /**
   * Ends the agent: stdin closed first (some agents, Gemini CLI's outer process among them, end
   * only on that), then SIGTERM to the group, SIGKILL after `graceMs`.
   */
  async stop(graceMs = 1_500): Promise<void> {
    if (this.exited) return;
    this.child.stdin?.end();
    killGroup(this.child, "SIGTERM");
    const hard = setTimeout(() => killGroup(this.child, "SIGKILL"), graceMs);
    await this.exitedPromise;
    clearTimeout(hard);
    // The leader is gone; helpers it left in its group go too.
    killGroup(this.child, "SIGKILL");
  }
}
