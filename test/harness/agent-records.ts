/**
 * The agents' own records of a session, read back for the ACP tests: the room's transcript must
 * say what the agent itself recorded (issue 21: "transcript equals the agent's own record").
 *
 * Both sides are reduced to the same shape — per turn, the user's prompt, the assistant's text
 * concatenated, and the tool calls in order (the agent's call id, its name, its input) — and
 * compared exactly. One small parser per agent; each knows only its agent's file format.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import type { MessageEntry } from "../../shared/transcript.ts";
import { opencodeDirs } from "../../runner/opencode-config.ts";

export interface RecordedTool {
  id: string;
  /** The agent's own tool name (the room shows its own vocabulary: compared through `sameTool`). */
  name: string;
  input: Record<string, unknown>;
}

export interface RecordedTurn {
  user: string;
  text: string;
  tools: RecordedTool[];
  /** The room's side only: the turn was stopped (see `compareTurns`). */
  aborted?: boolean;
}

const rec = (v: unknown): Record<string, unknown> => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown): string => (typeof v === "string" ? v : "");

function jsonLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => rec(JSON.parse(l)));
}

function filesUnder(dir: string, match: RegExp): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => match.test(f))
    .map((f) => join(dir, f))
    .sort();
}

/** The room's side: one turn per user message, the assistant messages after it folded in. */
export function roomTurns(messages: readonly MessageEntry[]): RecordedTurn[] {
  const turns: RecordedTurn[] = [];
  for (const m of messages) {
    if (m.info.role === "user") {
      turns.push({ user: m.parts.map((p) => (p.type === "text" ? str(p.text) : "")).join(""), text: "", tools: [] });
      continue;
    }
    const turn = turns.at(-1);
    if (!turn) continue;
    if (rec(m.info.error).name === "MessageAbortedError") turn.aborted = true;
    for (const p of m.parts) {
      if (p.type === "text") turn.text += str(p.text);
      else if (p.type === "tool") turn.tools.push({ id: str(p.callID), name: str(p.tool), input: rec(rec(p.state).input) });
    }
  }
  return turns;
}

/**
 * Claude Code: `$CLAUDE_CONFIG_DIR/projects/<cwd with every non-alphanumeric as "->/<sessionId>.jsonl`,
 * one line per user message, per assistant content block (text, tool_use, thinking) and per
 * tool result (a "user" line of tool_result blocks).
 */
export function claudeCodeTurns(configDir: string, sessionId: string): RecordedTurn[] {
  const files = filesUnder(join(configDir, "projects"), new RegExp(`(^|/)${sessionId}\\.jsonl$`));
  if (files.length !== 1) throw new Error(`Claude Code record of ${sessionId}: ${files.length} files under ${configDir}/projects`);
  const turns: RecordedTurn[] = [];
  for (const line of jsonLines(files[0]!)) {
    if (line.isSidechain === true || line.isMeta === true) continue;
    const msg = rec(line.message);
    const content = typeof msg.content === "string" ? [{ type: "text", text: msg.content }] : Array.isArray(msg.content) ? msg.content.map(rec) : [];
    if (line.type === "user") {
      const text = content.filter((b) => b.type === "text").map((b) => str(b.text)).join("");
      // Tool results and Claude Code's own "[Request interrupted by user]" notes are no prompts.
      if (!text || text.startsWith("[Request interrupted")) continue;
      turns.push({ user: text, text: "", tools: [] });
    } else if (line.type === "assistant") {
      const turn = turns.at(-1);
      if (!turn) continue;
      for (const b of content) {
        if (b.type === "text") turn.text += str(b.text);
        else if (b.type === "tool_use") turn.tools.push({ id: str(b.id), name: str(b.name), input: rec(b.input) });
      }
    }
  }
  return turns;
}

/**
 * Codex: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<sessionId>.jsonl`, one line per
 * response item (messages, function and custom tool calls) and per event (`user_message` starts
 * a turn). A loaded session goes on in the same file. codex-acp shows a call's input as Codex's
 * own event, not the model's arguments: a shell call by its command line (`exec_command`'s `cmd`),
 * a patch by the changes Codex applied (its `patch_apply_end` event), so those are what is read.
 */
