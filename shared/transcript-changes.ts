/** The change record a `Transcript` (shared/transcript.ts) keeps for its consumers. */
import type { SliceName } from "./events/registry.ts";

/** What changed since the last `takeChanges()`. */
export interface TranscriptChanges {
  /** A snapshot replaced the state: re-read everything. */
  reset: boolean;
  /** `session` (meta: title, mode, status, archive, errors, ...) changed. */
  session: boolean;
  queue: boolean;
  permissions: boolean;
  questions: boolean;
  /** Slices of session state (shared/events/registry.ts) that changed, by name. */
  slices: Set<SliceName>;
  /** Ids of messages whose info was added, replaced or removed. */
  messages: Set<string>;
  /** Messages were inserted or removed (positions in `messages` moved). */
  messageList: boolean;
  /** messageID → ids of parts added, replaced (deltas included) or removed. */
  parts: Map<string, Set<string>>;
  /** Messages a history page put in front of the list. */
  prepended: number;
  /** A `stop.requested` event was applied (for instant "stopping…" feedback). */
  stop: boolean;
  /** The chat changed (shared/chat.ts; `Transcript.chat`). */
  chat: boolean;
  /** Seq range of the events applied in this batch; 0 when none. */
  fromSeq: number;
  toSeq: number;
}

/** How one event was taken. */
export type ApplyResult = "applied" | "skipped" | "gap";

/** How a batch of events (one `events` frame) was taken. */
export interface ApplyBatchResult {
  applied: number;
  skipped: number;
  /** True when the batch does not continue from `lastSeq`: nothing after the gap was applied. */
  gap: boolean;
}

export function emptyChanges(): TranscriptChanges {
  return {
    reset: false,
    session: false,
    queue: false,
    permissions: false,
    questions: false,
    slices: new Set(),
    messages: new Set(),
    messageList: false,
    parts: new Map(),
    prepended: 0,
    stop: false,
    chat: false,
    fromSeq: 0,
    toSeq: 0,
  };
}

