/**
 * Bodies and results of the HTTP API (party/routes/). shared/protocol.ts re-exports all of it.
 */
import { z } from "zod";
import { AgentIdSchema, AgentInfoSchema, LinkRecordSchema, ModeSchema } from "./session-schemas.ts";

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