export function codexTurns(codexHome: string, sessionId: string): RecordedTurn[] {
  const files = filesUnder(join(codexHome, "sessions"), new RegExp(`rollout-.*${sessionId}\\.jsonl$`));
  if (files.length !== 1) throw new Error(`Codex record of ${sessionId}: ${files.length} rollout files under ${codexHome}/sessions`);
  const turns: RecordedTurn[] = [];
  const calls = new Map<string, RecordedTool>();
  for (const line of jsonLines(files[0]!)) {
    const p = rec(line.payload);
    if (line.type === "event_msg" && p.type === "user_message") {
      turns.push({ user: str(p.message), text: "", tools: [] });
      continue;
    }
    if (line.type === "event_msg" && p.type === "patch_apply_end") {
      const call = calls.get(str(p.call_id));
      if (call) call.input = { changes: p.changes };
      continue;
    }
    const turn = turns.at(-1);
    if (line.type !== "response_item" || !turn) continue;
    if (p.type === "message" && p.role === "assistant") {
      for (const c of Array.isArray(p.content) ? p.content.map(rec) : []) if (c.type === "output_text") turn.text += str(c.text);
    } else if (p.type === "function_call" || p.type === "custom_tool_call") {
      const args = p.type === "function_call" ? rec(JSON.parse(str(p.arguments) || "{}")) : {};
      const call: RecordedTool = { id: str(p.call_id), name: str(p.name), input: typeof args.cmd === "string" ? { command: args.cmd } : args };
      calls.set(call.id, call);
      turn.tools.push(call);
    }
  }
  return turns;
}

/**
 * OpenCode (`opencode acp`): its own store (SQLite under its data dir), read with
 * `opencode export <sessionID>` pointed at the agent's directories. The export is OpenCode's
 * messages and parts, the shape the room's transcript has, so it folds the same way.
 */
export async function opencodeTurns(agentRoot: string, sessionId: string): Promise<RecordedTurn[]> {
  const d = opencodeDirs(agentRoot);
  const bin = resolve(import.meta.dirname, "../../node_modules/.bin/opencode");
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: d.home, XDG_CONFIG_HOME: d.config, XDG_DATA_HOME: d.data, XDG_CACHE_HOME: d.cache, XDG_STATE_HOME: d.state, OPENCODE_DISABLE_AUTOUPDATE: "1", OPENCODE_DISABLE_MODELS_FETCH: "1", OPENCODE_DISABLE_DEFAULT_PLUGINS: "1" };
  const { stdout } = await promisify(execFile)(bin, ["export", sessionId], { env, maxBuffer: 64 << 20, timeout: 60_000 });
  const exported = rec(JSON.parse(stdout.slice(stdout.indexOf("{"))));
  if (!Array.isArray(exported.messages)) throw new Error(`opencode export ${sessionId}: no messages`);
  return roomTurns(exported.messages as MessageEntry[]).map(({ aborted: _, ...t }) => t);
}

/**
 * Gemini CLI: `$HOME/.gemini/tmp/<project>/chats/session-<time>-<id8>.jsonl`, a log of changes: a
 * header naming the session, each message as a record (a later record with the same id replaces
 * it), and `$set` records, whose `messages` replace the whole list (Gemini CLI rewrites its history
 * so when a turn is stopped, dropping the stopped turn). A message's text is `content` (a string or
 * Gemini parts); its tool calls are `toolCalls` or `functionCall` parts. Gemini CLI sends no raw
 * input over ACP: the room knows a write by its file and a shell call by its command line (the
 * title), so those are what is read of the arguments.
 */
export function geminiTurns(home: string, sessionId: string): RecordedTurn[] {
  const files = filesUnder(join(home, ".gemini", "tmp"), /chats\/session-.*\.jsonl$/).filter((f) => rec(JSON.parse(readFileSync(f, "utf8").split("\n")[0] || "{}")).sessionId === sessionId);
  if (files.length !== 1) throw new Error(`Gemini CLI record of ${sessionId}: ${files.length} files under ${home}/.gemini/tmp`);
  let messages: Record<string, unknown>[] = [];
  for (const line of jsonLines(files[0]!)) {
    const set = rec(line.$set);
    if (Array.isArray(set.messages)) messages = set.messages.map(rec);
    else if (typeof line.id === "string" && typeof line.type === "string") {
      const at = messages.findIndex((m) => m.id === line.id);
      if (at >= 0) messages[at] = line;
      else messages.push(line);
    }
  }
  const input = (name: string, args: Record<string, unknown>): Record<string, unknown> => (name === "write_file" ? { filePath: args.file_path } : name === "run_shell_command" ? { command: args.command } : args);
  const turns: RecordedTurn[] = [];
  for (const m of messages) {
    const parts = typeof m.content === "string" ? [{ text: m.content }] : Array.isArray(m.content) ? m.content.map(rec) : [];
    const text = parts.map((p) => (p.thought === true ? "" : str(p.text))).join("");
    if (m.type === "user") {
      // Tool results come back as user messages of functionResponse parts; the first message is Gemini CLI's own context.
      if (text && !text.startsWith("<session_context>")) turns.push({ user: text, text: "", tools: [] });
      continue;
    }
    const turn = turns.at(-1);
    if (m.type !== "gemini" || !turn) continue;
    turn.text += text;
    const calls = [...(Array.isArray(m.toolCalls) ? m.toolCalls.map(rec) : []), ...parts.map((p) => rec(p.functionCall)).filter((c) => c.name)];
    for (const c of calls) turn.tools.push({ id: str(c.id), name: str(c.name), input: input(str(c.name), rec(c.args)) });
  }
  return turns;
}

