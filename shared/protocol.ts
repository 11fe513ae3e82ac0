/**
 * The wire protocol between rooms, people's clients and the runner: one zod schema per frame, in
 * both directions. docs/protocol.md describes each frame and error code for people; this file is
 * the definition every part of the system imports. Never redeclare these types elsewhere.
 *
 * Three kinds of thing travel:
 *  - durable room events (`RoomEvent`), each with a `seq` the room assigns; a client keeps the
 *    last seq it applied and sends it on every (re)connect as `cursor`;
 *  - commands from people (`ClientFrame`) and batches/reports from the runner (`AgentFrame`);
 *  - ephemeral frames (presence, typing, errors, acks) that carry no seq and are never replayed.
 *
 * Size: long on purpose: it is the one definition of every frame and event.
 */
import { z } from "zod";
import {
  FileDiffSchema,
  MessageSchema,
  MessageWithPartsSchema,
  PartSchema,
  TodoSchema,
} from "./parts.ts";

export const PROTOCOL_VERSION = 1;

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

// ───────────────────────────── durable room events ─────────────────────────────

/**
 * The payloads of durable events. The runner sends these (inside `agent.batch`), the room
 * assigns each a seq, commits it with the state it changes, and fans it out.
 */
export const EventBodySchema = z.discriminatedUnion("type", [
  /** A message's info, created or updated (full snapshot). */
  z.object({ type: z.literal("message.upsert"), message: MessageSchema }),
  z.object({ type: z.literal("message.remove"), messageID: z.string() }),
  /** A part's full snapshot; it replaces whatever deltas the room had for it. */
  z.object({ type: z.literal("part.upsert"), part: PartSchema }),
  /** Text appended to one field of a part (usually `text`). */
  z.object({
    type: z.literal("part.delta"),
    messageID: z.string(),
    partID: z.string(),
    field: z.string().max(64),
    delta: z.string(),
  }),
  z.object({ type: z.literal("part.remove"), messageID: z.string(), partID: z.string() }),
  /** Agent status: idle / busy / retry (waiting is derived by the room from open requests). */
  z.object({
    type: z.literal("status"),
    status: z.enum(["idle", "busy", "retry"]),
    message: z.string().optional(),
    attempt: z.number().optional(),
  }),
  /** A session-level error (provider error, aborted turn, runner failure). */
  z.object({ type: z.literal("session.error"), error: z.string(), name: z.string().optional() }),
  /** Metadata the runner learned: title, OpenCode session id, model, workspace. */
  z.object({
    type: z.literal("session.info"),
    title: z.string().max(500).optional(),
    opencodeSessionId: z.string().optional(),
    model: z.string().optional(),
    demo: z.boolean().optional(),
    workspace: z.string().optional(),
    redacted: RedactedSchema.optional(),
  }),
  z.object({ type: z.literal("permission.asked"), request: PermissionRequestSchema }),
  z.object({ type: z.literal("question.asked"), request: QuestionRequestSchema }),
  z.object({ type: z.literal("todo.update"), todos: z.array(TodoSchema) }),
  z.object({ type: z.literal("diff.update"), diff: z.array(FileDiffSchema) }),
]);
export type EventBody = z.infer<typeof EventBodySchema>;

/**
 * Events only the room itself emits (from people's commands or its own bookkeeping). Together with
 * `EventBody` they make `RoomEvent`.
 */
