/** The Worker's HTTP API, typed by shared/protocol.ts and validated on the way in. */
import { z } from "zod";
import {
  AgentsResultSchema,
  CreateSessionResultSchema,
  HttpErrorSchema,
  SessionMetaSchema,
  SessionSummarySchema,
  ShareResultSchema,
  LinksResultSchema,
  LinkRecordSchema,
  RevokeResultSchema,
  RotateResultSchema,
  type CreateSessionBody,
} from "../../../shared/protocol.ts";
import { MessageWithPartsSchema, PartSchema, type Part } from "../../../shared/parts.ts";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call<T>(schema: z.ZodType<T>, token: string, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(path, {
    ...init,
    // No token: a person signed in with Cloudflare Access (the edge adds their assertion).
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.body ? { "content-type": "application/json" } : {}) },
  });
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const err = HttpErrorSchema.safeParse(body);
    if (err.success) throw new ApiError(res.status, err.data.error.code, err.data.error.message);
    throw new ApiError(res.status, "http", `${res.status} ${res.statusText}`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ApiError(res.status, "bad_response", `unexpected response from ${path}`);
  return parsed.data;
}

export const api = {
  listSessions: (token: string, opts: { archived?: boolean; cursor?: string; limit?: number } = {}) => {
    const q = new URLSearchParams();
    if (opts.archived !== undefined) q.set("archived", opts.archived ? "1" : "0");
    if (opts.cursor) q.set("cursor", opts.cursor);
    if (opts.limit) q.set("limit", String(opts.limit));
    return call(
      z.object({ sessions: z.array(SessionSummarySchema), nextCursor: z.string().optional() }).passthrough(),
      token,
      `/api/sessions?${q}`,
    );
  },
  /** The agents online runners offer (`GET /api/agents`). */
  agents: (token: string) => call(AgentsResultSchema, token, "/api/agents"),
  createSession: (token: string, body: CreateSessionBody) =>
    call(CreateSessionResultSchema, token, "/api/sessions", { method: "POST", body: JSON.stringify(body) }),
  getSession: (token: string, id: string) =>
    call(z.object({ session: SessionMetaSchema }).passthrough(), token, `/api/sessions/${encodeURIComponent(id)}`),
  history: (token: string, id: string, before?: string, limit?: number) => {
    const q = new URLSearchParams();
    if (before) q.set("before", before);
    if (limit) q.set("limit", String(limit));
    return call(
      z.object({ messages: z.array(MessageWithPartsSchema), hasMore: z.boolean() }).passthrough(),
      token,
      `/api/sessions/${encodeURIComponent(id)}/history?${q}`,
    );
  },
  part: async (token: string, id: string, partId: string): Promise<Part> => {
    const r = await call(z.union([z.object({ part: PartSchema }).passthrough(), PartSchema]), token, `/api/sessions/${encodeURIComponent(id)}/parts/${encodeURIComponent(partId)}`);
    return "part" in r && r.part && typeof r.part === "object" ? (r.part as Part) : (r as Part);
  },
  share: (token: string, id: string, role: "viewer" | "driver" | "approver", name?: string, canChat?: boolean) =>
    call(ShareResultSchema, token, `/api/sessions/${encodeURIComponent(id)}/share`, {
      method: "POST",
      body: JSON.stringify({ role, ...(name ? { name } : {}), ...(canChat ? { canChat } : {}) }),
    }),
  setOrigins: (token: string, id: string, origins: string[]) =>
    call(z.object({ session: SessionMetaSchema }).passthrough(), token, `/api/sessions/${encodeURIComponent(id)}/origins`, {
      method: "PUT",
      body: JSON.stringify({ origins }),
    }),
  links: (token: string, id: string) => call(LinksResultSchema, token, `/api/sessions/${encodeURIComponent(id)}/links`),
  revokeLink: (token: string, id: string, linkId: string) =>
    call(RevokeResultSchema, token, `/api/sessions/${encodeURIComponent(id)}/links/${encodeURIComponent(linkId)}`, { method: "DELETE" }),
  sharePerson: (token: string, id: string, email: string, role: "viewer" | "driver" | "owner") =>
    call(z.object({ link: LinkRecordSchema }), token, `/api/sessions/${encodeURIComponent(id)}/people`, {
      method: "POST",
      body: JSON.stringify({ email, role }),
    }),
  rotateOwnerLink: (token: string, id: string) =>
    call(RotateResultSchema, token, `/api/sessions/${encodeURIComponent(id)}/links/rotate`, { method: "POST" }),
  archive: (token: string, id: string, archived: boolean) =>
    call(z.unknown(), token, `/api/sessions/${encodeURIComponent(id)}/archive`, { method: "POST", body: JSON.stringify({ archived }) }),
};
