/**
 * Transcripts in a canonical, comparable form: "the viewer's transcript equals the agent's" is
 * `expect(normalize(a)).toEqual(normalize(b))`. shared/transcript.ts re-exports these.
 */
import type { MessageWithParts } from "./parts.ts";
import type { PermissionRequest, QueueItem, QuestionRequest, SessionMeta } from "./protocol.ts";
import { SLICES, type SliceValues } from "./events/registry.ts";
import type { MessageEntry, Transcript } from "./transcript.ts";

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A JSON value with object keys sorted and undefined fields dropped, so equal states compare equal. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v === undefined) continue;
      out[key] = canonical(v);
    }
    return out;
  }
  return value;
}

/** Each slice of session state (todos, diff, ...) is there under its name, canonical. */
export interface NormalizedTranscript extends SliceValues {
  session: Omit<SessionMeta, "updatedAt"> | null;
  messages: MessageWithParts[];
  queue: QueueItem[];
  permissions: PermissionRequest[];
  questions: QuestionRequest[];
  hasMore: boolean;
}

export interface NormalizeOptions {
  /**
   * Sort messages and parts by id instead of keeping the transcript's order. Useful against a
   * source that lists by id (OpenCode's `session.messages`); the transcript's own order is the
   * room's (first arrival), which for OpenCode's time-ordered ids is the same.
   */
  sortById?: boolean;
}

/** Messages with their parts, keys sorted: compare two transcripts' content. */
export function normalizeMessages(
  messages: readonly (MessageEntry | MessageWithParts)[],
  opts: NormalizeOptions = {},
): MessageWithParts[] {
  let list = messages.map((m) => ({ info: m.info, parts: m.parts.slice() }));
  if (opts.sortById) {
    for (const m of list) m.parts.sort((a, b) => cmp(a.id, b.id));
    list = list.sort((a, b) => cmp(a.info.id, b.info.id));
  }
  return list.map((m) => canonical(m) as MessageWithParts);
}

/**
 * The canonical comparable form of a transcript: deltas are already folded into parts, keys are
 * sorted, and the fields that legitimately differ between two faithful viewers are left out
 * (`updatedAt`, which the room stamps; `lastSeq`, `version` and connection details).
 * "The viewer's transcript equals the agent's" is `expect(normalize(a)).toEqual(normalize(b))`.
 */
export function normalizeTranscript(t: Transcript, opts: NormalizeOptions = {}): NormalizedTranscript {
  let session: NormalizedTranscript["session"] = null;
  if (t.session) {
    const { updatedAt: _ignored, ...rest } = t.session;
    void _ignored;
    session = canonical(rest) as NormalizedTranscript["session"];
  }
  return {
    session,
    messages: normalizeMessages(t.messages, opts),
    queue: canonical(t.queue) as QueueItem[],
    permissions: canonical(t.permissions) as PermissionRequest[],
    questions: canonical(t.questions) as QuestionRequest[],
    ...(Object.fromEntries(SLICES.map((s) => [s.name, canonical(t[s.name])])) as SliceValues),
    hasMore: t.hasMore,
  };
}

/** Alias used across the project's tests. */
export const normalize = normalizeTranscript;
