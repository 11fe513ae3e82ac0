/**
 * `agentroom watch <session URL> [--driver]`: a session in the terminal, live. A viewer reads the
 * HTTP stream; `--driver` joins the room's WebSocket and takes keys: a line + Enter prompts,
 * Ctrl-X (or Esc) stops the run, y / a / n answer the oldest permission request, 1-9 pick an
 * answer to a one-question request. Ctrl-C ends everything: the stream or socket is closed and
 * the process exits.
 */
import { HttpSource, RoomSource, type Source, type SourceEvents } from "./sources.ts";
import { renderBlocks, statusLine, type RenderOptions } from "./render.ts";
import { Screen } from "./screen.ts";
import { COLOR, PLAIN, displayWidth, oneLine } from "./text.ts";
import type { Target } from "./target.ts";
import type { PermissionReply } from "../shared/protocol.ts";

export interface WatchOptions {
  target: Target;
  token: string;
  driver: boolean;
  live: "sse" | "long-poll";
  input?: NodeJS.ReadStream;
  output?: NodeJS.WriteStream;
}

const DRAW_MS = 40;

/** Resolves with the exit code once the watcher ends (Ctrl-C, archive, a fatal error). */
export function watch(o: WatchOptions): Promise<number> {
  const input = o.input ?? process.stdin;
  const output = o.output ?? process.stdout;
  const screen = new Screen(output);
  const color = screen.tty && !process.env.NO_COLOR;
  const paint = color ? COLOR : PLAIN;
  let line = "";
  let notice = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (finish = r));

  const opts = (): RenderOptions => ({ width: screen.columns - 1, paint, now: Date.now(), driver: o.driver && canAct() });
  const canAct = () => source instanceof RoomSource && !!source.client.you && source.client.you.role !== "viewer";

  const footer = (): { lines: string[]; col?: number } => {
    const ro = opts();
    const status = statusLine(source.transcript, { ...ro, connection: source.connection, role: source instanceof RoomSource ? source.client.you?.role : undefined });
    const lines = ["", status];
    if (notice) lines.push(paint.yellow(oneLine(notice, ro.width)));
    if (!o.driver) {
      lines.push(paint.dim("Ctrl-C quit"));
      return { lines };
    }
    const prompt = paint.magenta("› ");
    if (!line) {
      lines.push(prompt + paint.dim("type a prompt, Enter sends · Ctrl-X stop · Ctrl-C quit"));
      return { lines, col: 2 };
    }
    // The end of a long line stays in view.
    const room = ro.width - 3;
    const shown = displayWidth(line) > room ? "…" + [...line].slice(-(room - 1)).join("") : line;
    lines.push(prompt + shown);
    return { lines, col: 2 + displayWidth(shown) };
  };

  const draw = () => {
    timer = undefined;
    const ro = opts();
    const f = footer();
    screen.draw(renderBlocks(source.transcript, ro), screen.tty ? f.lines : [], f.col);
  };
  const schedule = () => {
    if (!timer) timer = setTimeout(draw, DRAW_MS);
  };

  let ended = false;
  const end = (code: number, last: string) => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    clearInterval(ticker);
    source.close();
    input.off("data", onKey);
    if (input.isTTY) input.setRawMode(false);
    input.pause();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    output.off("resize", schedule);
    screen.finish(renderBlocks(source.transcript, opts()), last);
    finish(code);
  };

  const events: SourceEvents = {
    update: schedule,
    fatal: (message) => end(1, paint.red(`agentroom: ${message}`)),
    ended: () => end(0, paint.dim("the session is archived: its stream is closed")),
  };
  const source: Source = o.driver ? new RoomSource({ origin: o.target.origin, sessionId: o.target.sessionId, token: o.token }, events) : new HttpSource({ origin: o.target.origin, sessionId: o.target.sessionId, token: o.token, live: o.live }, events);

  const say = (text: string) => {
    notice = text;
    schedule();
  };
  const act = (what: string, p: Promise<unknown>) => {
    p.then(
      () => say(""),
      (e: Error) => say(`${what} failed: ${e.message}`),
    );
  };

  const onKey = (chunk: Buffer) => {
    const s = chunk.toString("utf8");
    if (s.includes("\x03")) return end(130, paint.dim(`left ${o.target.shown} at seq ${source.transcript.lastSeq}`));
    if (!(source instanceof RoomSource)) return;
    const client = source.client;
    if (s === "\x1b" || s === "\x18") {
      if (!canAct()) return say("this token may not stop the run");
      say("stopping…");
      return act("stop", client.stop());
    }
    if (s.startsWith("\x1b")) return; // arrows and other escape sequences: no line editing beyond backspace
    const perm = client.transcript.permissions[0];
    const question = client.transcript.questions[0];
    if (!line && perm && canAct() && /^[yan]$/i.test(s)) {
      const reply: PermissionReply = { y: "once", a: "always", n: "reject" }[s.toLowerCase() as "y" | "a" | "n"] as PermissionReply;
      say(`answering ${perm.permission}: ${reply}…`);
      return act("permission reply", client.replyPermission(perm.id, reply));
    }
    if (!line && question && canAct() && /^[1-9]$/.test(s) && question.questions.length === 1) {
      const opt = question.questions[0]!.options[Number(s) - 1];
      if (opt) {
        say(`answering: ${opt.label}…`);
        return act("answer", client.replyQuestion(question.id, [[opt.label]]));
      }
    }
    for (const ch of s) {
      if (ch === "\r" || ch === "\n") {
        const text = line.trim();
        line = "";
        if (!text) continue;
        if (!canAct()) {
          say("this token may not prompt (a driver or owner link can)");
          continue;
        }
        say("");
        // A prompt is kept and resent by the room client until the room acknowledges it.
        act("prompt", client.prompt(text));
      } else if (ch === "\x7f" || ch === "\b") line = [...line].slice(0, -1).join("");
      else if (ch === "\x15") line = "";
      else if (ch >= " ") line += ch;
    }
    schedule();
  };
  const onSignal = () => end(130, paint.dim(`left ${o.target.shown} at seq ${source.transcript.lastSeq}`));

  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  if (input.isTTY) {
    input.setRawMode(true);
    input.resume();
    input.on("data", onKey);
  }
  output.on("resize", schedule);
  // Running tools show their elapsed time.
  ticker = setInterval(() => {
    if (screen.tty) schedule();
  }, 1_000);
  schedule();
  return done;
}
