/**
 * Random logs of room events (fast-check arbitraries) for property tests that fold the same log
 * through two holders of session state and compare them.
 *
 * Ids come from small pools, so events collide on the same message, part, request and queue item
 * the way a real session's do (deltas racing their part, a reply to a closed request, a part
 * before its message, an edit of a deleted chat message). The log is then made one the room could commit: an asked request and an
 * added queue item get fresh ids (the room's commands never re-add either), a queue update names
 * an item still queued, and a part keeps one message. Bounded sizes keep the whole transcript
 * inside one snapshot page.
 */
import fc from "fast-check";
import type { Part } from "../../shared/parts.ts";
import type { RoomEventBody } from "../../shared/protocol.ts";

const MESSAGES = ["m1", "m2", "m3", "m4"];
const PARTS = ["p1", "p2", "p3", "p4", "p5", "p6"];
/** Each part belongs to one message for its whole life (the runner never moves a part). */
const messageOf = (part: string) => MESSAGES[PARTS.indexOf(part) % MESSAGES.length] as string;
const REQUESTS = ["r1", "r2", "r3", "r4", "r5"];
const CHATS = ["c1", "c2", "c3"];

const text = fc.string({ maxLength: 12 });
const small = fc.integer({ min: 1, max: 1_000 });
const by = fc.constantFrom("ann", "bob");

/** One event with pooled ids; `fresh` marks ids the post-pass replaces. */
const eventArb: fc.Arbitrary<RoomEventBody> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ id: fc.constantFrom(...MESSAGES), role: fc.constantFrom("user", "assistant"), created: small, completed: fc.option(small, { nil: undefined }) }).map(({ id, role, created, completed }): RoomEventBody => ({ type: "message.upsert", message: { id, role, time: completed === undefined ? { created } : { created, completed } } })) },
  { weight: 1, arbitrary: fc.constantFrom(...MESSAGES).map((messageID): RoomEventBody => ({ type: "message.remove", messageID })) },
  { weight: 4, arbitrary: fc.record({ id: fc.constantFrom(...PARTS), text, kind: fc.constantFrom("text", "reasoning") }).map(({ id, text, kind }): RoomEventBody => ({ type: "part.upsert", part: { id, messageID: messageOf(id), type: kind, text } as Part })) },
  { weight: 8, arbitrary: fc.record({ id: fc.constantFrom(...PARTS), delta: text }).map(({ id, delta }): RoomEventBody => ({ type: "part.delta", messageID: messageOf(id), partID: id, field: "text", delta })) },
  { weight: 1, arbitrary: fc.constantFrom(...PARTS).map((id): RoomEventBody => ({ type: "part.remove", messageID: messageOf(id), partID: id })) },
  { weight: 3, arbitrary: fc.record({ status: fc.constantFrom("idle", "busy", "retry"), message: fc.option(text, { nil: undefined }) }).map(({ status, message }): RoomEventBody => ({ type: "status", status, ...(message !== undefined ? { message } : {}) })) },
  { weight: 1, arbitrary: text.map((error): RoomEventBody => ({ type: "session.error", error })) },
  { weight: 1, arbitrary: fc.record({ title: fc.option(text, { nil: undefined }), model: fc.option(text, { nil: undefined }), demo: fc.option(fc.boolean(), { nil: undefined }), workspace: fc.option(text, { nil: undefined }), opencodeSessionId: fc.option(text, { nil: undefined }) }).map((info): RoomEventBody => ({ type: "session.info", ...dropUndefined(info) })) },
  { weight: 2, arbitrary: fc.constant<RoomEventBody>({ type: "permission.asked", request: { id: "fresh", permission: "bash", patterns: ["ls"], createdAt: 1 } }) },
  { weight: 2, arbitrary: fc.constant<RoomEventBody>({ type: "question.asked", request: { id: "fresh", questions: [{ question: "which?", options: [{ label: "A" }] }], createdAt: 1 } }) },
  { weight: 2, arbitrary: fc.record({ requestID: fc.constantFrom(...REQUESTS), reply: fc.constantFrom("once", "always", "reject"), by }).map((r): RoomEventBody => ({ type: "permission.replied", ...r })) },
  { weight: 2, arbitrary: fc.record({ requestID: fc.constantFrom(...REQUESTS), by }).map((r): RoomEventBody => ({ type: "question.replied", ...r, answers: [["A"]] })) },
  { weight: 2, arbitrary: fc.constantFrom(...REQUESTS).map((requestID): RoomEventBody => ({ type: "request.closed", requestID })) },
  { weight: 1, arbitrary: fc.array(fc.record({ content: text, status: fc.constantFrom("pending", "completed") }), { maxLength: 3 }).map((todos): RoomEventBody => ({ type: "todo.update", todos })) },
  { weight: 1, arbitrary: fc.array(fc.record({ file: text, additions: small }), { maxLength: 3 }).map((diff): RoomEventBody => ({ type: "diff.update", diff })) },
  { weight: 1, arbitrary: fc.record({ messageID: fc.constantFrom(...MESSAGES), turn: fc.constantFrom("u1", "u2"), created: small, input: small, output: small, cost: fc.constantFrom(0, 0.25, 1.5) }).map(({ input, output, ...r }): RoomEventBody => ({ type: "usage.update", ...r, tokens: { input, output, reasoning: 0, cache: { read: input, write: 0 } } })) },
  { weight: 2, arbitrary: fc.record({ text, by }).map(({ text, by }): RoomEventBody => ({ type: "queue.add", item: { id: "fresh", text, mode: "build", by, createdAt: 1, state: "queued" } })) },
  { weight: 2, arbitrary: fc.constantFrom("queued", "dispatched").map((state): RoomEventBody => ({ type: "queue.update", item: { id: "pick", text: "", mode: "build", by: "ann", createdAt: 1, state } })) },
  { weight: 2, arbitrary: fc.record({ id: fc.constantFrom("q1", "q2", "q3"), reason: fc.constantFrom("cancelled", "started", "failed") }).map((r): RoomEventBody => ({ type: "queue.remove", ...r })) },
  { weight: 1, arbitrary: fc.record({ mode: fc.constantFrom("build", "plan"), by }).map((r): RoomEventBody => ({ type: "mode.set", ...r })) },
  { weight: 1, arbitrary: by.map((b): RoomEventBody => ({ type: "stop.requested", by: b })) },
  { weight: 1, arbitrary: fc.boolean().map((online): RoomEventBody => ({ type: "agent.presence", online })) },
  { weight: 1, arbitrary: fc.boolean().map((archived): RoomEventBody => ({ type: "session.archived", archived })) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom("https://a.example", "https://b.example"), { maxLength: 2 }).map((origins): RoomEventBody => ({ type: "session.allowedOrigins", origins })) },
  { weight: 1, arbitrary: fc.record({ rule: fc.constantFrom("GitHub token", "AWS key"), by }).map(({ rule, by }): RoomEventBody => ({ type: "redact.allowed", rule, rules: [rule], by })) },
  { weight: 2, arbitrary: fc.record({ id: fc.constantFrom(...CHATS), text, name: by, at: small }).map(({ id, text, name, at }): RoomEventBody => ({ type: "chat.add", message: { id, at, text, author: { name, role: "driver", linkId: name } } })) },
  { weight: 1, arbitrary: fc.record({ id: fc.constantFrom(...CHATS), text }).map((r): RoomEventBody => ({ type: "chat.edit", ...r })) },
  { weight: 1, arbitrary: fc.record({ id: fc.constantFrom(...CHATS), by }).map((r): RoomEventBody => ({ type: "chat.delete", ...r })) },
  { weight: 1, arbitrary: fc.record({ id: fc.constantFrom(...CHATS), by }).map((r): RoomEventBody => ({ type: "chat.asked", ...r, queueId: "q1" })) },
);

function dropUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Makes a pooled log one the room could commit (see the file comment). */
function committable(log: readonly RoomEventBody[]): RoomEventBody[] {
  const out: RoomEventBody[] = [];
  const queued = new Map<string, RoomEventBody & { type: "queue.add" }>();
  let requests = 0;
  let items = 0;
  for (const ev of log) {
    if (ev.type === "permission.asked" || ev.type === "question.asked") {
      // r1..r5 as long as they last, so replies and closes find them; then ids nothing names.
      const id = REQUESTS[requests] ?? `r-extra-${requests}`;
      requests++;
      out.push({ ...ev, request: { ...ev.request, id } } as RoomEventBody);
    } else if (ev.type === "queue.add") {
      const id = `q${++items}`;
      const add = { ...ev, item: { ...ev.item, id } };
      queued.set(id, add);
      out.push(add);
    } else if (ev.type === "queue.update") {
      const target = [...queued.values()].at(-1);
      if (!target) continue;
      out.push({ type: "queue.update", item: { ...target.item, state: ev.item.state } });
    } else if (ev.type === "queue.remove") {
      queued.delete(ev.id);
      out.push(ev);
    } else out.push(ev);
  }
  return out;
}

/** A log of up to `maxLength` events the room could commit. */
export function eventLogArb(maxLength = 60): fc.Arbitrary<RoomEventBody[]> {
  return fc.array(eventArb, { maxLength }).map(committable);
}
