/**
 * OpenCode events → room events. Pure: one OpenCode event in, the room events (and closed request
 * ids) out. Accepts the v2 shapes (`message.part.delta`, `permission.asked`) and the older ones the
 * root SDK export still types (`delta` inside `message.part.updated`, `permission.updated`,
 * `permission.v2.*`), and drops everything that is not about a session's transcript.
 */
import { EventBodySchema, type EventBody } from "../shared/protocol.ts";
import { MessageSchema, PartSchema, TodoSchema, FileDiffSchema, type Message, type Todo, type FileDiff } from "../shared/parts.ts";

export interface OpencodeEvent {
  id?: string;
  type: string;
  properties?: Record<string, unknown>;
}

/** A room event with the key the room dedupes on (omitted for deltas: batch ids cover them). */
export interface MappedEvent {
  eid?: string;
  body: EventBody;
}

export interface Mapped {
  sessionID?: string;
  events: MappedEvent[];
  /** Permission/question requests OpenCode closed (replied, rejected, timed out). */
  closed: string[];
  /** A title OpenCode set (or generated) for the session. */
  title?: string;
}

/** Events that carry nothing for a room. Listed so a new event type shows up in logs, not silently. */
export const NOISE = new Set([
  "server.connected",
  "server.heartbeat",
  "plugin.added",
  "sync",
  "catalog.updated",
  "integration.updated",
  "integration.connection.updated",
  "reference.updated",
  "models-dev.refreshed",
  "file.edited",
  "file.watcher.updated",
  "project.updated",
  "project.directories.updated",
  "installation.updated",
  "installation.update-available",
  "lsp.updated",
  "lsp.client.diagnostics",
  "vcs.branch.updated",
  "session.created",
  "session.deleted",
  "session.compacted",
  "command.executed",
  "mcp.tools.changed",
  "global.disposed",
  "server.instance.disposed",
]);

/** OpenCode names new sessions "New session - <ISO date>" until the title model answers. */
export const PLACEHOLDER_TITLE = /^(New session|Child session) - \d{4}-\d{2}-\d{2}T/;

type Props = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const obj = (v: unknown): Props | undefined => (v && typeof v === "object" && !Array.isArray(v) ? (v as Props) : undefined);

/** A human message for an OpenCode error object `{name, data: {message}}`. */
export function errorText(err: unknown): { error: string; name?: string } {
  const e = obj(err);
  if (!e) return { error: "unknown error" };
  const name = str(e.name);
  const data = obj(e.data);
  const message = str(data?.message) ?? str(e.message);
  if (name === "MessageAbortedError") return { error: message && message !== "Aborted" ? message : "Aborted", name };
  return { error: (message ?? name ?? "unknown error").slice(0, 4_000), name };
}

function valid(body: EventBody): EventBody | null {
  const r = EventBodySchema.safeParse(body);
  return r.success ? r.data : null;
}

/** What an assistant message has used so far, once it has used anything (OpenCode creates it at zero). */
function usageOf(m: Message): EventBody | null {
  const t = m.tokens;
  if (m.role !== "assistant" || !t) return null;
  const cost = m.cost ?? 0;
  const tokens = { input: t.input, output: t.output, reasoning: t.reasoning, cache: { read: t.cache.read, write: t.cache.write } };
  if (cost === 0 && tokens.input + tokens.output + tokens.reasoning + tokens.cache.read + tokens.cache.write === 0) return null;
  return { type: "usage.update", messageID: m.id, turn: str(m.parentID) ?? m.id, created: m.time.created, tokens, cost };
}