export const RoomOwnEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("queue.add"), item: QueueItemSchema }),
  z.object({ type: z.literal("queue.update"), item: QueueItemSchema }),
  z.object({
    type: z.literal("queue.remove"),
    id: z.string(),
    reason: z.enum(["cancelled", "started", "failed"]),
    by: z.string().optional(),
  }),
  z.object({ type: z.literal("mode.set"), mode: ModeSchema, by: z.string() }),
  z.object({ type: z.literal("stop.requested"), by: z.string() }),
  z.object({
    type: z.literal("permission.replied"),
    requestID: z.string(),
    reply: PermissionReplySchema,
    message: z.string().optional(),
    by: z.string(),
  }),
  z.object({ type: z.literal("question.replied"), requestID: z.string(), answers: QuestionAnswersSchema.nullable(), by: z.string() }),
  /** A runner took or lost the lease; `waiting` (offline only): none can take it now, and why. */
  z.object({ type: z.literal("agent.presence"), online: z.boolean(), waiting: RunnerWaitSchema.optional() }),
  /** The runner closed a permission/question request nobody answered (timed out, answered in OpenCode). */
  z.object({ type: z.literal("request.closed"), requestID: z.string() }),
  z.object({ type: z.literal("session.archived"), archived: z.boolean() }),
  z.object({ type: z.literal("session.allowedOrigins"), origins: z.array(z.string()) }),
  /** The owner let redaction rule `rule` through for this session: its findings reach the room from now on. `rules`: all let through. */
  z.object({ type: z.literal("redact.allowed"), rule: z.string(), rules: z.array(z.string()), by: z.string() }),
  /** Chat (people talking, never shown to the agent): see shared/chat.ts. */
  z.object({ type: z.literal("chat.add"), message: ChatMessageSchema.omit({ seq: true }) }),
  z.object({ type: z.literal("chat.edit"), id: z.string(), text: z.string() }),
  /** The text is gone from the room's state and from the log's earlier events of this message. */
  z.object({ type: z.literal("chat.delete"), id: z.string(), by: z.string() }),
  z.object({ type: z.literal("chat.asked"), id: z.string(), by: z.string(), queueId: z.string() }),
]);

export const RoomEventBodySchema = z.union([EventBodySchema, RoomOwnEventSchema]);
export type RoomEventBody = EventBody | z.infer<typeof RoomOwnEventSchema>;

/**
 * A committed event. `seq` is the event's own number; when the room merges consecutive deltas to
 * one part into a single event, `fromSeq` is the first merged seq (the event covers fromSeq..seq).
 */
export type RoomEvent = RoomEventBody & { seq: number; fromSeq?: number; ts: number };
export const RoomEventSchema = z.intersection(
  RoomEventBodySchema,
  z.object({ seq: z.number().int().positive(), fromSeq: z.number().int().positive().optional(), ts: z.number() }),
) as unknown as z.ZodType<RoomEvent>;

// ───────────────────────────── client → room ─────────────────────────────

/**
 * A replay's position as its leader plays it (shared/replay.ts): `seq` shown, `pos` on the
 * replay's compressed clock (ms), playing or paused, and the speed.
 */
export const ReplayStateSchema = z.object({
  seq: z.number().int().nonnegative(),
  pos: z.number().nonnegative().max(1e12),
  playing: z.boolean(),
  speed: z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(16), z.literal("jump")]),
});
export type ReplayState = z.infer<typeof ReplayStateSchema>;


/** Every client frame may carry `ref`, echoed in the `ack` or `error` that answers it. */
const ref = z.string().max(128).optional();

