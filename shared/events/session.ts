/** Events about the session itself: the agent's status, errors, metadata, mode, archive, access. */
import { z } from "zod";
import { ModeSchema, RedactedSchema, RunnerWaitSchema, type SessionMeta } from "../session-schemas.ts";
import { defineEvent, defineFamily, defineSlice, sliceEvent } from "./define.ts";
import { refreshStatus } from "./state.ts";

/** Agent status: idle / busy / retry (waiting is derived by the room from open requests). */
export const status = defineEvent(
  "agent",
  "status",
  { status: z.enum(["idle", "busy", "retry"]), message: z.string().optional(), attempt: z.number().optional() },
  (s, ev) => {
    s.setRawStatus(ev.status, { message: ev.message, attempt: ev.attempt });
    // The last turn's error banner stays until a new turn starts.
    refreshStatus(s, ev.status === "busy" ? { lastError: undefined } : {});
  },
);

/** A session-level error (provider error, aborted turn, runner failure). */
export const sessionError = defineEvent("agent", "session.error", { error: z.string(), name: z.string().optional() }, (s, ev) =>
  s.patchSession({ lastError: ev.error }),
);

/** Metadata the runner learned: title, OpenCode session id, model, workspace. */
export const sessionInfo = defineEvent(
  "agent",
  "session.info",
  {
    title: z.string().max(500).optional(),
    opencodeSessionId: z.string().optional(),
    model: z.string().optional(),
    demo: z.boolean().optional(),
    workspace: z.string().optional(),
    redacted: RedactedSchema.optional(),
  },
  (s, ev) => {
    const patch: Partial<SessionMeta> = {};
    if (ev.title !== undefined) patch.title = ev.title;
    if (ev.opencodeSessionId !== undefined) patch.opencodeSessionId = ev.opencodeSessionId;
    if (ev.model !== undefined) patch.model = ev.model;
    if (ev.demo !== undefined) patch.demo = ev.demo;
    if (ev.workspace !== undefined) patch.workspace = ev.workspace;
    if (ev.redacted !== undefined) patch.redacted = ev.redacted;
    s.patchSession(patch);
  },
);

export const modeSet = defineEvent("room", "mode.set", { mode: ModeSchema, by: z.string() }, (s, ev) => s.patchSession({ mode: ev.mode }));

export const stopRequested = defineEvent("room", "stop.requested", { by: z.string() }, (s, ev, seq, ts) => s.stopRequested(ev.by, seq, ts));

/** A runner took or lost the lease; `waiting` (offline only): none can take it now, and why. */
export const agentPresence = defineEvent("room", "agent.presence", { online: z.boolean(), waiting: RunnerWaitSchema.optional() }, (s, ev) =>
  // A runner taking the session ends any wait.
  s.patchSession({ agentOnline: ev.online, runnerWait: ev.online ? undefined : ev.waiting }),
);

export const sessionArchived = defineEvent("room", "session.archived", { archived: z.boolean() }, (s, ev) => s.patchSession({ archived: ev.archived }));

export const sessionAllowedOrigins = defineEvent("room", "session.allowedOrigins", { origins: z.array(z.string()) }, (s, ev) =>
  s.patchSession({ allowedOrigins: ev.origins.slice() }),
);

/** The owner let redaction rule `rule` through for this session: its findings reach the room from now on. `rules`: all let through. */
export const redactAllowed = defineEvent("room", "redact.allowed", { rule: z.string(), rules: z.array(z.string()), by: z.string() }, (s, ev) =>
  s.patchSession({ redactAllowed: ev.rules.slice() }),
);

const count = z.number().nonnegative();
export const TokensSchema = z.object({ input: count, output: count, reasoning: count, cache: z.object({ read: count, write: count }) });
export type Tokens = z.infer<typeof TokensSchema>;
/** Tokens and cost (in the provider's currency, USD for OpenCode's models) of some assistant messages. */
export const UsageFigureSchema = z.object({ tokens: TokensSchema, cost: count });
export type UsageFigure = z.infer<typeof UsageFigureSchema>;

/**
 * Token usage and cost: of the latest turn (the assistant messages answering one prompt), and of
 * the whole session. `last` is the assistant message counted last: a new report for it replaces
 * its figures instead of adding them again.
 */
export const UsageSchema = z.object({
  turn: UsageFigureSchema.extend({ id: z.string() }).nullable(),
  total: UsageFigureSchema,
  last: UsageFigureSchema.extend({ messageID: z.string(), created: z.number() }).nullable(),
});
export type Usage = z.infer<typeof UsageSchema>;

const zeroTokens = (): Tokens => ({ input: 0, output: 0, reasoning: 0, cache: { read: 0, write: 0 } });
/** `a` + `sign` × `b`. */
function combine(a: UsageFigure, b: UsageFigure, sign: 1 | -1): UsageFigure {
  const n = (x: number, y: number) => Math.max(0, x + sign * y);
  const t = a.tokens;
  const u = b.tokens;
  return {
    tokens: { input: n(t.input, u.input), output: n(t.output, u.output), reasoning: n(t.reasoning, u.reasoning), cache: { read: n(t.cache.read, u.cache.read), write: n(t.cache.write, u.cache.write) } },
    cost: n(a.cost, b.cost),
  };
}

export const usageSlice = defineSlice("usage", UsageSchema, (): Usage => ({ turn: null, total: { tokens: zeroTokens(), cost: 0 }, last: null }));

/**
 * What one assistant message has used so far (OpenCode reports it on each update of the message).
 * `turn`: the prompt it answers (its parentID), so a turn's steps add up.
 */
export const usageUpdate = sliceEvent(
  usageSlice,
  "usage.update",
  { messageID: z.string(), turn: z.string(), created: z.number(), tokens: TokensSchema, cost: count },
  (u, ev) => {
    const same = u.last?.messageID === ev.messageID ? u.last : null;
    // An older message sent again (a runner catching up after a restart) was counted already.
    if (!same && u.last && ev.created < u.last.created) return u;
    const fig: UsageFigure = { tokens: ev.tokens, cost: ev.cost };
    const without = (x: UsageFigure) => (same ? combine(x, same, -1) : x);
    const turn = u.turn?.id === ev.turn ? combine(without(u.turn), fig, 1) : fig;
    return {
      turn: { id: ev.turn, ...turn },
      total: combine(without(u.total), fig, 1),
      last: { messageID: ev.messageID, created: ev.created, ...fig },
    };
  },
);

export const SESSION = defineFamily({
  events: [status, sessionError, sessionInfo, usageUpdate, modeSet, stopRequested, agentPresence, sessionArchived, sessionAllowedOrigins, redactAllowed],
  slices: [usageSlice],
});
