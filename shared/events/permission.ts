/** The agent's permission requests and questions: asked by the runner, answered by people, closed by OpenCode. */
import { z } from "zod";
import { PermissionReplySchema, PermissionRequestSchema, QuestionAnswersSchema, QuestionRequestSchema, type PermissionRequest, type QuestionRequest } from "../session-schemas.ts";
import { defineEvent, defineFamily } from "./define.ts";
import { refreshStatus } from "./state.ts";

export const permissionAsked = defineEvent("agent", "permission.asked", { request: PermissionRequestSchema }, (s, ev, _seq, ts) => {
  const stored = s.askRequest("permission", ev.request, ts);
  refreshStatus(s);
  if (stored) return { ...ev, request: stored as PermissionRequest };
});

export const questionAsked = defineEvent("agent", "question.asked", { request: QuestionRequestSchema }, (s, ev, _seq, ts) => {
  const stored = s.askRequest("question", ev.request, ts);
  refreshStatus(s);
  if (stored) return { ...ev, request: stored as QuestionRequest };
});

export const permissionReplied = defineEvent(
  "room",
  "permission.replied",
  { requestID: z.string(), reply: PermissionReplySchema, message: z.string().optional(), by: z.string() },
  (s, ev) => {
    s.answerRequest(ev.requestID, { reply: ev.reply, message: ev.message });
    refreshStatus(s);
  },
);

export const questionReplied = defineEvent("room", "question.replied", { requestID: z.string(), answers: QuestionAnswersSchema.nullable(), by: z.string() }, (s, ev) => {
  s.answerRequest(ev.requestID, { answers: ev.answers });
  refreshStatus(s);
});

/** The runner closed a permission/question request nobody answered (timed out, answered in OpenCode). */
export const requestClosed = defineEvent("room", "request.closed", { requestID: z.string() }, (s, ev) => {
  s.closeRequest(ev.requestID);
  refreshStatus(s);
});

export const PERMISSIONS = defineFamily({ events: [permissionAsked, questionAsked, permissionReplied, questionReplied, requestClosed] });