export const ClientFrameSchema = z.discriminatedUnion("type", [
  /** Queue a prompt. `id` is the client's idempotency key: resending it changes nothing. */
  z.object({ type: z.literal("prompt"), ref, id: z.string().min(1).max(128), text: z.string().min(1), mode: ModeSchema.optional() }),
  z.object({ type: z.literal("queue.cancel"), ref, id: z.string().min(1).max(128) }),
  z.object({ type: z.literal("stop"), ref }),
  z.object({ type: z.literal("mode.set"), ref, mode: ModeSchema }),
  /** A viewer asks the owners to raise their connection to `role` ("Ask to drive" / "Ask to approve"). */
  z.object({ type: z.literal("join.ask"), ref, role: z.enum(["driver", "approver"]) }),
  /** Owner only: accept or decline a `join.ask` (by the id `join.requests` lists). */
  z.object({ type: z.literal("join.answer"), ref, requestId: z.string().min(1).max(64), accept: z.boolean() }),
  /** Owner only: stop hiding what one redaction rule finds (by its name, e.g. "GitHub token") in this session. */
  z.object({ type: z.literal("redact.allow"), ref, rule: z.string().min(1).max(100) }),
  z.object({
    type: z.literal("permission.reply"),
    ref,
    requestID: z.string().min(1).max(128),
    reply: PermissionReplySchema,
    message: z.string().max(10_000).optional(),
  }),
  z.object({
    type: z.literal("question.reply"),
    ref,
    requestID: z.string().min(1).max(128),
    /** null rejects (dismisses) the question. */
    answers: QuestionAnswersSchema.nullable(),
  }),
  /** Ask for a page of messages older than `before` (a message id), newest first page. */
  z.object({ type: z.literal("history"), ref, before: z.string().max(128).optional(), limit: z.number().int().min(1).max(200).optional() }),
  /** Ask for a fresh snapshot (after a gap in seq). */
  z.object({ type: z.literal("resync"), ref }),
  /** `where`: typing a prompt (the default) or a chat message, shown apart. */
  z.object({ type: z.literal("typing"), ref, typing: z.boolean(), where: z.enum(["prompt", "chat"]).optional() }),
  /** Say something to the people in the room. `id` is the idempotency key. */
  z.object({
    type: z.literal("chat"),
    ref,
    id: z.string().min(1).max(128),
    text: z.string().min(1),
    partID: z.string().min(1).max(128).optional(),
    replyTo: z.string().min(1).max(128).optional(),
  }),
  z.object({ type: z.literal("chat.edit"), ref, id: z.string().min(1).max(128), text: z.string().min(1) }),
  z.object({ type: z.literal("chat.delete"), ref, id: z.string().min(1).max(128) }),
  /** Queue a chat message as a prompt ("Ask the agent"); `promptId` is the prompt's idempotency key. */
  z.object({ type: z.literal("chat.ask"), ref, id: z.string().min(1).max(128), promptId: z.string().min(1).max(128) }),
  /** A page of chat messages older than seq `before`, newest last. */
  z.object({ type: z.literal("chat.history"), ref, before: z.number().int().positive().optional(), limit: z.number().int().min(1).max(200).optional() }),
  /** Replay (party/room/replay-lead.ts): events after seq `after`, one per seq, for a replay to fold. */
  z.object({ type: z.literal("replay.log"), ref, after: z.number().int().nonnegative(), limit: z.number().int().min(1).max(5_000).optional() }),
  /** Lead a watch-together replay (owner or driver): everyone following goes where the leader goes. */
  z.object({ type: z.literal("replay.lead"), ref, state: ReplayStateSchema }),
  z.object({ type: z.literal("replay.unlead"), ref }),
  /** Watching a replay, following its leader or not (shown in presence); answered with the lead. */
  z.object({ type: z.literal("replay.follow"), ref, following: z.boolean() }),
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;
export type ClientFrameType = ClientFrame["type"];

/** Client frame types a viewer may send: reading only. */
export const VIEWER_FRAME_TYPES: readonly ClientFrameType[] = ["history", "resync", "typing", "chat.history", "replay.log", "replay.follow"];

/** Replay frames: read-only, so allowed on archived sessions; leading needs an owner or driver. */
export const REPLAY_FRAME_TYPES = ["replay.log", "replay.lead", "replay.unlead", "replay.follow"] as const satisfies readonly ClientFrameType[];
export type ReplayFrame = Extract<ClientFrame, { type: (typeof REPLAY_FRAME_TYPES)[number] }>;
export const isReplayFrame = (f: ClientFrame): f is ReplayFrame => (REPLAY_FRAME_TYPES as readonly string[]).includes(f.type);

/** Client frame types an approver may send: a viewer's, and answers to the agent's requests. */
export const APPROVER_FRAME_TYPES: readonly ClientFrameType[] = [...VIEWER_FRAME_TYPES, "permission.reply", "question.reply"];

/** Asking to join (party/room/join-ask.ts): who may send them is decided there. */
export const JOIN_FRAME_TYPES = ["join.ask", "join.answer"] as const satisfies readonly ClientFrameType[];
export type JoinFrame = Extract<ClientFrame, { type: (typeof JOIN_FRAME_TYPES)[number] }>;
export const isJoinFrame = (f: ClientFrame): f is JoinFrame => (JOIN_FRAME_TYPES as readonly string[]).includes(f.type);

/** A viewer's pending `join.ask`, as owners see it. Times are the room's epoch ms. */
export const JoinRequestSchema = z.object({ id: z.string(), name: z.string(), role: z.enum(["driver", "approver"]), at: z.number(), expiresAt: z.number() });
export type JoinRequest = z.infer<typeof JoinRequestSchema>;

/** Chat frames: who may send them is decided by shared/chat.ts `mayChat`, not by the driving roles. */
export const CHAT_FRAME_TYPES = ["chat", "chat.edit", "chat.delete", "chat.ask"] as const satisfies readonly ClientFrameType[];
export type ChatFrame = Extract<ClientFrame, { type: (typeof CHAT_FRAME_TYPES)[number] }>;
export const isChatFrame = (f: ClientFrame): f is ChatFrame => (CHAT_FRAME_TYPES as readonly string[]).includes(f.type);

// ───────────────────────────── agent (runner) → room ─────────────────────────────

export const AgentFrameSchema = z.discriminatedUnion("type", [
  /**
   * Durable events, applied in one transaction and acknowledged with `agent.ack`. `batchId` is
   * unique per runner connection lifetime and is how the room drops a resent batch; each event's
   * `eid` (the upstream OpenCode event id or a runner-made key) is kept for the same purpose.
   */
  z.object({
    type: z.literal("agent.batch"),
    batchId: z.string().min(1).max(128),
    events: z
      .array(z.object({ eid: z.string().max(256).optional(), body: EventBodySchema }))
      .min(1)
      .max(5_000),
  }),
  /** The runner started a dispatched prompt (OpenCode accepted it); the room dequeues it. */
  z.object({ type: z.literal("agent.prompt.started"), queueId: z.string(), messageID: z.string().optional() }),
  /** The runner could not start a dispatched prompt; the room dequeues it as failed. */
  z.object({ type: z.literal("agent.prompt.failed"), queueId: z.string(), error: z.string() }),
  /** Permission / question requests OpenCode closed (answered elsewhere or timed out). */
  z.object({ type: z.literal("agent.request.closed"), requestID: z.string() }),
  /** Lease renewal; also carries what the runner knows of itself. */
  z.object({ type: z.literal("agent.heartbeat"), runnerId: z.string().max(128) }),
]);
export type AgentFrame = z.infer<typeof AgentFrameSchema>;

// ───────────────────────────── room → clients ─────────────────────────────

export const PresenceUserSchema = z.object({
  /** The connection id: stable for one tab's lifetime, not an identity. */
  id: z.string(),
  name: z.string(),
  role: RoleSchema,
  typing: z.boolean().optional(),
  /** Typing a chat message (kept apart from typing a prompt). */
  chatTyping: z.boolean().optional(),
  /** On a replay page (shared/replay.ts): leading it, following the leader, or watching alone. */
  replay: z.enum(["leading", "following", "watching"]).optional(),
  /** In `welcome.you` only: the link you came in with (your chat messages carry it) and whether you may chat. */
  linkId: z.string().optional(),
  canChat: z.boolean().optional(),
});
export type PresenceUser = z.infer<typeof PresenceUserSchema>;

/** The state a newcomer needs: the latest page of messages and everything current. */
export const SnapshotSchema = z.object({
  seq: z.number().int().nonnegative(),
  session: SessionMetaSchema,
  messages: z.array(MessageWithPartsSchema),
  /** True when there are messages older than the first one in `messages`. */
  hasMore: z.boolean(),
  queue: z.array(QueueItemSchema),
  permissions: z.array(PermissionRequestSchema),
  questions: z.array(QuestionRequestSchema),
  todos: z.array(TodoSchema),
  diff: z.array(FileDiffSchema),
  /** The latest chat messages, oldest first; `chatHasMore` when older ones exist (`chat.history`). */
  chat: z.array(ChatMessageSchema).optional(),
  chatHasMore: z.boolean().optional(),
  /**
   * What the runner last reported (idle/busy/retry), which `session.agentStatus` hides while it
   * says `waiting`: a client needs it to show the right status once the request is answered.
   * Older rooms sent none; clients then assume `busy`.
   */
  rawStatus: z.enum(["idle", "busy", "retry"]).optional(),
});
export type Snapshot = z.infer<typeof SnapshotSchema>;

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

export const ErrorCodeSchema = z.enum([
  "bad_json", // not JSON, or a binary frame
  "bad_frame", // JSON that matches no frame schema
  "frame_too_large",
  "prompt_too_large",
  "rate_limited",
  "forbidden", // the sender's role may not send this frame
  "archived", // the session is archived: read-only
  "not_found", // the queue item / request does not exist (or no longer)
  "already_answered", // a permission or question was answered first by someone else
  "queue_full",
  "duplicate", // an idempotent command seen before; nothing changed (sent with the original result)
  "agent_offline", // stop with no runner connected
  "lease_held", // another runner holds the session
  "room_full",
  "chat_too_large", // chat text over maxChatChars (shared/limits.ts)
  "internal", // a bug: the room caught it and changed nothing
]);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

export const ServerFrameSchema = z.discriminatedUnion("type", [
  /** First frame on every connection: who you are and how the room will catch you up. */
  z.object({
    type: z.literal("welcome"),
    protocol: z.number(),
    you: PresenceUserSchema,
    /** `replay`: events after your cursor follow. `snapshot`: a snapshot follows. */
    catchup: z.enum(["replay", "snapshot"]),
    seq: z.number().int().nonnegative(),
  }),
  z.object({ type: z.literal("snapshot"), snapshot: SnapshotSchema }),
  /**
   * Durable events covering `from..to` (inclusive) with no gap: a client whose lastSeq + 1 < from
   * has missed something and must resync. Replays are split into several such frames.
   */
  z.object({
    type: z.literal("events"),
    from: z.number().int().positive(),
    to: z.number().int().positive(),
    events: z.array(RoomEventSchema),
    /** True on frames that are part of a catch-up replay rather than live. */
    replay: z.boolean().optional(),
  }),
  /** Marks the end of catch-up; the client is now live. */
  z.object({ type: z.literal("caught-up"), seq: z.number().int().nonnegative() }),
  z.object({
    type: z.literal("history"),
    ref,
    messages: z.array(MessageWithPartsSchema),
    hasMore: z.boolean(),
  }),
  /**
   * `users` lists at most 50 people (typists and those who can act first); `total` counts every
   * connection, agent included. Older rooms sent no `total`: then it is `users.length`.
   */
  z.object({ type: z.literal("presence"), users: z.array(PresenceUserSchema), total: z.number().int().nonnegative().optional() }),
  z.object({ type: z.literal("chat.history"), ref, messages: z.array(ChatMessageSchema), hasMore: z.boolean() }),
  /** `duplicate`: an idempotent command (a prompt id) seen before; nothing changed. */
  z.object({ type: z.literal("ack"), ref: z.string().optional(), command: z.string(), duplicate: z.boolean().optional() }),
  z.object({ type: z.literal("error"), code: ErrorCodeSchema, message: z.string(), ref: z.string().optional() }),
  /**
   * Answers `replay.log`: the events in (after, to], one per seq (deltas not merged). `start` is
   * the first seq the room still keeps (events before it were compacted: the run can be replayed
   * only from the origin, so `start > 1` means it cannot be replayed whole); `seq` is the room's
   * last. `origin` (when after is 0): the session as created, the state before seq 1.
   */
  z.object({
    type: z.literal("replay.log"),
    ref,
    after: z.number().int().nonnegative(),
    to: z.number().int().nonnegative(),
    start: z.number().int().positive(),
    seq: z.number().int().nonnegative(),
    origin: SessionMetaSchema.optional(),
    events: z.array(RoomEventSchema),
  }),
  /**
   * Who leads the replay and where it is, to everyone on a replay page: after every change the
   * leader makes, and in answer to `replay.follow`. `leader: null`: nobody leads (any more).
   */
  z.object({
    type: z.literal("replay.lead"),
    leader: z.object({ id: z.string(), name: z.string() }).nullable(),
    state: ReplayStateSchema.optional(),
  }),
  /** To owners only, on connecting and whenever it changes: the viewers asking to join, oldest first. */
  z.object({ type: z.literal("join.requests"), requests: z.array(JoinRequestSchema) }),
  /**
   * To the viewer who asked: `accepted` (this connection now has `role`, through link record
   * `linkId`, until it closes or the link is revoked), `declined` (ask again in a minute at the
   * earliest), or `expired` (no owner answered within two minutes).
   */
  z.object({
    type: z.literal("join.result"),
    requestId: z.string(),
    outcome: z.enum(["accepted", "declined", "expired"]),
    role: z.enum(["driver", "approver"]).optional(),
    linkId: z.string().optional(),
  }),
  /** To owners only, whenever a link is minted or revoked: the session's link records. */
  z.object({ type: z.literal("links"), links: z.array(LinkRecordSchema) }),
]);
export type ServerFrame = z.infer<typeof ServerFrameSchema>;

/** Frames the room sends only to the agent connection. */
export const RoomToAgentFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("agent.ack"), batchId: z.string(), seq: z.number().int().nonnegative(), duplicate: z.boolean().optional() }),
  /**
   * The room granted this connection the session's lease; `session` tells it what it serves, and
   * `openRequests` which permission and question requests the room still shows as open, so a
   * runner that starts afresh can close those its OpenCode no longer has.
   */
  z.object({
    type: z.literal("agent.lease"),
    granted: z.boolean(),
    session: SessionMetaSchema,
    leaseMs: z.number(),
    openRequests: z.array(z.string()).optional(),
  }),
  /** Run this prompt now (the agent is idle and it is the queue's head). */
  z.object({ type: z.literal("agent.prompt"), item: QueueItemSchema }),
  z.object({ type: z.literal("agent.stop"), by: z.string() }),
  z.object({ type: z.literal("agent.mode"), mode: ModeSchema }),
  /** Redaction rules the owner let through for this session (all of them so far). */
  z.object({ type: z.literal("agent.redact.allow"), rules: z.array(z.string()) }),
  z.object({
    type: z.literal("agent.permission.reply"),
    requestID: z.string(),
    reply: PermissionReplySchema,
    message: z.string().optional(),
  }),
  z.object({ type: z.literal("agent.question.reply"), requestID: z.string(), answers: QuestionAnswersSchema.nullable() }),
]);
export type RoomToAgentFrame = z.infer<typeof RoomToAgentFrameSchema>;

