/**
 * The things frames carry, apart from the frames themselves: close codes, roles, session metadata,
 * queue items, permission and question requests, chat messages, link records. shared/protocol.ts
 * re-exports all of it; import from there.
 */
import { z } from "zod";
// ───────────────────────────── shared constants ─────────────────────────────

/**
 * WebSocket close codes (4000–4999 are the application's). The room and the Worker send them;
 * shared/connection.ts decides which end a client's reconnecting.
 */
export const CLOSE_CODES = {
  /** Sent by a client itself: its heartbeat found the socket silent. */
  heartbeat: 4000,
  unauthorized: 4401,
  /** The session is archived (an agent may not hold it). */
  archived: 4403,
  notFound: 4404,
  leaseExpired: 4408,
  /** Another runner holds the session's lease. */
  leaseHeld: 4409,
  deleted: 4410,
  /** The link the socket was opened with was revoked. */
  revoked: 4411,
  relayRetired: 4412,
  roomFull: 4429,
} as const;

/**
 * The last frame before the server closes a socket for good: the code and reason of the close
 * frame right behind it, as data. A client acts on it at once (shared/connection.ts): a browser
 * reports a close only once the TCP connection is gone, which local workerd holds open 15 s and
 * more after its close frame (Chromium gives up after ~2 s). Sent by every socket, the room's,
 * a relay's and the lobby's, before a close with a final code (revoked, deleted).
 */
export const ClosingFrameSchema = z.object({ type: z.literal("closing"), code: z.number().int().min(1000).max(4999), reason: z.string().max(123) });
export type ClosingFrame = z.infer<typeof ClosingFrameSchema>;
const CLOSING_PREFIX = '{"type":"closing"';

export function closingFrame(code: number, reason: string): string {
  return JSON.stringify({ type: "closing", code, reason } satisfies ClosingFrame);
}

/** The closing frame in `data`, or null (cheap for every other frame: a prefix test). */
export function parseClosingFrame(data: string): ClosingFrame | null {
  if (!data.startsWith(CLOSING_PREFIX)) return null;
  try {
    const r = ClosingFrameSchema.safeParse(JSON.parse(data));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** The title of a session created without one. */
export const UNTITLED_SESSION = "Untitled session";

/** The lobby's room name (`/parties/lobby/main`): one index per deployment. */
export const LOBBY_ROOM = "main";

// ───────────────────────────── roles and session metadata ─────────────────────────────

export const RoleSchema = z.enum(["owner", "driver", "viewer", "agent", "approver"]);
export type Role = z.infer<typeof RoleSchema>;

/** Roles that may steer the agent: prompt, queue, stop, mode, permission and question replies. */
export const DRIVING_ROLES: readonly Role[] = ["owner", "driver"];
export const canDrive = (role: Role): boolean => DRIVING_ROLES.includes(role);

/** Roles that may answer the agent's permission requests and questions: drivers, and `approver` (answers only). */
export const ANSWERING_ROLES: readonly Role[] = ["owner", "driver", "approver"];
export const canAnswer = (role: Role): boolean => ANSWERING_ROLES.includes(role);

export const ModeSchema = z.enum(["build", "plan"]);
export type Mode = z.infer<typeof ModeSchema>;

/** Which agent runs a session: `opencode` (OpenCode through its SDK) or an ACP agent a runner offers. */
export const AgentIdSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,39}$/, "an agent id such as opencode, opencode-acp, claude-code");
/** The agent a session runs when its creator named none. */
export const DEFAULT_AGENT = "opencode";

/** An agent a runner offers (runner/acp/agents.ts). */
export const AgentInfoSchema = z.object({
  id: AgentIdSchema,
  label: z.string().max(100),
  protocol: z.enum(["opencode-sdk", "acp"]),
});
export type AgentInfo = z.infer<typeof AgentInfoSchema>;

/** What the agent is doing, as the room tells everyone. */
export const AgentStatusSchema = z.enum(["idle", "busy", "retry", "waiting"]);
export type AgentStatus = z.infer<typeof AgentStatusSchema>;

