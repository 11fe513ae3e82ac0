/**
 * The transcript's data: messages and their parts, shaped after OpenCode's v2 types so the runner
 * forwards them nearly as they come. Schemas are loose (`passthrough`) on purpose: OpenCode adds
 * fields between versions, and a field we do not know must survive the trip, not be stripped.
 * A part whose `type` we do not know is kept whole and rendered generically, never dropped.
 */
import { z } from "zod";

const id = z.string().min(1).max(128);
const num = z.number().finite();

/** Marks a field that the room stored in chunks and sent shortened. */
export const TruncationSchema = z.object({
  /** Dotted path of the shortened field, e.g. "state.output" or "text". */
  field: z.string(),
  /** Full length in characters (of the value's JSON when `json`). */
  fullChars: z.number().int().nonnegative(),
  /**
   * The value at `field` was an object or array too big to send (e.g. a 2 MB tool `metadata` of
   * many small strings): it arrives empty; the full part or message has it.
   */
  json: z.boolean().optional(),
});
export type Truncation = z.infer<typeof TruncationSchema>;

const partBase = {
  id,
  messageID: id,
  sessionID: z.string().max(128).optional(),
  /** Set by the room when a large field was shortened; fetch the full part over HTTP. */
  truncated: z.array(TruncationSchema).optional(),
};

const tokens = z
  .object({
    total: num.optional(),
    input: num,
    output: num,
    reasoning: num,
    cache: z.object({ read: num, write: num }).passthrough(),
  })
  .passthrough();

export const TextPartSchema = z
  .object({
    ...partBase,
    type: z.literal("text"),
    text: z.string(),
    synthetic: z.boolean().optional(),
    ignored: z.boolean().optional(),
    time: z.object({ start: num, end: num.optional() }).passthrough().optional(),
  })
  .passthrough();

export const ReasoningPartSchema = z
  .object({
    ...partBase,
    type: z.literal("reasoning"),
    text: z.string(),
    time: z.object({ start: num, end: num.optional() }).passthrough().optional(),
  })
  .passthrough();

const record = z.record(z.string(), z.unknown());

export const ToolStateSchema = z.discriminatedUnion("status", [
  z.object({ status: z.literal("pending"), input: record.default({}), raw: z.string().optional() }).passthrough(),
  z
    .object({
      status: z.literal("running"),
      input: record.default({}),
      title: z.string().optional(),
      metadata: record.optional(),
      time: z.object({ start: num }).passthrough(),
    })
    .passthrough(),
  z
    .object({
      status: z.literal("completed"),
      input: record.default({}),
      output: z.string(),
      title: z.string(),
      metadata: record.default({}),
      time: z.object({ start: num, end: num, compacted: num.optional() }).passthrough(),
    })
    .passthrough(),
  z
    .object({
      status: z.literal("error"),
      input: record.default({}),
      error: z.string(),
      metadata: record.optional(),
      time: z.object({ start: num, end: num }).passthrough(),
    })
    .passthrough(),
]);
export type ToolState = z.infer<typeof ToolStateSchema>;
export type ToolStatus = ToolState["status"];

export const ToolPartSchema = z
  .object({ ...partBase, type: z.literal("tool"), callID: z.string(), tool: z.string(), state: ToolStateSchema })
  .passthrough();

export const StepStartPartSchema = z
  .object({ ...partBase, type: z.literal("step-start"), snapshot: z.string().optional() })
  .passthrough();

export const StepFinishPartSchema = z
  .object({ ...partBase, type: z.literal("step-finish"), reason: z.string(), cost: num, tokens })
  .passthrough();

export const FilePartSchema = z
  .object({ ...partBase, type: z.literal("file"), mime: z.string(), filename: z.string().optional(), url: z.string() })
  .passthrough();

export const PatchPartSchema = z
  .object({ ...partBase, type: z.literal("patch"), hash: z.string(), files: z.array(z.string()) })
  .passthrough();

export const AgentPartSchema = z.object({ ...partBase, type: z.literal("agent"), name: z.string() }).passthrough();

export const SubtaskPartSchema = z
  .object({ ...partBase, type: z.literal("subtask"), prompt: z.string(), description: z.string(), agent: z.string() })
  .passthrough();

export const RetryPartSchema = z
  .object({
    ...partBase,
    type: z.literal("retry"),
    attempt: num,
    error: z.object({ name: z.string(), data: record }).passthrough(),
    time: z.object({ created: num }).passthrough(),
  })
  .passthrough();