// ───────────────────────────── the lobby (session index) ─────────────────────────────

/** Frames the lobby sends to the session list and to runners; a full list, then changes. */
export const LobbyFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("sessions"), sessions: z.array(SessionSummarySchema), nextCursor: z.string().optional() }),
  z.object({ type: z.literal("session.changed"), session: SessionSummarySchema }),
  z.object({ type: z.literal("session.deleted"), id: z.string() }),
]);
export type LobbyFrame = z.infer<typeof LobbyFrameSchema>;

/**
 * Frames runners send the lobby (people's list connections send none): how many sessions the
 * runner holds and may hold, on connect and on every change. From these the lobby knows when every
 * runner is full, and marks the sessions nobody can take `pending`.
 */
export const LobbyClientFrameSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("runner.capacity"),
    held: z.number().int().min(0).max(100_000),
    max: z.number().int().min(0).max(100_000),
    /** The agents this runner offers (older runners send none: OpenCode through the SDK). */
    agents: z.array(AgentInfoSchema).max(50).optional(),
  }),
]);
export type LobbyClientFrame = z.infer<typeof LobbyClientFrameSchema>;

// ───────────────────────────── HTTP API bodies ─────────────────────────────

/**
 * Pages allowed to embed a session (`frame-ancestors`): http(s) origins only; a path is dropped
 * (`https://a.example/x` means `https://a.example`). One page's origin each: a wildcard
 * (`https://*.example.com`) is refused like any other non-origin, since it would let every
 * subdomain frame the session, whoever runs it (list each subdomain instead).
 */
