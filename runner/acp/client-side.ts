/**
 * The client's side of ACP that the runner plays for an agent: reading and writing text files and
 * running terminal commands, all inside the session's workspace only. A path outside it (after
 * resolving `..` and symlinks) is refused with a JSON-RPC error; terminals start in the workspace
 * (or a directory inside it), in their own process group, and are killed when released, when the
 * session's agent stops, or when the runner exits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { isInside } from "../workspace.ts";
import { trackChild } from "./process.ts";
import { randomBytes } from "node:crypto";
import { RequestError } from "@agentclientprotocol/sdk";
import type {
  CreateTerminalRequest,
  CreateTerminalResponse,
  KillTerminalCommandRequest,
  ReadTextFileRequest,
  ReadTextFileResponse,
  ReleaseTerminalRequest,
  TerminalOutputRequest,
  TerminalOutputResponse,
  WaitForTerminalExitRequest,
  WaitForTerminalExitResponse,
  WriteTextFileRequest,
  WriteTextFileResponse,
} from "@agentclientprotocol/sdk";

const DEFAULT_OUTPUT_LIMIT = 1_000_000;

interface Term {
  child: ChildProcess;
  output: string;
  truncated: boolean;
  limit: number;
  exit: { exitCode: number | null; signal: string | null } | null;
  exited: Promise<void>;
}

export class WorkspaceClient {
  private readonly root: string;
  private readonly terms = new Map<string, Term>();
  /** Called as a terminal's output grows (tool parts show it live). */
  onTerminalOutput: (terminalId: string) => void = () => {};

  /**
   * A missing file reads as empty instead of a resource-not-found error: Gemini CLI (0.61) reads a
   * file before writing it and takes the error (a plain JSON-RPC error object, not an Error) for a
   * failure, so it could never create a file (google-gemini/gemini-cli#9280).
   */
  private readonly missingReadsEmpty: boolean;

  constructor(root: string, opts: { missingReadsEmpty?: boolean } = {}) {
    this.root = resolve(root);
    this.missingReadsEmpty = opts.missingReadsEmpty ?? false;
  }

  /** The absolute path, if it lies inside the workspace (symlinks resolved, as workspace.ts does). */
  async confine(path: string): Promise<string> {
    const abs = resolve(this.root, path);
    if (!isInside(abs, this.root)) throw RequestError.invalidParams({ path }, `outside the session's workspace (${this.root})`);
    return abs;
  }

  async readTextFile(p: ReadTextFileRequest): Promise<ReadTextFileResponse> {
    const file = await this.confine(p.path);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      if (this.missingReadsEmpty && (e as NodeJS.ErrnoException).code === "ENOENT") return { content: "" };
      throw RequestError.resourceNotFound(p.path);
    }
    if (p.line || p.limit) {
      const lines = text.split("\n");
      const from = Math.max(0, (p.line ?? 1) - 1);
      text = lines.slice(from, p.limit ? from + p.limit : undefined).join("\n");
    }
    return { content: text };
  }

  async writeTextFile(p: WriteTextFileRequest): Promise<WriteTextFileResponse> {
    const file = await this.confine(p.path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, p.content, "utf8");
    return {};
  }

  async createTerminal(p: CreateTerminalRequest): Promise<CreateTerminalResponse> {
    const cwd = await this.confine(p.cwd ?? this.root);
    const env: Record<string, string> = { ...(process.env as Record<string, string>) };
    for (const v of p.env ?? []) env[v.name] = v.value;
    // With args it is a program and its arguments; without, a shell command line (as agents send).
    const child = p.args?.length
      ? spawn(p.command, p.args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] })
      : spawn("/bin/sh", ["-c", p.command], { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const id = `term_${randomBytes(6).toString("hex")}`;
    const t: Term = { child, output: "", truncated: false, limit: p.outputByteLimit ?? DEFAULT_OUTPUT_LIMIT, exit: null, exited: Promise.resolve() };
    t.exited = new Promise((done) => {
      child.once("close", (code, signal) => {
        t.exit = { exitCode: code, signal };
        done();
      });
      child.once("error", (e) => {
        t.output += `${e.message}\n`;
        t.exit = { exitCode: 127, signal: null };
        done();
      });
    });
    const add = (d: Buffer) => {
      t.output += d.toString("utf8");
      if (Buffer.byteLength(t.output) > t.limit) {
        // Keep the end, cut at a character boundary (the spec: truncate from the beginning).
        const buf = Buffer.from(t.output);
        let start = buf.length - t.limit;
        while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
        t.output = buf.subarray(start).toString("utf8");
        t.truncated = true;
      }
      this.onTerminalOutput(id);
    };
    child.stdout!.on("data", add);
    child.stderr!.on("data", add);
    trackChild(child);
    this.terms.set(id, t);
    return { terminalId: id };
  }

  private term(id: string): Term {
    const t = this.terms.get(id);
    if (!t) throw RequestError.invalidParams({ terminalId: id }, "no such terminal");
    return t;
  }

  output(terminalId: string): string | undefined {
    return this.terms.get(terminalId)?.output;
  }

  async terminalOutput(p: TerminalOutputRequest): Promise<TerminalOutputResponse> {
    const t = this.term(p.terminalId);
    return { output: t.output, truncated: t.truncated, ...(t.exit ? { exitStatus: t.exit } : {}) };
  }

  async waitForTerminalExit(p: WaitForTerminalExitRequest): Promise<WaitForTerminalExitResponse> {
    const t = this.term(p.terminalId);
    await t.exited;
    return { ...t.exit };
  }

  async killTerminal(p: KillTerminalCommandRequest): Promise<Record<string, never>> {
    killTree(this.term(p.terminalId));
    return {};
  }

  async releaseTerminal(p: ReleaseTerminalRequest): Promise<Record<string, never>> {
    const t = this.terms.get(p.terminalId);
    if (t) killTree(t);
    this.terms.delete(p.terminalId);
    return {};
  }

  /** Kills every terminal (the session's agent stops). */
  close(): void {
    for (const t of this.terms.values()) killTree(t);
    this.terms.clear();
  }
}

function killTree(t: Term): void {
  if (t.exit || !t.child.pid) return;
  try {
    process.kill(-t.child.pid, "SIGKILL");
  } catch {
    /* gone */
  }
}