/**
 * The session list's status column. `offline` means no runner holds the session; `pending` means
 * no runner holds it and none can take it now: every runner connected serves its maximum of
 * sessions (AGENTROOM_MAX_SESSIONS), so it waits for a slot, longest-waiting first.
 */
export const SessionStatusSchema = z.enum(["idle", "busy", "waiting", "archived", "offline", "pending"]);
export type SessionStatus = z.infer<typeof SessionStatusSchema>;

/** Why a session no runner holds is not being taken (the lobby tells the room). */
export const RunnerWaitSchema = z.object({
  /** When it started waiting: it lost its runner, or was created. */
  since: z.number(),
  /** `runners_full`: every runner connected serves its maximum of sessions. */
  reason: z.literal("runners_full"),
});
export type RunnerWait = z.infer<typeof RunnerWaitSchema>;

/**
 * How many distinct secrets the runner replaced with `[redacted: <rule>]` markers before they left
 * its machine, in all and per rule name.
 */
export const RedactedSchema = z.object({ count: z.number().int().nonnegative(), rules: z.record(z.string(), z.number().int().nonnegative()) });
export type Redacted = z.infer<typeof RedactedSchema>;

export const SessionMetaSchema = z.object({
  id: z.string(),
  title: z.string(),
  mode: ModeSchema,
  /** idle / busy / retry / waiting (for a permission or question reply). */
  agentStatus: AgentStatusSchema,
  /** True while a runner holds the session's lease and is connected. */
  agentOnline: z.boolean(),
  archived: z.boolean(),
  createdAt: z.number(),
  updatedAt: z.number(),
  /**
   * Workspace directory the agent works in, as shown to people: set by the runner once it works
   * there (a refused `directory` never shows as the workspace).
   */
  workspace: z.string().optional(),
  /** The directory asked for at creation; the runner checks it against its workspace roots. */
  directory: z.string().optional(),
  /** The git URL the workspace is cloned from, when the session was created from one. */
  repository: z.string().optional(),
  /** OpenCode's session id, once the runner created it (for an ACP agent: its ACP session id). */
  opencodeSessionId: z.string().optional(),
  /** The agent that runs this session (absent: DEFAULT_AGENT). */
  agent: AgentIdSchema.optional(),
  /** Model in use, e.g. "scripted/demo"; `demo` is true for the built-in scripted model. */
  model: z.string().optional(),
  demo: z.boolean().optional(),
  /** Origins allowed to embed this session in an iframe (frame-ancestors). */
  allowedOrigins: z.array(z.string()).default([]),
  /** Last session-level error (provider error, crash), cleared by the next turn. */
  lastError: z.string().optional(),
  /** Chat messages ever posted (deleted ones included): what "unread chat" counts against. */
  chatCount: z.number().int().nonnegative().optional(),
  /** Set while no runner holds the session and none can take it (all runners full). */
  runnerWait: RunnerWaitSchema.optional(),
  /** Secrets the runner hid from everyone in the room (README "Secrets"). */
  redacted: RedactedSchema.optional(),
  /** Redaction rules the owner let through for this session (false positives), by rule name. */
  redactAllowed: z.array(z.string()).optional(),
});
export type SessionMeta = z.infer<typeof SessionMetaSchema>;

/** One row of the session list (the index). */
export const SessionSummarySchema = z.object({
  id: z.string(),
  title: z.string(),
  status: SessionStatusSchema,
  workspace: z.string().optional(),
  repository: z.string().optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
  archived: z.boolean(),
  demo: z.boolean().optional(),
  /** SessionMeta.chatCount: the list shows unread chat against what this browser has seen. */
  chatCount: z.number().int().nonnegative().optional(),
  /** While no runner holds it (`offline`/`pending`): since when. Runners take the oldest first. */
  waitingSince: z.number().optional(),
  /** SessionMeta.agent: only runners offering it take the session. */
  agent: AgentIdSchema.optional(),
});
export type SessionSummary = z.infer<typeof SessionSummarySchema>;

// ───────────────────────────── queue, permissions, questions ─────────────────────────────

