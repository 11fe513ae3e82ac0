/**
 * The snapshot frame a joiner (or a client's resync, or a relay) gets: the latest page of the
 * transcript and the room's current state, read from the stores and kept under the frame cap.
 * The live fan-out (room/live-fanout.ts) caches the result until the next commit.
 */
import type { Snapshot } from "../../shared/protocol.ts";
import type { MessageWithParts } from "../../shared/parts.ts";
import type { Limits } from "../../shared/limits.ts";
import type { RoomStores } from "./apply.ts";
import { CHAT_PAGE_CHARS } from "./commands.ts";
import { fitPage } from "./fit.ts";
import { SLICES, slicesOf } from "../../shared/events/registry.ts";

/** The snapshot frame, serialized. */
export function snapshotFrame(stores: RoomStores, limits: Limits): string {
  return fitPage(
    (limit) => stores.transcript.page(undefined, limit),
    (page) => JSON.stringify({ type: "snapshot", snapshot: { ...stateWithout(stores, limits, page.messages), hasMore: page.hasMore } satisfies Snapshot }),
    limits.snapshotMessages,
    limits.maxOutgoingFrameBytes,
  );
}

function stateWithout({ meta, queue, requests, chat }: RoomStores, limits: Limits, messages: MessageWithParts[]): Omit<Snapshot, "hasMore"> {
  const chatPage = chat.page(undefined, limits.chatSnapshotMessages, CHAT_PAGE_CHARS);
  return {
    seq: meta.seq(),
    session: meta.session(),
    messages,
    queue: queue.list(),
    permissions: requests.open("permission").map((r) => r.data) as Snapshot["permissions"],
    questions: requests.open("question").map((r) => r.data) as Snapshot["questions"],
    ...slicesOf(Object.fromEntries(SLICES.map((s) => [s.name, meta.get(s.name)]))),
    chat: chatPage.messages,
    chatHasMore: chatPage.hasMore,
    rawStatus: meta.get("rawStatus") ?? "idle",
  };
}