export const EmbedOriginsSchema = z
  .array(
    z
      .string()
      .max(500)
      .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), "an http(s) origin such as https://docs.example.com")
      .refine((s) => !URL.canParse(s) || /^([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(new URL(s).hostname), "one origin, no wildcard: list each page's origin, such as https://docs.example.com"),
  )
  .max(50);

/** `PUT /api/sessions/:id/origins` (owner only). */
export const OriginsBodySchema = z.object({ origins: EmbedOriginsSchema });

/**
 * A git repository to clone a session's workspace from: `https://`, `http://`, `ssh://`,
 * `git://`, `file://` or scp-like `user@host:path`. Anything else (git's `ext::` transport, an
 * option-like `-u…`, a bare path) is refused here; the runner checks again and refuses a
 * `file://` URL outside its workspace roots. A password in the URL is refused too: the URL is
 * session metadata every viewer sees, so credentials belong in the runner's git configuration.
 */
export const RepositoryUrlSchema = z
  .string()
  .max(2048)
  .refine(isRepositoryUrl, "a git URL such as https://github.com/owner/repo.git or git@github.com:owner/repo.git")
  .refine((s) => !URL.canParse(s) || new URL(s).password === "", "no password in the URL: every viewer sees it; give the runner git credentials instead");

/** scp-like `user@host:path` (git's short ssh form); `user@` is required so `C:dir` is not one. */
const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)\S+$/;

