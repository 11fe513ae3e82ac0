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
 * Event kinds are defined in shared/events/ (one module per family; the unions below are derived
 * from them); what frames carry is in shared/session-schemas.ts and the HTTP API's bodies in
 * shared/http-api.ts, both re-exported here.
 */
import { z } from "zod";
import { MessageWithPartsSchema } from "./parts.ts";
import { ChatMessageSchema, LinkRecordSchema, ModeSchema, PermissionReplySchema, PermissionRequestSchema, QueueItemSchema, QuestionAnswersSchema, QuestionRequestSchema, RoleSchema, SessionMetaSchema, SessionSummarySchema, AgentInfoSchema } from "./session-schemas.ts";
import { AgentEventBodySchema, RoomOwnEventBodySchema, SLICE_SNAPSHOT_SHAPE, type AgentEventBody, type AnyEventBody } from "./events/registry.ts";

export * from "./session-schemas.ts";
export * from "./http-api.ts";
export type { SliceName, SliceValues } from "./events/registry.ts";

export const PROTOCOL_VERSION = 1;

// ───────────────────────────── durable room events ─────────────────────────────

/**
 * The payloads of durable events, derived from their definitions (shared/events/registry.ts).
 * `EventBody`: what the runner sends (inside `agent.batch`); the room assigns each a seq, commits
 * it with the state it changes, and fans it out. `RoomEventBody` adds the events only the room
 * itself emits (from people's commands or its own bookkeeping).
 */
export const EventBodySchema = AgentEventBodySchema;
export type EventBody = AgentEventBody;
export const RoomOwnEventSchema = RoomOwnEventBodySchema;
export const RoomEventBodySchema = z.union([EventBodySchema, RoomOwnEventSchema]);
export type RoomEventBody = AnyEventBody;

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
  /** Each slice of session state (shared/events/registry.ts) under its name: todos, diff, ... */
  ...SLICE_SNAPSHOT_SHAPE,
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