/** Which room tool names an agent's tool name may show as. */
export type SameTool = (room: RecordedTool, agent: RecordedTool) => boolean;

/**
 * The differences between the room's turns and the agent's record (empty: they agree). Texts and
 * prompts must be equal; tool calls must be the same calls (ids) in the same order, each a tool
 * `sameTool` accepts, with every input field the agent recorded shown with the same value (the
 * room may add fields of its own, e.g. the file path it read from a diff). In a stopped turn the
 * room and the agent may each keep a different length of the answer that was streaming (Claude
 * Code and Codex drop it whole; OpenCode keeps what it had): there the shorter text must begin the
 * longer, and the agent's calls must begin the room's; with `dropsStopped` the agent may lack a
 * stopped turn altogether.
 */
export function compareTurns(room: RecordedTurn[], agent: RecordedTurn[], sameTool: SameTool, opts: { dropsStopped?: boolean } = {}): string[] {
  const diffs: string[] = [];
  // An agent that forgets a stopped turn whole (Gemini CLI rewrites its history without it).
  if (opts.dropsStopped) room = room.filter((r) => !r.aborted || agent.some((a) => a.user === r.user));
  if (room.length !== agent.length) diffs.push(`turns: room ${room.length}, agent ${agent.length}`);
  for (let i = 0; i < Math.min(room.length, agent.length); i++) {
    const r = room[i]!;
    const a = agent[i]!;
    if (r.user !== a.user) diffs.push(`turn ${i} prompt: room ${JSON.stringify(r.user)}, agent ${JSON.stringify(a.user)}`);
    const short = Math.min(r.text.length, a.text.length);
    if (r.aborted ? r.text.slice(0, short) !== a.text.slice(0, short) : r.text !== a.text) diffs.push(`turn ${i} text: room ${JSON.stringify(r.text.slice(0, 300))} (${r.text.length} chars), agent ${JSON.stringify(a.text.slice(0, 300))} (${a.text.length} chars)`);
    const ids = (ts: RecordedTool[]) => ts.map((t) => t.id).join(",");
    const shown = r.aborted ? r.tools.slice(0, a.tools.length) : r.tools;
    if (ids(shown) !== ids(a.tools)) {
      diffs.push(`turn ${i} tool calls: room [${ids(r.tools)}], agent [${ids(a.tools)}]`);
      continue;
    }
    shown.forEach((rt, j) => {
      const at = a.tools[j]!;
      if (!sameTool(rt, at)) diffs.push(`turn ${i} tool ${at.id}: room shows ${rt.name}, agent ran ${at.name}`);
      for (const [k, v] of Object.entries(at.input)) {
        if (JSON.stringify(rt.input[k]) !== JSON.stringify(v)) diffs.push(`turn ${i} tool ${at.id} input.${k}: room ${JSON.stringify(rt.input[k])?.slice(0, 200)}, agent ${JSON.stringify(v).slice(0, 200)}`);
      }
    });
  }
  return diffs;
}

/** A name table as a `SameTool`: the agent's tool name → the room names it may show as. */
export const toolNames =
  (table: Record<string, string[]>): SameTool =>
  (room, agent) =>
    (table[agent.name] ?? [agent.name.toLowerCase()]).includes(room.name);

/**
 * Waits until the agent's record says what the room shows, and returns what was compared. Agents
 * write their records behind the stream (Claude Code's last answer lands a moment after the turn
 * ended in the room), so the record is read again until it agrees or `timeoutMs` passes; then the
 * differences are the failure.
 */
export async function expectAgentRecord(room: readonly MessageEntry[], read: () => RecordedTurn[] | Promise<RecordedTurn[]>, sameTool: SameTool, opts: { timeoutMs?: number; dropsStopped?: boolean } = {}): Promise<{ turns: number; chars: number; tools: number; waitedMs: number }> {
  const mine = roomTurns(room);
  const t0 = Date.now();
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    let diffs: string[];
    try {
      diffs = compareTurns(mine, await read(), sameTool, opts);
    } catch (e) {
      diffs = [e instanceof Error ? e.message : String(e)];
    }
    if (diffs.length === 0) break;
    if (Date.now() > deadline) throw new Error(`the room's transcript differs from the agent's own record:\n${diffs.join("\n")}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return { turns: mine.length, chars: mine.reduce((n, t) => n + t.text.length, 0), tools: mine.reduce((n, t) => n + t.tools.length, 0), waitedMs: Date.now() - t0 };
}
