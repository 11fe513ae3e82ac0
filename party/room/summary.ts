/** A session's row in the index, derived from its metadata. */
import type { SessionMeta, SessionStatus, SessionSummary } from "../../shared/protocol.ts";

export function statusOf(s: SessionMeta): SessionStatus {
  if (s.archived) return "archived";
  if (!s.agentOnline) return "offline";
  if (s.agentStatus === "waiting") return "waiting";
  if (s.agentStatus === "busy" || s.agentStatus === "retry") return "busy";
  return "idle";
}

export function summaryOf(s: SessionMeta): SessionSummary {
  return {
    id: s.id,
    title: s.title,
    status: statusOf(s),
    ...(s.workspace !== undefined ? { workspace: s.workspace } : {}),
    ...(s.repository !== undefined ? { repository: s.repository } : {}),
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    archived: s.archived,
    ...(s.demo !== undefined ? { demo: s.demo } : {}),
    ...(s.chatCount ? { chatCount: s.chatCount } : {}),
    ...(s.agent !== undefined ? { agent: s.agent } : {}),
  };
}