/** Whether `s` names a git remote by a transport the runner allows (see RepositoryUrlSchema). */
export function isRepositoryUrl(s: string): boolean {
  if (/[\s\0]/.test(s) || s.startsWith("-")) return false;
  if (SCP_LIKE.test(s)) return true;
  if (!URL.canParse(s)) return false;
  const u = new URL(s);
  if (u.protocol === "file:") return u.pathname.length > 1;
  return /^(https?|ssh|git):$/.test(u.protocol) && u.hostname !== "";
}

export const CreateSessionBodySchema = z
  .object({
    title: z.string().max(500).optional(),
    /** A directory inside the runner's workspace root; omitted means a fresh git repository. */
    directory: z.string().max(4096).optional(),
    /** A git URL the runner clones into a fresh workspace (instead of `directory`). */
    repository: RepositoryUrlSchema.optional(),
    mode: ModeSchema.optional(),
    allowedOrigins: EmbedOriginsSchema.optional(),
    /** Display name of the creator (shown in presence). */
    name: z.string().max(100).optional(),
    /** Which agent runs it (`GET /api/agents`); default DEFAULT_AGENT. */
    agent: AgentIdSchema.optional(),
  })
  .refine((b) => !(b.directory?.trim() && b.repository), { message: "give a directory or a repository, not both", path: ["repository"] });
