/**
 * OpenCode-style message ids for prompts, derived from the room's queue item id.
 *
 * The room hands a prompt again when the runner that got it vanished before saying it started; the
 * runner must then not run it twice. OpenCode ids are `msg_` + 12 hex digits of time (so they sort
 * by creation) + 14 random characters. We put a hash of the queue id in those 14 characters: the
 * message OpenCode creates for the prompt carries it, and a rerun can be recognised from the
 * session's messages alone, even by a runner that just started.
 */
import { createHash } from "node:crypto";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
let lastTime = 0;
let counter = 0;

/** 14 base62 characters from the queue id. */
export function queueSuffix(queueId: string): string {
  const h = createHash("sha256").update("agentroom-queue:" + queueId).digest();
  let s = "";
  for (let i = 0; i < 14; i++) s += BASE62[h[i]! % 62];
  return s;
}

/** A message id that sorts after every id OpenCode made before now, tagged with the queue id. */
export function promptMessageId(queueId: string, now: number = Date.now()): string {
  if (now !== lastTime) {
    lastTime = now;
    counter = 0;
  }
  counter++;
  const t = (BigInt(now) * 0x1000n + BigInt(counter)) & 0xffffffffffffn;
  return "msg_" + t.toString(16).padStart(12, "0") + queueSuffix(queueId);
}

/** The queue item a message id was made for, among the ids given. */
export function queueIdOf(messageId: string, queueIds: Iterable<string>): string | undefined {
  for (const q of queueIds) if (messageId.endsWith(queueSuffix(q))) return q;
  return undefined;
}

export function isPromptFor(messageId: string, queueId: string): boolean {
  return messageId.startsWith("msg_") && messageId.endsWith(queueSuffix(queueId));
}