export const QueueItemSchema = z.object({
  /** Chosen by the client; the idempotency key of the prompt. */
  id: z.string().min(1).max(128),
  text: z.string(),
  mode: ModeSchema,
  by: z.string(),
  createdAt: z.number(),
  /** `dispatched` once handed to the runner, until the runner reports it started. */
  state: z.enum(["queued", "dispatched"]),
  /** Set when a driver sent a chat message to the agent ("Ask the agent"): whose message it was. */
  from: z.object({ chatID: z.string(), author: z.string() }).optional(),
});
export type QueueItem = z.infer<typeof QueueItemSchema>;

export const PermissionReplySchema = z.enum(["once", "always", "reject"]);
export type PermissionReply = z.infer<typeof PermissionReplySchema>;

export const PermissionRequestSchema = z
  .object({
    id: z.string().min(1).max(128),
    /** e.g. "bash", "edit". */
    permission: z.string(),
    /** Human-readable title; patterns are what it asks about (command, path). */
    title: z.string().optional(),
    patterns: z.array(z.string()).default([]),
    metadata: z.record(z.string(), z.unknown()).optional(),
    messageID: z.string().optional(),
    callID: z.string().optional(),
    createdAt: z.number(),
  })
  .passthrough();
export type PermissionRequest = z.infer<typeof PermissionRequestSchema>;

export const QuestionRequestSchema = z
  .object({
    id: z.string().min(1).max(128),
    questions: z.array(
      z
        .object({
          question: z.string(),
          header: z.string().optional(),
          options: z.array(z.object({ label: z.string(), description: z.string().optional() }).passthrough()).default([]),
          multiple: z.boolean().optional(),
        })
        .passthrough(),
    ),
    createdAt: z.number(),
  })
  .passthrough();
export type QuestionRequest = z.infer<typeof QuestionRequestSchema>;

/** Answers to a question request: one list of chosen labels (or free text) per question. */
export const QuestionAnswersSchema = z.array(z.array(z.string().max(10_000)).max(50)).max(50);

// ───────────────────────────── chat (shared/chat.ts folds these) ─────────────────────────────

/** Who wrote a chat message: display name, role, and the link (token) they came in with. */
export const ChatAuthorSchema = z.object({ name: z.string(), role: RoleSchema, linkId: z.string() });
export type ChatAuthor = z.infer<typeof ChatAuthorSchema>;

/**
 * One chat message as the room keeps it. A deleted message keeps its id, author and place (so
 * replies and counts stay whole) and loses its text: `text` is "" and `deleted` says by whom.
 */
export const ChatMessageSchema = z.object({
  /** Chosen by the client; the idempotency key. */
  id: z.string().min(1).max(128),
  /** The seq of the event that added it: the chat's order and its paging cursor. */
  seq: z.number().int().positive(),
  at: z.number(),
  author: ChatAuthorSchema,
  text: z.string(),
  /** A comment on this part of the transcript. */
  partID: z.string().max(128).optional(),
  /** The chat message this one answers. */
  replyTo: z.string().max(128).optional(),
  editedAt: z.number().optional(),
  deleted: z.object({ by: z.string(), at: z.number() }).optional(),
  /** A driver sent it to the agent as a prompt ("Ask the agent"). */
  asked: z.object({ by: z.string(), queueId: z.string() }).optional(),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;


/**
 * A link record (party/links.ts): every token the API mints, and every person a session is shared
 * with by email (Cloudflare Access sign-in), is one. Listed to owners only; revoked records stay
 * listed (with `revokedAt`) until they would have expired. Times are epoch ms.
 */
export const LinkRecordSchema = z.object({
  id: z.string(),
  role: z.enum(["owner", "driver", "viewer", "approver"]),
  name: z.string(),
  /** Set on a grant to a signed-in person (no token exists for it). */
  email: z.string().optional(),
  /** The name of whoever minted it (an owner, or "operator"). */
  createdBy: z.string(),
  createdAt: z.number(),
  expiresAt: z.number(),
  lastUsedAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
  /** Why, when not by an owner: `exposed_in_url`, its token was seen in a URL (party/url-tokens.ts). */
  revokedReason: z.enum(["exposed_in_url"]).optional(),
});
export type LinkRecord = z.infer<typeof LinkRecordSchema>;
export type RevokeReason = NonNullable<LinkRecord["revokedReason"]>;