export type CreateSessionBody = z.infer<typeof CreateSessionBodySchema>;

/** `GET /api/agents`: the agents online runners offer, with how many runners offer each. */
export const AgentsResultSchema = z.object({ agents: z.array(AgentInfoSchema.extend({ runners: z.number().int().nonnegative() })) });
export type AgentsResult = z.infer<typeof AgentsResultSchema>;

export const CreateSessionResultSchema = z.object({
  id: z.string(),
  ownerToken: z.string(),
  /** Path of the session view with the owner token in its fragment. */
  url: z.string(),
});

export const ShareBodySchema = z.object({
  /** `approver`: sees what a viewer sees and answers permission requests and questions; cannot prompt, stop, switch mode or share. */
  role: z.enum(["viewer", "driver", "approver"]),
  name: z.string().max(100).optional(),
  /** Lifetime in seconds; default 7 days. */
  ttlSeconds: z.number().int().positive().max(365 * 24 * 3600).optional(),
  /**
   * Viewers with this link may post in the chat (and an embed shows the chat). Default false:
   * a viewer link reads the chat but cannot post. Drivers always may chat.
   */
  canChat: z.boolean().optional(),
});

export const ShareResultSchema = z.object({
  token: z.string(),
  url: z.string(),
  embedUrl: z.string(),
  role: z.enum(["viewer", "driver", "approver"]),
  canChat: z.boolean().optional(),
  /** The link record's id: `DELETE /api/sessions/:id/links/:linkId` revokes it. */
  linkId: z.string(),
});

