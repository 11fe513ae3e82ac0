/** Events about the session itself: the agent's status, errors, metadata, mode, archive, access. */
import { z } from "zod";
import { ModeSchema, RedactedSchema, RunnerWaitSchema, type SessionMeta } from "../session-schemas.ts";
import { defineEvent, defineFamily } from "./define.ts";
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

export const SESSION = defineFamily({ events: [status, sessionError, sessionInfo, modeSet, stopRequested, agentPresence, sessionArchived, sessionAllowedOrigins, redactAllowed] });