export const CompactionPartSchema = z
  .object({ ...partBase, type: z.literal("compaction"), auto: z.boolean() })
  .passthrough();

export const SnapshotPartSchema = z
  .object({ ...partBase, type: z.literal("snapshot"), snapshot: z.string() })
  .passthrough();

/** Renderers for these types exist; anything else is an unknown part. */
export const KNOWN_PART_SCHEMAS = {
  text: TextPartSchema,
  reasoning: ReasoningPartSchema,
  tool: ToolPartSchema,
  "step-start": StepStartPartSchema,
  "step-finish": StepFinishPartSchema,
  file: FilePartSchema,
  patch: PatchPartSchema,
  agent: AgentPartSchema,
  subtask: SubtaskPartSchema,
  retry: RetryPartSchema,
  compaction: CompactionPartSchema,
  snapshot: SnapshotPartSchema,
} as const;
export type KnownPartType = keyof typeof KNOWN_PART_SCHEMAS;

/**
 * What travels and is stored: any object with an id, a message id and a type. Known types are
 * checked in full by `parseKnownPart` where a renderer needs their shape.
 */
export const PartSchema = z.object({ ...partBase, type: z.string().min(1).max(64) }).passthrough();
export type Part = z.infer<typeof PartSchema>;

export type TextPart = z.infer<typeof TextPartSchema>;
export type ReasoningPart = z.infer<typeof ReasoningPartSchema>;
export type ToolPart = z.infer<typeof ToolPartSchema>;
export type StepStartPart = z.infer<typeof StepStartPartSchema>;
export type StepFinishPart = z.infer<typeof StepFinishPartSchema>;
export type FilePart = z.infer<typeof FilePartSchema>;
export type PatchPart = z.infer<typeof PatchPartSchema>;
export type AgentPart = z.infer<typeof AgentPartSchema>;
export type SubtaskPart = z.infer<typeof SubtaskPartSchema>;
export type RetryPart = z.infer<typeof RetryPartSchema>;
export type CompactionPart = z.infer<typeof CompactionPartSchema>;

/** Any known part, by its type's schema. */
export type KnownPart = { [K in KnownPartType]: z.infer<(typeof KNOWN_PART_SCHEMAS)[K]> }[KnownPartType];

/** The part with its full shape checked, or null when the type is unknown or the shape is off. */
export function parseKnownPart(part: Part): KnownPart | null {
  const schema = (KNOWN_PART_SCHEMAS as Record<string, z.ZodType>)[part.type];
  if (!schema) return null;
  const r = schema.safeParse(part);
  return r.success ? (r.data as KnownPart) : null;
}

export const MessageErrorSchema = z.object({ name: z.string(), data: record.optional() }).passthrough();

export const MessageSchema = z
  .object({
    id,
    sessionID: z.string().max(128).optional(),
    role: z.enum(["user", "assistant"]),
    time: z.object({ created: num, completed: num.optional() }).passthrough(),
    error: MessageErrorSchema.optional(),
    agent: z.string().optional(),
    modelID: z.string().optional(),
    providerID: z.string().optional(),
    cost: num.optional(),
    tokens: tokens.optional(),
    finish: z.string().optional(),
    /** The room's queue item that produced this user message, when known. */
    queueId: z.string().max(128).optional(),
    /** Set by the room when a large field was shortened; fetch the full message over HTTP. */
    truncated: z.array(TruncationSchema).optional(),
  })
  .passthrough();
export type Message = z.infer<typeof MessageSchema>;

/** A message with its parts in order: the unit of snapshots and history pages. */
export const MessageWithPartsSchema = z.object({ info: MessageSchema, parts: z.array(PartSchema) });
export type MessageWithParts = z.infer<typeof MessageWithPartsSchema>;

export const TodoSchema = z
  .object({ id: z.string().optional(), content: z.string(), status: z.string(), priority: z.string().optional() })
  .passthrough();
export type Todo = z.infer<typeof TodoSchema>;

export const FileDiffSchema = z
  .object({
    file: z.string(),
    before: z.string().optional(),
    after: z.string().optional(),
    additions: num.optional(),
    deletions: num.optional(),
  })
  .passthrough();
export type FileDiff = z.infer<typeof FileDiffSchema>;
