/**
 * A session as the JSON `opencode export` writes and `opencode import` reads (OpenCode 1.18):
 * `{info, messages: [{info, parts}]}`. The room's messages and parts are OpenCode's own, forwarded
 * by the runner (shared/parts.ts), so most of this is passing them through with the session's id
 * on each; what the room adds (`truncated`, `queueId`) is left out, and the fields OpenCode
 * requires of a message but an agent other than OpenCode (ACP) may not send get neutral values.
 */
import type { Message, Part } from "./parts.ts";
import { slugOf, type ExportRecord } from "./export-record.ts";

/** Part types OpenCode stores; any other (an agent's own) would make `opencode import` fail. */
const OPENCODE_PART_TYPES: ReadonlySet<string> = new Set([
  "text",
  "reasoning",
  "tool",
  "file",
  "step-start",
  "step-finish",
  "patch",
  "agent",
  "subtask",
  "retry",
  "compaction",
  "snapshot",
]);

export interface OpencodeSessionInfo {
  id: string;
  slug: string;
  projectID: string;
  directory: string;
  title: string;
  version: string;
  time: { created: number; updated: number };
}

export interface OpencodeExport {
  info: OpencodeSessionInfo;
  messages: { info: Record<string, unknown>; parts: Record<string, unknown>[] }[];
}

/** Written as the session's `version`: which tool made the file. */
export const EXPORT_VERSION = "agentroom";

/** The OpenCode session id: the one the runner used, or one made from the room's id. */
export function opencodeSessionIdOf(record: Pick<ExportRecord, "session">): string {
  return record.session.opencodeSessionId ?? `ses_agentroom_${record.session.id}`;
}

export function toOpencodeExport(record: ExportRecord): OpencodeExport {
  const s = record.session;
  const sessionID = opencodeSessionIdOf(record);
  const directory = s.workspace ?? s.directory ?? "/";
  const [providerID = "agentroom", modelID = s.agent ?? "agent"] = (s.model ?? "").split("/", 2).filter(Boolean);
  let lastUser: string | undefined;
  let updated = s.createdAt;
  const messages = record.messages.map((m) => {
    const info = withoutRoomFields(m.info) as Record<string, unknown> & Message;
    updated = Math.max(updated, m.info.time.completed ?? m.info.time.created);
    const defaults =
      m.info.role === "user"
        ? { agent: "build", model: { providerID, modelID } }
        : {
            parentID: lastUser ?? m.info.id,
            modelID,
            providerID,
            mode: "build",
            agent: "build",
            path: { cwd: directory, root: "/" },
            cost: 0,
            tokens: { input: 0, output: 0, reasoning: 0, cache: { read: 0, write: 0 } },
          };
    if (m.info.role === "user") lastUser = m.info.id;
    return {
      info: { ...defaults, ...info, sessionID },
      parts: m.parts.filter((p) => OPENCODE_PART_TYPES.has(p.type)).map((p) => ({ ...withoutRoomFields(p as Part), sessionID, messageID: m.info.id })),
    };
  });
  return {
    info: {
      id: sessionID,
      slug: slugOf(s.title) || s.id,
      projectID: "global",
      directory,
      title: s.title,
      version: EXPORT_VERSION,
      time: { created: s.createdAt, updated },
    },
    messages,
  };
}

function withoutRoomFields<T extends { truncated?: unknown }>(x: T): Omit<T, "truncated" | "queueId"> {
  const { truncated: _t, queueId: _q, ...rest } = x as T & { queueId?: unknown };
  return rest;
}