export function mapOpencodeEvent(ev: OpencodeEvent): Mapped {
  const p: Props = ev.properties ?? {};
  const sessionID = str(p.sessionID) ?? str(obj(p.info)?.sessionID) ?? str(obj(p.part)?.sessionID);
  const out: Mapped = { sessionID, events: [], closed: [] };
  if (NOISE.has(ev.type)) return out;
  const eid = ev.id ? `oc:${ev.id}` : undefined;
  /** `key` null: no eid (deltas; their batch id is enough and the room stores no eid per token). */
  const push = (body: EventBody, key: string | null = eid ?? null): void => {
    const v = valid(body);
    if (v) out.events.push(key ? { eid: key, body: v } : { body: v });
  };

  switch (ev.type) {
    case "message.updated": {
      const m = MessageSchema.safeParse(p.info);
      if (!m.success) break;
      push({ type: "message.upsert", message: m.data });
      const usage = usageOf(m.data);
      if (usage) push(usage, eid ? `${eid}:usage` : null);
      break;
    }
    case "message.removed": {
      const messageID = str(p.messageID);
      if (messageID) push({ type: "message.remove", messageID });
      break;
    }
    case "message.part.updated": {
      const part = PartSchema.safeParse(p.part);
      if (!part.success) break;
      // Old shape: the delta rode along with the full part; send only the delta, as the new shape does.
      const delta = str(p.delta);
      if (delta !== undefined && (part.data.type === "text" || part.data.type === "reasoning")) {
        push({ type: "part.delta", messageID: part.data.messageID, partID: part.data.id, field: "text", delta }, null);
      } else {
        push({ type: "part.upsert", part: part.data });
      }
      break;
    }
    case "message.part.delta": {
      const messageID = str(p.messageID);
      const partID = str(p.partID);
      const delta = str(p.delta);
      if (messageID && partID && delta !== undefined) {
        push({ type: "part.delta", messageID, partID, field: str(p.field) ?? "text", delta }, null);
      }
      break;
    }
    case "message.part.removed": {
      const messageID = str(p.messageID);
      const partID = str(p.partID);
      if (messageID && partID) push({ type: "part.remove", messageID, partID });
      break;
    }
    case "session.status": {
      const st = obj(p.status);
      const type = str(st?.type);
      if (type === "busy" || type === "idle") push({ type: "status", status: type });
      else if (type === "retry") {
        push({
          type: "status",
          status: "retry",
          message: str(st?.message),
          attempt: typeof st?.attempt === "number" ? st.attempt : undefined,
        });
      }
      break;
    }
    case "session.idle":
      push({ type: "status", status: "idle" });
      break;
    case "session.error": {
      if (!sessionID) break;
      const { error, name } = errorText(p.error);
      push({ type: "session.error", error, ...(name ? { name } : {}) });
      break;
    }
    case "permission.asked":
    case "permission.updated":
    case "permission.v2.asked": {
      const id = str(p.id);
      if (!id) break;
      const tool = obj(p.tool) ?? obj(obj(p.source));
      const permission = str(p.permission) ?? str(p.action) ?? str(p.type) ?? "permission";
      const patternsRaw = Array.isArray(p.patterns) ? p.patterns : Array.isArray(p.resources) ? p.resources : typeof p.pattern === "string" ? [p.pattern] : [];
      const patterns = patternsRaw.filter((x): x is string => typeof x === "string");
      const metadata = obj(p.metadata);
      const title = str(p.title) ?? (str(metadata?.command) ? `Run: ${str(metadata?.command)}` : `${permission}: ${patterns.join(", ")}`);
      // One request may arrive as both the v1 and the v2 event: key on the request id.
      push(
        {
          type: "permission.asked",
          request: {
            id,
            permission,
            title: title.slice(0, 500),
            patterns,
            ...(metadata ? { metadata } : {}),
            ...(str(tool?.messageID) ? { messageID: str(tool?.messageID) } : {}),
            ...(str(tool?.callID) ? { callID: str(tool?.callID) } : {}),
            ...(Array.isArray(p.always) ? { always: p.always } : {}),
            createdAt: Date.now(),
          },
        },
        `perm:${id}`,
      );
      break;
    }
    case "permission.replied":
    case "permission.v2.replied": {
      const id = str(p.requestID) ?? str(p.permissionID);
      if (id) out.closed.push(id);
      break;
    }
    case "question.asked":
    case "question.v2.asked": {
      const id = str(p.id);
      if (!id || !Array.isArray(p.questions)) break;
      const tool = obj(p.tool);
      push(
        {
          type: "question.asked",
          request: {
            id,
            questions: p.questions as never,
            ...(str(tool?.messageID) ? { messageID: str(tool?.messageID) } : {}),
            ...(str(tool?.callID) ? { callID: str(tool?.callID) } : {}),
            createdAt: Date.now(),
          },
        },
        `question:${id}`,
      );
      break;
    }
    case "question.replied":
    case "question.rejected":
    case "question.v2.replied":
    case "question.v2.rejected": {
      const id = str(p.requestID);
      if (id) out.closed.push(id);
      break;
    }
    case "todo.updated": {
      const todos = (Array.isArray(p.todos) ? p.todos : []).flatMap((t): Todo[] => {
        const r = TodoSchema.safeParse(t);
        return r.success ? [r.data] : [];
      });
      push({ type: "todo.update", todos });
      break;
    }
    case "session.diff": {
      // OpenCode's SnapshotFileDiff has an optional `file`; a diff without one cannot be shown.
      const diff = (Array.isArray(p.diff) ? p.diff : []).flatMap((d): FileDiff[] => {
        const r = FileDiffSchema.safeParse(d);
        return r.success ? [r.data] : [];
      });
      push({ type: "diff.update", diff });
      break;
    }
    case "session.updated": {
      const title = str(obj(p.info)?.title);
      if (title && !PLACEHOLDER_TITLE.test(title)) out.title = title.slice(0, 500);
      break;
    }
    default:
      break;
  }
  return out;
}