/**
 * `GET /api/sessions/:id/links`, newest first. `accessSignIn`: whether this deployment verifies
 * Cloudflare Access sign-ins, so sharing with a person by email can work (absent from the room's
 * live `links` frame, which parses with this schema too).
 */
export const LinksResultSchema = z.object({ links: z.array(LinkRecordSchema), accessSignIn: z.boolean().optional() });

/** `DELETE /api/sessions/:id/links[/:linkId]`: the ids this call revoked (none if already revoked). */
export const RevokeResultSchema = z.object({ revoked: z.array(z.string()) });

/** `POST /api/sessions/:id/links/rotate`: a new owner link; the caller's owner link is revoked. */
export const RotateResultSchema = z.object({ token: z.string(), url: z.string(), linkId: z.string(), revoked: z.array(z.string()) });

/** `POST /api/sessions/:id/people` (Access sign-in): share with a named person by email. */
export const PeopleBodySchema = z.object({
  email: z.string().max(254).email(),
  role: z.enum(["viewer", "driver", "owner"]),
  ttlSeconds: z.number().int().positive().max(365 * 24 * 3600).optional(),
});

/** `POST /api/sessions/:id/ticket`: a single-use WebSocket ticket (`?ticket=`), good for 30 s. */
export const TicketResultSchema = z.object({ ticket: z.string(), expiresAt: z.number() });

/** Every HTTP error answers with this body. */
export const HttpErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** Parses a text frame; returns the frame or an error frame to send back. */
export function parseFrame<T>(
  schema: z.ZodType<T>,
  raw: string | ArrayBuffer,
): { ok: true; frame: T } | { ok: false; code: ErrorCode; message: string; ref?: string } {
  if (typeof raw !== "string") return { ok: false, code: "bad_json", message: "binary frames are not accepted" };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, code: "bad_json", message: "frame is not valid JSON" };
  }
  const r = schema.safeParse(json);
  if (r.success) return { ok: true, frame: r.data };
  const refValue =
    json && typeof json === "object" && typeof (json as { ref?: unknown }).ref === "string"
      ? ((json as { ref: string }).ref.slice(0, 128))
      : undefined;
  const first = r.error.issues[0];
  const where = first && first.path.length ? ` at ${first.path.join(".")}` : "";
  return { ok: false, code: "bad_frame", message: `invalid frame${where}: ${first?.message ?? "unknown"}`, ref: refValue };
}
