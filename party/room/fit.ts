/**
 * Fits a page of messages into one frame under the platform's size cap: fewer messages first
 * (the client pages on, `hasMore` says so), then — when a single message is still too big, e.g.
 * dozens of large tool outputs — shorter previews of its large fields (full parts stay readable
 * over HTTP). Never drops a message it read: fewer messages means `hasMore` (the rest is a page
 * away). Sizes are UTF-8 bytes, what the socket sends. Used for snapshots and history pages.
 */
import type { MessageWithParts } from "../../shared/parts.ts";
import { shrinkParts } from "./transcript-store.ts";
import { utf8Bytes } from "../../shared/delta.ts";

export type Page = { messages: MessageWithParts[]; hasMore: boolean };

export function fitPage(
  readPage: (limit: number) => Page,
  build: (page: Page) => string,
  limit: number,
  maxBytes: number,
): string {
  let page = readPage(limit);
  let frame = build(page);
  while (utf8Bytes(frame) > maxBytes && limit > 1) {
    limit = Math.max(1, Math.floor(limit / 2));
    page = readPage(limit);
    frame = build(page);
  }
  for (let chars = 4096; utf8Bytes(frame) > maxBytes && chars >= 64; chars = Math.floor(chars / 4)) {
    frame = build({ messages: shrinkParts(page.messages, chars), hasMore: page.hasMore });
  }
  return frame;
}
