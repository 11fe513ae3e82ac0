import { describe, expect, it } from "vitest";
import { ChatThread, commentCounts, mayAsk, mayChat, mayDelete, mayEdit, mentions, reduceChat, scrubbed, unreadCount, type ChatActor } from "./chat.ts";
import { Transcript } from "./transcript.ts";
import type { ChatMessage, RoomEvent } from "./protocol.ts";
import { snapshotOf } from "./fixtures.ts";

const ana = { name: "Ana", role: "driver", linkId: "L-ana" } as const;
const add = (id: string, seq: number, text = id, extra: Partial<ChatMessage> = {}): RoomEvent =>
  ({ type: "chat.add", message: { id, at: seq, author: ana, text, ...extra }, seq, ts: seq }) as RoomEvent;

describe("reduceChat", () => {
  it("adds once, edits, deletes without the text, and ignores what comes after a delete", () => {
    const a = reduceChat(undefined, { type: "chat.add", message: { id: "x", at: 1, author: ana, text: "hi" } }, 5, 1)!;
    expect(a).toMatchObject({ id: "x", seq: 5, text: "hi" });
    expect(reduceChat(a, { type: "chat.add", message: { id: "x", at: 2, author: ana, text: "other" } }, 6, 2)).toBe(a);
    const e = reduceChat(a, { type: "chat.edit", id: "x", text: "hello" }, 7, 70)!;
    expect(e).toMatchObject({ text: "hello", editedAt: 70, seq: 5 });
    const d = reduceChat(e, { type: "chat.delete", id: "x", by: "Bo" }, 8, 80)!;
    expect(d).toMatchObject({ text: "", deleted: { by: "Bo", at: 80 } });
    expect(d.editedAt).toBeUndefined();
    expect(reduceChat(d, { type: "chat.edit", id: "x", text: "back" }, 9, 90)).toBeUndefined();
    expect(reduceChat(undefined, { type: "chat.edit", id: "x", text: "?" }, 9, 90)).toBeUndefined();
    expect(scrubbed({ type: "chat.add", message: { id: "x", at: 1, author: ana, text: "secret" } })).toMatchObject({ message: { text: "" } });
  });
});

describe("who may do what", () => {
  const actor = (role: ChatActor["role"], linkId: string, linkAllowsChat = false): ChatActor => ({ role, name: role, linkId, linkAllowsChat });
  const m = { id: "x", seq: 1, at: 1, author: ana, text: "hi" } satisfies ChatMessage;
  it("owners and drivers chat; viewers only with canChat; the agent never", () => {
    expect(mayChat(actor("owner", "o"))).toBe(true);
    expect(mayChat(actor("driver", "d"))).toBe(true);
    expect(mayChat(actor("viewer", "v"))).toBe(false);
    expect(mayChat(actor("viewer", "v", true))).toBe(true);
    expect(mayChat(actor("agent", "a", true))).toBe(false);
  });
  it("edit own only; delete own or as owner; ask as driver once", () => {
    expect(mayEdit(actor("driver", "L-ana"), m)).toBe(true);
    expect(mayEdit(actor("owner", "o"), m)).toBe(false);
    expect(mayDelete(actor("owner", "o"), m)).toBe(true);
    expect(mayDelete(actor("driver", "other"), m)).toBe(false);
    expect(mayAsk(actor("driver", "other"), m)).toBe(true);
    expect(mayAsk(actor("viewer", "v", true), m)).toBe(false);
    expect(mayAsk(actor("driver", "d"), { ...m, asked: { by: "x", queueId: "q" } })).toBe(false);
  });
});

describe("mentions", () => {
  it("finds @name as a word, case-insensitively, with spaces in names", () => {
    expect(mentions("hey @ana look", "Ana")).toBe(true);
    expect(mentions("@Ana Lee, stop it", "Ana Lee")).toBe(true);
    expect(mentions("mail ana@example.com", "example")).toBe(false);
    expect(mentions("@anabel", "Ana")).toBe(false);
    expect(mentions("no mention", "Ana")).toBe(false);
  });
});

describe("ChatThread in the Transcript", () => {
  it("loads from a snapshot, folds events, pages older chat, counts comments and unread", () => {
    const t = Transcript.fromSnapshot(snapshotOf(10, { chat: [{ id: "old", seq: 9, at: 9, author: ana, text: "old" }], chatHasMore: true }));
    expect(t.chat.messages.map((m) => m.id)).toEqual(["old"]);
    t.applyBatch(11, 13, [add("c1", 11, "on part", { partID: "p1" }), add("c2", 12), { type: "chat.delete", id: "c2", by: "Ana", seq: 13, ts: 13 } as RoomEvent]);
    expect(t.takeChanges()?.chat).toBe(true);
    expect(t.chat.messages.map((m) => [m.id, m.text])).toEqual([["old", "old"], ["c1", "on part"], ["c2", ""]]);
    expect(t.prependChat([{ id: "older", seq: 3, at: 3, author: ana, text: "first" }], false)).toBe(1);
    expect(t.chat.oldestSeq).toBe(3);
    expect(t.chat.hasMore).toBe(false);
    expect(commentCounts(t.chat.messages)).toEqual(new Map([["p1", 1]]));
    expect(unreadCount(t.chat.messages, 9, { linkId: "me" })).toBe(1);
    expect(unreadCount(t.chat.messages, 9, { linkId: "L-ana" })).toBe(0);
  });
});
